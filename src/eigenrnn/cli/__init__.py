"""The ``eigenrnn`` command line: one sub-command per module in this package.

Each sub-command module exposes ``register(subparsers)``, which adds its parser
and sets ``func`` (a callable taking the parsed namespace and returning an exit
status).  Expected errors (:class:`eigenrnn.errors.EigenRNNError`, and the
ValueError/TypeError raised for bad arguments) are printed as one line on
stderr with exit status 2; so is an OSError that names a file (a user's path that cannot be
written or read).  Anything else is a bug in eigenrnn and keeps its traceback.
Set ``EIGENRNN_DEBUG=1`` to see the traceback of any error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from eigenrnn.errors import EigenRNNError

# Order is the order shown in --help.
COMMANDS = (
    "demo",
    "train",
    "translate",
    "analyze",
    "init_show",
    "study",
    "bench",
    "report",
    "pack",
    "select",
)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the text already states its default.

    Flags (no value), ``None`` defaults (resolved elsewhere, so the help text
    says what they mean) and required options get nothing appended.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text.lower() or action.nargs == 0 or action.default in (None, argparse.SUPPRESS)
                or action.required or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


class RawDescriptionHelpFormatter(HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """:class:`HelpFormatter` for a command whose description is laid out by hand."""


def build_parser() -> argparse.ArgumentParser:
    from eigenrnn import __version__

    parser = argparse.ArgumentParser(
        prog="eigenrnn",
        description="Eigen analysis and eigen-spectrum initialization of recurrent networks.",
    )
    parser.add_argument("--version", action="version", version=f"eigenrnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"eigenrnn.cli.{name}")
        module.register(sub)
    for command in sub.choices.values():  # one formatter for every command's --help
        raw = issubclass(command.formatter_class, argparse.RawDescriptionHelpFormatter)
        command.formatter_class = RawDescriptionHelpFormatter if raw else HelpFormatter
    parser.commands = sub.choices  # name -> command parser, for parse()
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse a command line; a command that lists its positionals with ``nargs="*"`` takes options anywhere.

    Plain ``parse_args`` stops filling ``translate RUN`` sentences at the first
    option, so ``translate RUN --beam 5 "Ein Mann."`` would be refused.  Such a
    command's parser carries ``intermixed = True`` and is parsed on its own with
    ``parse_intermixed_args`` (which cannot run through the subparsers action).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    command = parser.commands.get(argv[0]) if argv else None
    if getattr(command, "intermixed", False):
        return command.parse_intermixed_args(argv[1:], argparse.Namespace(command=argv[0]))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parse(parser, argv)
    try:
        status = args.func(args)
    except KeyboardInterrupt:
        print("eigenrnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; stop quietly like other CLI tools.
        sys.stderr.close()
        return 141
    except (EigenRNNError, ValueError, TypeError, FileNotFoundError) as exc:
        if os.environ.get("EIGENRNN_DEBUG"):
            raise
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"eigenrnn: error: {message}", file=sys.stderr)
        return 2
    except OSError as exc:
        # On a path the user named (it carries the file name): one line.  Others are bugs: traceback.
        if exc.filename is None or os.environ.get("EIGENRNN_DEBUG"):
            raise
        print(f"eigenrnn: error: {exc.filename}: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 2
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
