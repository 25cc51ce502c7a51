"""The number of torch CPU threads that eigenrnn computes with.

The default is :data:`DEFAULT_THREADS` (one thread), chosen by
``benchmarks/bench_threads.py`` (table in docs/TRAINING.md): the models this
project trains are small enough that torch's intra-op parallelism gains little
even on an idle machine, while on a busy one its spinning threads make train,
analyze and translate several times slower.  Float results are bit-identical
only at an equal thread count, so the bench workers use the same default.
"""

from __future__ import annotations

from eigenrnn.errors import check_int

DEFAULT_THREADS = 1


def set_threads(n: int) -> int:
    """Use ``n`` torch intra-op threads (and ``n`` inter-op threads where torch still allows it).

    Returns:
        ``n``.

    >>> set_threads(1)
    1
    """
    import torch

    check_int("threads", n)
    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:
        # torch allows it once, before any inter-op work; eager training hardly uses that pool.
        pass
    return n
