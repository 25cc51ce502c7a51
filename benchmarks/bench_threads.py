"""Torch thread count for train, analyze and translate: 1 and 2 threads against torch's default.

Each cell of the table is the median wall time of ``--repeats`` fresh
interpreters (interleaved over thread settings, so a busy machine slows all
alike) running one workload at one hidden size:

* ``train``: :func:`eigenrnn.train.train` of a GRU-H on the adding task
  (length 100, batch 64, ``--steps`` steps, then validation and test on 256);
* ``analyze``: :func:`eigenrnn.analysis.overview.analyze` of a GRU-H driven by
  100 steps of Gaussian noise, batch 8 (what ``eigenrnn analyze`` computes);
* ``translate``: beam search (width 5) of 16 random 12-token sentences with a
  Luong GRU-H seq2seq over 4000 subwords (what ``eigenrnn translate`` computes).

"default" sets nothing, so torch uses its own count (the physical cores) and
``OMP_NUM_THREADS`` is removed from the child's environment.  Ratios are
default / 1 thread and 2 threads / 1 thread: above 1 means one thread is faster.

    .venv/bin/python benchmarks/bench_threads.py --sizes 16,64,256,512 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

WORKLOADS = ("train", "analyze", "translate")
SETTINGS = ("1", "2", "default")


def _train(hidden: int, steps: int) -> None:
    from eigenrnn.train import train

    with tempfile.TemporaryDirectory() as tmp:
        train({"task": "adding", "cell": "gru", "init": "eigen", "hidden": hidden, "epochs": 1, "batch_size": 64,
               "train_size": 64 * steps, "val_size": 256, "test_size": 256, "device": "cpu",
               "task_options": {"length": 100}, "out": f"{tmp}/run"}, progress=False)


def _analyze(hidden: int, steps: int) -> None:
    import torch

    from eigenrnn.analysis.overview import analyze

    gru = torch.nn.GRU(1, hidden)
    x = torch.randn(100, 8, 1, generator=torch.Generator().manual_seed(0))
    analyze(gru, {"": (x, "noise")}, title="bench", seed=0)


def _translate(hidden: int, steps: int) -> None:
    import torch

    from eigenrnn.models import Seq2Seq

    model = Seq2Seq(4000, pad_id=0, bos_id=1, eos_id=2, hidden=hidden, seed=0).eval()
    g = torch.Generator().manual_seed(0)
    src = torch.randint(3, 4000, (12, 16), generator=g)
    lengths = torch.full((16,), 12)
    with torch.no_grad():
        model.beam_search(src, lengths, beam_size=5, max_len=20)


def _child(workload: str, hidden: int, setting: str, steps: int) -> None:
    if setting != "default":
        from eigenrnn.threads import set_threads

        set_threads(int(setting))
    import torch

    fn = {"train": _train, "analyze": _analyze, "translate": _translate}[workload]
    start = time.perf_counter()
    fn(hidden, steps)
    print(f"{time.perf_counter() - start:.4f} {torch.get_num_threads()}")


def _measure(workload: str, hidden: int, setting: str, steps: int, timeout: float) -> tuple[float, int | None]:
    """Seconds and torch's thread count of one fresh run; ``inf`` when it ran past ``timeout``."""
    env = dict(os.environ)
    if setting == "default":
        env.pop("OMP_NUM_THREADS", None)
        env.pop("MKL_NUM_THREADS", None)
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", workload, str(hidden), setting, "--steps", str(steps)],
            capture_output=True, text=True, env=env, check=False, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return float("inf"), None
    if done.returncode != 0:
        raise SystemExit(f"{workload} hidden {hidden} threads {setting} failed:\n{done.stderr}")
    seconds, threads = done.stdout.split()
    return float(seconds), int(threads)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16,64,256,512", help="hidden sizes (default 16,64,256,512)")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"subset of {','.join(WORKLOADS)} (default all)")
    parser.add_argument("--repeats", type=int, default=3, help="fresh interpreters per cell (default 3)")
    parser.add_argument("--steps", type=int, default=30, help="training steps of the train workload (default 30)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds before a cell counts as > timeout (default 300)")
    parser.add_argument("--child", nargs=3, metavar=("WORKLOAD", "H", "THREADS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], int(args.child[1]), args.child[2], args.steps)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    workloads = [w for w in args.workloads.split(",") if w]
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown or args.repeats < 1:
        parser.error(f"--workloads: got {unknown}; expected names among {WORKLOADS}" if unknown
                     else f"--repeats: got {args.repeats}; expected a positive int")
    times: dict[tuple[str, int, str], list[float]] = {}
    default_threads = None
    for _ in range(args.repeats):
        for workload in workloads:
            for hidden in sizes:
                for setting in SETTINGS:
                    seconds, threads = _measure(workload, hidden, setting, args.steps, args.timeout)
                    times.setdefault((workload, hidden, setting), []).append(seconds)
                    if setting == "default" and threads is not None:
                        default_threads = threads
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} cores, torch default = {default_threads} threads, load average {load:.1f}, "
          f"median of {args.repeats} runs (s)")
    print(f"{'workload':<10}{'hidden':>7}{'1 thread':>10}{'2 threads':>11}{'default':>9}{'default/1':>11}{'2/1':>7}")
    for workload in workloads:
        for hidden in sizes:
            one, two, default = (statistics.median(times[(workload, hidden, s)]) for s in SETTINGS)
            print(f"{workload:<10}{hidden:>7}{one:>10.2f}{two:>11.2f}{default:>9.2f}{default / one:>11.2f}{two / one:>7.2f}")
    if any(v == float("inf") for values in times.values() for v in values):
        print(f"inf: ran past --timeout {args.timeout:g} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
