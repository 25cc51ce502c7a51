"""The number of torch CPU threads that eigenrnn computes with.

The default is :data:`DEFAULT_THREADS` (one thread), chosen by
``benchmarks/bench_threads.py`` (table in docs/TRAINING.md): the models this
project trains are small enough that torch's intra-op parallelism gains little
even on an idle machine, while on a busy one its spinning threads make train,
analyze and translate several times slower.  Float results are bit-identical
only at an equal thread count, so the bench workers use the same default.
"""

from __future__ import annotations

import os

from eigenrnn.errors import bad_value

DEFAULT_THREADS = 1


def max_threads() -> int:
    """The most threads :func:`set_threads` accepts: 4 per core, at least 64.

    Far more than that never helps, and at some tens of thousands OpenMP fails
    to create its threads and the process aborts or segfaults instead of
    raising.
    """
    return max(64, 4 * (os.cpu_count() or 1))


def threads_allowed() -> str:
    """The allowed range of a thread count, for error messages."""
    return f"an int from 1 to {max_threads()} (4 per core, at least 64)"


def set_threads(n: int) -> int:
    """Use ``n`` torch intra-op threads (and ``n`` inter-op threads where torch still allows it).

    Returns:
        ``n``.

    >>> set_threads(1)
    1
    """
    import torch

    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= max_threads():
        raise ValueError(bad_value("threads", n, threads_allowed()))
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:
        # torch allows it once, before any inter-op work; eager training hardly uses that pool.
        pass
    return n
