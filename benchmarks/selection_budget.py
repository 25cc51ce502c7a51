"""How long the selection study's stages still take, from the run times its own records measured.

For each stage (instrument, dev, held-out) and each task entry and cell it
counts the planned runs (``eigenrnn.selection.suites.grid``), subtracts those
already finished in the sweep (run directories or packed records), and
multiplies what is left by the mean ``wall_time_s`` of that task entry and cell
over the stage's own finished runs, or, before the stage has any, over the
instrument's (the three textbook baselines at six lr x clip settings: the only
timings measured on every task at its study budget).  A Tomita run stops when
it has learned, so a family that learns faster than the baselines takes less;
the figure is an estimate, not a bound.

The held-out stage is planned from the sweep's ``chosen.json`` once
``eigenrnn select choose`` has written it; before that, with every family
choosing a non-textbook configuration, its largest possible grid
(2 configurations per family + PyTorch's default).

    .venv/bin/python benchmarks/selection_budget.py                 # results/selection
    .venv/bin/python benchmarks/selection_budget.py --workers 2 --results results/selection
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _largest_chosen() -> dict:
    from eigenrnn.selection import families as fam
    from eigenrnn.selection.suites import CELLS

    def first_other(family: str) -> str:
        return next(n for n in fam.configs(family) if n != fam.textbook(family))

    return {"cells": {c: {"input_scheme": "xavier",
                          "families": {f: {"chosen": first_other(f)} for f in fam.families_for(c)}} for c in CELLS}}


def _instrument(profile: str) -> dict:
    from eigenrnn.selection.suites import CELLS, tasks

    entries = {**tasks("dev", profile), **tasks("heldout", profile)}
    return {"tasks": {k: {c: {"lr": b.lr, "clip": 1.0} for c in CELLS} for k, b in entries.items()}}


def estimate(results: Path, profile: str = "cpu") -> list[dict]:
    """Rows ``{stage, task, cell, planned, done, seconds_per_run, seconds_left}`` (None where nothing was timed)."""
    from eigenrnn.bench.records import iter_records
    from eigenrnn.selection.suites import grid

    done, times = set(), defaultdict(list)
    for record in iter_records(results):
        done.add(record.path)
        suite, key, cell = record.path.split("/")[:3]
        if record.summary.get("wall_time_s") is not None:
            stage = "instrument" if suite.startswith("instrument-") else suite
            times[(stage, key, cell)].append(float(record.summary["wall_time_s"]))
    chosen_file = results / "chosen.json"
    chosen = json.loads(chosen_file.read_text()) if chosen_file.is_file() else _largest_chosen()
    stages = {"instrument": grid("selection-instrument", profile),
              "dev": grid("selection-dev", profile, instrument=_instrument(profile)),
              "heldout": grid("selection-heldout", profile, instrument=_instrument(profile), chosen=chosen)}
    rows = []
    for stage, specs in stages.items():
        counts = defaultdict(lambda: [0, 0])
        for spec in specs:
            entry = counts[(spec.task, spec.cell)]
            entry[0] += 1
            # Dev and held-out paths depend on nothing but the configuration name, so they match the sweep's.
            entry[1] += spec.path in done
        for (key, cell), (planned, finished) in counts.items():
            measured = times[(stage, key, cell)] or times[("instrument", key, cell)]
            per_run = statistics.mean(measured) if measured else None
            rows.append({"stage": stage, "task": key, "cell": cell, "planned": planned, "done": finished,
                         "seconds_per_run": per_run,
                         "seconds_left": None if per_run is None else per_run * (planned - finished)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=REPO / "results" / "selection",
                        help="the selection sweep (default results/selection)")
    parser.add_argument("--workers", type=int, default=2, help="parallel workers the hours are divided by (default 2)")
    parser.add_argument("--by-task", action="store_true", help="also print one line per stage, task and cell")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f"--workers: got {args.workers}; expected a positive int")
    if not args.results.is_dir():
        parser.error(f"--results: got {str(args.results)!r}; expected the selection sweep directory")
    rows = estimate(args.results)
    if args.by_task:
        print(f"{'stage':<11}{'task':<14}{'cell':<6}{'planned':>8}{'done':>6}{'s/run':>8}{'h left':>8}")
        for r in rows:
            per_run = "—" if r["seconds_per_run"] is None else f"{r['seconds_per_run']:.1f}"
            left = "—" if r["seconds_left"] is None else f"{r['seconds_left'] / 3600:.2f}"
            print(f"{r['stage']:<11}{r['task']:<14}{r['cell']:<6}{r['planned']:>8}{r['done']:>6}{per_run:>8}{left:>8}")
        print()
    print(f"{'stage':<11}{'runs':>6}{'done':>6}{'single-thread h left':>22}{f'h on {args.workers} workers':>18}")
    for stage in ("instrument", "dev", "heldout"):
        mine = [r for r in rows if r["stage"] == stage]
        left = sum(r["seconds_left"] or 0.0 for r in mine) / 3600
        untimed = [f"{r['task']}/{r['cell']}" for r in mine if r["seconds_left"] is None and r["planned"] > r["done"]]
        note = f"  (not timed: {', '.join(untimed)})" if untimed else ""
        print(f"{stage:<11}{sum(r['planned'] for r in mine):>6}{sum(r['done'] for r in mine):>6}"
              f"{left:>22.1f}{left / args.workers:>18.1f}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
