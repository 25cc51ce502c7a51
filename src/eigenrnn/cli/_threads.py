"""``--threads N``: the number of torch CPU threads a command computes with.

Every command that computes registers the option with :func:`add_threads_option`
and calls :func:`apply_threads` first thing in its ``run``; the default and why
are in :mod:`eigenrnn.threads`.
"""

from __future__ import annotations

import argparse

from eigenrnn.threads import DEFAULT_THREADS, max_threads, set_threads, threads_allowed


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= max_threads():
        # argparse prefixes "argument --threads: ", so the message names the flag once.
        raise argparse.ArgumentTypeError(f"got {text!r}; expected {threads_allowed()}")
    return value


def add_threads_option(parser: argparse.ArgumentParser, *, per: str = "") -> None:
    """Add ``--threads N`` (a positive int, default :data:`DEFAULT_THREADS`) to ``parser``.

    Args:
        parser: a sub-command's parser.
        per: what the count applies to, for the help text (e.g. ``" per worker"``).
    """
    parser.add_argument(
        "--threads", type=_threads, default=DEFAULT_THREADS, metavar="N",
        help=f"torch CPU threads{per} (default {DEFAULT_THREADS}; more rarely helps models this size, see docs/TRAINING.md)",
    )


def apply_threads(args: argparse.Namespace) -> int:
    """Apply the parsed ``--threads`` of a command; returns the count."""
    return set_threads(args.threads)
