"""`eigenrnn bench` (not implemented yet)."""

from __future__ import annotations

from eigenrnn.errors import EigenRNNError


def register(sub) -> None:
    parser = sub.add_parser("bench", help="(not implemented yet)")
    parser.set_defaults(func=run)


def run(args) -> int:
    raise EigenRNNError("'bench' is not implemented yet")
