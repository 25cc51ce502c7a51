"""Progress that suits its stream: a tqdm bar on a terminal, plain lines in a log file.

tqdm redraws its bar with ``\\r``; written to a file or a pipe those redraws
pile up on one ever-growing line.  :class:`Progress` shows the tqdm bar only
when the stream is a terminal and otherwise writes one ordinary line per
update (at most one per ``min_interval`` seconds), formatted by tqdm itself
(:meth:`tqdm.tqdm.format_meter`: count, elapsed time, ETA and rate).
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Mapping

__all__ = ["Progress", "is_terminal"]

# No bar in a log line: count, percentage, elapsed < remaining, rate, postfix.
LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} ({percentage:3.0f}%) [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is an interactive terminal (False for files, pipes and closed streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    """A progress display over ``total`` units of work.

    Args:
        total: the number of units.
        desc: the label in front of the count.
        unit: the unit's name (``"run"``, ``"batch"``).
        initial: units already done (a resumed sweep); the rate counts only new ones.
        enabled: False shows nothing at all.
        file: the stream (default ``sys.stderr``).
        min_interval: in line mode, the least number of seconds between two lines
            (the last update always gets its line).

    Use it like a tqdm bar: :meth:`update`, :meth:`set_postfix`, :meth:`write`,
    :meth:`close` (or a ``with`` block).

    >>> import io
    >>> log = io.StringIO()
    >>> with Progress(2, desc="bench", unit="run", file=log) as p:
    ...     p.update()
    ...     p.update()
    >>> [line.split(" [")[0] for line in log.getvalue().splitlines()]
    ['bench: 1/2 ( 50%)', 'bench: 2/2 (100%)']
    """

    def __init__(
        self,
        total: int,
        *,
        desc: str,
        unit: str = "it",
        initial: int = 0,
        enabled: bool = True,
        file: IO[str] | None = None,
        min_interval: float = 0.0,
    ) -> None:
        from tqdm.auto import tqdm

        self.file = sys.stderr if file is None else file
        self.terminal = enabled and is_terminal(self.file)
        self.lines = enabled and not self.terminal
        self.total, self.desc, self.unit, self.initial, self.n = total, desc, unit, initial, initial
        self.min_interval = min_interval
        self.postfix = ""
        self._start = time.monotonic()
        self._last_line = -float("inf")
        self._tqdm = tqdm
        self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not self.terminal,
                        dynamic_ncols=True, file=self.file)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        self.n += n
        self.bar.update(n)
        if self.lines:
            now = time.monotonic()
            if now - self._last_line >= self.min_interval or self.n >= self.total:
                self._last_line = now
                self._line(now)

    def set_postfix(self, values: Mapping[str, Any]) -> None:
        """Show ``key=value`` pairs after the count (on the next line, in line mode)."""
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())
        if self.terminal:
            self.bar.set_postfix(values)

    def write(self, message: str) -> None:
        """Print a message without breaking the bar."""
        if self.terminal:
            self._tqdm.write(message, file=self.file)
        elif self.lines:
            print(message, file=self.file, flush=True)

    def close(self) -> None:
        self.bar.close()

    def _line(self, now: float) -> None:
        text = self._tqdm.format_meter(
            self.n, self.total, now - self._start, prefix=self.desc, unit=self.unit, initial=self.initial,
            postfix=self.postfix or None, bar_format=LINE_FORMAT,
        )
        print(text, file=self.file, flush=True)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
