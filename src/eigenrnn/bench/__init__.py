"""The initializer benchmark: grid definitions, a resumable parallel runner, statistics and the report.

>>> from eigenrnn.bench import grid
>>> len(grid("regression", "smoke", inits=["eigen", "xavier"]))
4
"""

from __future__ import annotations

from eigenrnn import _lazy

# Loaded on first access (PEP 562): the CLI parser needs eigenrnn.bench.profiles
# (plain Python) without importing torch through the runner.
_LAZY = {
    **dict.fromkeys(("BUDGETS", "Budget", "RunSpec", "budget", "grid"), "eigenrnn.bench.profiles"),
    **dict.fromkeys(("aggregate", "write_report"), "eigenrnn.bench.tables"),
    **dict.fromkeys(("SweepResult", "run_grid"), "eigenrnn.bench.runner"),
    **dict.fromkeys(("SweepGrid", "SweepOutcome", "run_sweep", "sweep_grid"), "eigenrnn.bench.sweep"),
    **dict.fromkeys(("PairedComparison", "RunRecord", "Summary", "load_runs", "paired_compare", "summarize"),
                    "eigenrnn.bench.stats"),
}

__all__ = [
    "BUDGETS", "Budget", "PairedComparison", "RunRecord", "RunSpec", "Summary", "SweepGrid", "SweepOutcome", "SweepResult",
    "aggregate", "budget", "grid", "load_runs", "paired_compare", "run_grid", "run_sweep", "summarize",
    "sweep_grid", "write_report",
]


__getattr__ = _lazy.lazy_getattr(__name__, _LAZY, globals())
