"""Cost of eigen_ against torch.nn.init.orthogonal_ at the same size, side by side.

Target (issue 2): eigen_ at n = 1024 costs at most 1.5x orthogonal_.

    .venv/bin/python benchmarks/bench_init.py [--n 1024] [--repeats 15]

Both are timed interleaved in one process with the same thread count, and the
ratio of medians is printed, so machine noise affects both alike.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from eigenrnn.init import eigen_


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args()
    dtype = getattr(torch, args.dtype)
    w = torch.empty(args.n, args.n, dtype=dtype)
    g = torch.Generator().manual_seed(0)
    runs = {
        "torch.nn.init.orthogonal_": lambda: torch.nn.init.orthogonal_(w, generator=g),
        "eigenrnn.init.eigen_": lambda: eigen_(w, generator=g),
    }
    for fn in runs.values():  # warm-up
        fn()
    times = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            times[name].append(_time(fn))
    print(f"n={args.n} dtype={args.dtype} threads={torch.get_num_threads()} repeats={args.repeats}")
    for name, values in times.items():
        print(f"  {name:<28} median {statistics.median(values) * 1e3:8.1f} ms")
    ratio = statistics.median(times["eigenrnn.init.eigen_"]) / statistics.median(times["torch.nn.init.orthogonal_"])
    print(f"ratio eigen_/orthogonal_ = {ratio:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
