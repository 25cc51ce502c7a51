"""The initializer benchmark: grid definitions, a resumable parallel runner, statistics and the report.

>>> from eigenrnn.bench import grid
>>> len(grid("regression", "smoke", schemes=["eigen", "xavier"]))
4
"""

from __future__ import annotations

from eigenrnn.bench.profiles import BUDGETS, Budget, RunSpec, budget, grid
from eigenrnn.bench.report import aggregate, write_report
from eigenrnn.bench.runner import SweepResult, run_grid
from eigenrnn.bench.stats import PairedComparison, RunRecord, Summary, load_runs, paired_compare, summarize

__all__ = [
    "BUDGETS", "Budget", "PairedComparison", "RunRecord", "RunSpec", "Summary", "SweepResult",
    "aggregate", "budget", "grid", "load_runs", "paired_compare", "run_grid", "summarize", "write_report",
]
