"""Wall time of the same sweep on the local pool and on a local Ray instance, side by side.

Each grid is trained twice into fresh temporary sweep directories, first with
:class:`eigenrnn.bench.backends.LocalBackend`, then with
:class:`eigenrnn.bench.backends.RayBackend` (a local instance with the same
number of CPUs, started once and timed separately).  Printed per grid: runs,
both wall times, their ratio, and Ray's overhead per run,
``(ray - local) / runs``; the two sweeps' summaries are also checked to hold
the same numbers.

Grids: ``smoke`` (the smoke profile, 36 runs of ~0.1 s: almost pure per-run
overhead) and ``tomita4-cpu`` (the cpu profile's Tomita suite cut to one
grammar and one seed: tomita4 x 3 cells x every applicable scheme, runs of
several seconds, the kind of run a real sweep is made of).

    OMP_NUM_THREADS=1 python benchmarks/bench_backends.py                  # both grids, 2 CPUs
    OMP_NUM_THREADS=1 python benchmarks/bench_backends.py --grids smoke --cpus 2
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from eigenrnn.bench import profiles
from eigenrnn.bench.backends import LocalBackend, RayBackend
from eigenrnn.bench.runner import inapplicable


def grid(name: str) -> list[profiles.RunSpec]:
    if name == "smoke":
        specs = profiles.grid("all", "smoke")
    elif name == "tomita4-cpu":
        specs = [s for s in profiles.grid("tomita", "cpu", seeds=1) if s.task == "tomita4"]
    else:
        raise SystemExit(f"--grids: got {name!r}, expected smoke or tomita4-cpu")
    excluded = inapplicable(specs)
    return [s for s in specs if s.path not in excluded]


def numbers(root: Path, specs) -> list[dict]:
    out = []
    for spec in specs:
        summary = json.loads((root / spec.path / "summary.json").read_text())
        summary.pop("wall_time_s")
        out.append(summary)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", default="smoke,tomita4-cpu", help="comma-separated (default: smoke,tomita4-cpu)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="workers / Ray CPUs (default: the cores)")
    args = parser.parse_args()
    names = [g.strip() for g in args.grids.split(",") if g.strip()]
    grids = {name: grid(name) for name in names}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        local_s = {}
        for name, specs in grids.items():
            t0 = time.perf_counter()
            LocalBackend(args.cpus).run_grid(specs, Path(tmp) / "local" / name, progress=False)
            local_s[name] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ray = RayBackend(num_cpus=args.cpus)
        ray.start()
        start_s = time.perf_counter() - t0
        try:
            for name, specs in grids.items():
                t0 = time.perf_counter()
                ray.run_grid(specs, Path(tmp) / "ray" / name, progress=False)
                ray_s = time.perf_counter() - t0
                same = numbers(Path(tmp) / "local" / name, specs) == numbers(Path(tmp) / "ray" / name, specs)
                rows.append((name, len(specs), local_s[name], ray_s, same))
        finally:
            ray.close()
    print(f"{args.cpus} CPUs; Ray start-up (ray.init, not in the times below): {start_s:.1f} s")
    print(f"{'grid':<13} {'runs':>5} {'local s':>9} {'ray s':>9} {'ray/local':>10} {'overhead/run s':>15} {'same numbers':>13}")
    for name, n, local, ray_s, same in rows:
        print(f"{name:<13} {n:>5} {local:>9.1f} {ray_s:>9.1f} {ray_s / local:>10.2f} {(ray_s - local) / n:>15.3f} {str(same):>13}")


if __name__ == "__main__":
    main()
