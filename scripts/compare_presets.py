"""Which trained-spectrum preset should eigen_ use by default?  A small, fixed comparison.

    .venv/bin/python scripts/compare_presets.py --out runs/presets [--workers 2]

Trains the eigen initializer with each preset of src/eigenrnn/data/presets.json
on one classification task (Tomita 5) and one regression task (adding, length
50), for the tanh RNN and the GRU, over 3 seeds, with one fixed budget for all,
and prints the mean test metric per preset.  Every run is an ordinary training
run (resumable; finished runs are skipped on a rerun).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from eigenrnn.bench.profiles import RunSpec
from eigenrnn.bench.runner import run_grid
from eigenrnn.spectrum import preset_names

TASKS = {
    "tomita5": {"epochs": 60, "early_stopping_patience": 20},
    "adding": {"epochs": 10, "task_options": {"length": 50}, "train_size": 6000},
}
CELLS = ("rnn", "gru")
SEEDS = 3
COMMON = {"hidden": 64, "batch_size": 64, "lr": 2e-3, "clip": 1.0, "device": "cpu"}


def grid() -> list[RunSpec]:
    specs = []
    for task, budget in TASKS.items():
        for cell in CELLS:
            for preset in preset_names():
                for seed in range(SEEDS):
                    config = {**COMMON, **budget, "task": task, "cell": cell, "init": "eigen",
                              "init_kwargs": {"preset": preset}, "seed": seed}
                    specs.append(RunSpec(suite="presets", task=task, cell=cell, init=f"eigen-{preset}", seed=seed, config=config))
    return specs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    specs = grid()
    run_grid(specs, args.out, workers=args.workers)
    rows: dict[tuple[str, str, str], list[float]] = {}
    for spec in specs:
        summary = json.loads((args.out / spec.path / "summary.json").read_text())
        rows.setdefault((spec.task, spec.cell, spec.init), []).append(summary["test_metric"])
    print(f"{'task':<8} {'cell':<4} {'preset':<22} {'mean':>8} {'std':>8}  values")
    for (task, cell, scheme), values in rows.items():
        finite = [v for v in values if v is not None]
        mean = statistics.fmean(finite) if finite else float("nan")
        std = statistics.stdev(finite) if len(finite) > 1 else 0.0
        print(f"{task:<8} {cell:<4} {scheme:<22} {mean:>8.4f} {std:>8.4f}  {[round(v, 4) for v in finite]}")


if __name__ == "__main__":
    main()
