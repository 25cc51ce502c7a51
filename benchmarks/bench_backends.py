"""Wall time of the same sweep on the local pool and on a local Ray instance, side by side.

Each grid is trained into fresh temporary sweep directories with
:class:`eigenrnn.bench.backends.LocalBackend` and with
:class:`eigenrnn.bench.backends.RayBackend` (a local instance with the same
number of CPUs, started once and timed separately), in ``--repeats`` rounds
that alternate which backend goes first.  Printed per grid: runs, each
backend's fastest wall time, their ratio, and each backend's time per run
spent outside the trainer, ``(wall x CPUs - sum of the runs' wall_time_s) /
runs`` in CPU-seconds (spawning workers, scheduling, moving the run's files),
plus every time measured; the two sweeps' summaries are also checked to hold
the same numbers.  The local pool spawns its workers anew for every sweep;
Ray's workers outlive a sweep, so only its first round pays their start.

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


def training_s(root: Path, specs) -> float:
    """Seconds spent inside the trainer, summed over the runs (their ``wall_time_s``)."""
    return sum(json.loads((root / spec.path / "summary.json").read_text())["wall_time_s"] for spec in specs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", default="smoke,tomita4-cpu", help="comma-separated (default: smoke,tomita4-cpu)")
    parser.add_argument("--cpus", type=int, default=os.cpu_count(), help="workers / Ray CPUs (default: the cores)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="rounds, alternating which backend goes first; the table gives each one's fastest (default: 2)")
    args = parser.parse_args()
    names = [g.strip() for g in args.grids.split(",") if g.strip()]
    grids = {name: grid(name) for name in names}
    times: dict[tuple[str, str], list[float]] = {}
    overhead: dict[tuple[str, str], list[float]] = {}
    same = {}
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        t0 = time.perf_counter()
        ray = RayBackend(num_cpus=args.cpus)
        ray.start()
        start_s = time.perf_counter() - t0
        backends = {"local": LocalBackend(args.cpus), "ray": ray}
        try:
            for r in range(args.repeats):
                # On a shared machine the load drifts: alternate the order so neither backend always gets the quiet slot.
                order = ("local", "ray") if r % 2 == 0 else ("ray", "local")
                for name, specs in grids.items():
                    for which in order:
                        root = Path(tmp) / f"{which}{r}" / name
                        t0 = time.perf_counter()
                        backends[which].run_grid(specs, root, progress=False)
                        wall = time.perf_counter() - t0
                        times.setdefault((name, which), []).append(wall)
                        # CPU-seconds per run spent outside the trainer: spawning, scheduling, moving files.
                        outside = (wall * args.cpus - training_s(root, specs)) / len(specs)
                        overhead.setdefault((name, which), []).append(outside)
                    same[name] = same.get(name, True) and (
                        numbers(Path(tmp) / f"local{r}" / name, specs) == numbers(Path(tmp) / f"ray{r}" / name, specs))
        finally:
            ray.close()
    print(f"{args.cpus} CPUs, {args.repeats} rounds; Ray start-up (ray.init, not in the times below): {start_s:.1f} s")
    print(f"{'grid':<13} {'runs':>5} {'local s':>9} {'ray s':>9} {'ray/local':>10} {'outside/run local':>18} "
          f"{'outside/run ray':>16} {'same numbers':>13}  all local / ray times")
    for name, specs in grids.items():
        local, ray_s = min(times[(name, "local")]), min(times[(name, "ray")])
        every = " ".join(f"{t:.1f}" for t in times[(name, "local")]) + " / " + " ".join(f"{t:.1f}" for t in times[(name, "ray")])
        print(f"{name:<13} {len(specs):>5} {local:>9.1f} {ray_s:>9.1f} {ray_s / local:>10.2f} "
              f"{min(overhead[(name, 'local')]):>18.3f} {min(overhead[(name, 'ray')]):>16.3f} {str(same[name]):>13}  {every}")


if __name__ == "__main__":
    main()
