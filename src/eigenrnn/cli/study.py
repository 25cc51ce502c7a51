"""`eigenrnn study` (not implemented yet)."""

from __future__ import annotations

from eigenrnn.errors import EigenRNNError


def register(sub) -> None:
    parser = sub.add_parser("study", help="(not implemented yet)")
    parser.set_defaults(func=run)


def run(args) -> int:
    raise EigenRNNError("'study' is not implemented yet")
