"""Choices that are looked up only when used, so that building the parser imports no torch.

The names of schemes, cells and tasks live in modules that import torch (about
a second).  ``eigenrnn --help`` and the parser of every command must not pay
for that; argparse reads ``choices`` only to check a value or to format one
command's help, and by then the import is needed anyway.
"""

from __future__ import annotations

from typing import Callable, Iterable, Iterator


class LazyChoices:
    """A sequence of choices computed by ``load()`` on first use.

    Pass it with an explicit ``metavar`` (argparse would otherwise list the
    choices while registering the option) and name the choices in the help
    text with ``%(choices)s``.

    >>> choices = LazyChoices(lambda: ("rnn", "gru"))
    >>> "gru" in choices, list(choices)
    (True, ['rnn', 'gru'])
    """

    def __init__(self, load: Callable[[], Iterable[str]]) -> None:
        self._load = load
        self._values: tuple[str, ...] | None = None

    def _get(self) -> tuple[str, ...]:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    def __contains__(self, value: object) -> bool:
        return value in self._get()

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, index: int) -> str:
        return self._get()[index]
