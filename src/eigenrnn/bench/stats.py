"""Reading finished benchmark runs, and the statistics the report shows.

* :func:`load_runs` reads every finished run of a sweep (run directories and packed
  records, :mod:`eigenrnn.bench.records`) into :class:`RunRecord`.
* :func:`summarize` gives mean, sample standard deviation (``ddof=1``) and n.
* :func:`paired_compare` compares an init with a baseline over the same seeds:
  wins, ties and losses with a relative tie tolerance, and the two-sided
  Wilcoxon signed-rank test (:func:`scipy.stats.wilcoxon`) when there are at
  least :data:`MIN_WILCOXON_PAIRS` pairs.  Zero differences (identical results,
  common at 100% Tomita accuracy) are kept and split between the two signs
  (``zero_method="zsplit"``): they count as evidence of no difference instead
  of being dropped, which would leave a test on a handful of pairs.
* :func:`mean_ranks` ranks inits within each (task, cell, seed), for task
  families whose metrics are not on one scale.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from eigenrnn.errors import EigenRNNError

MIN_WILCOXON_PAIRS = 6
TIE_RTOL = 0.01


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one finished (or diverged) run, read from its ``summary.json``.

    ``path`` is the run's directory under the sweep (gone for a run packed by
    ``eigenrnn pack``); ``history`` holds its ``metrics.jsonl`` lines and
    ``config`` its ``config.json`` either way, so nothing downstream reads the
    directory.
    """

    suite: str
    task: str
    cell: str
    init: str
    seed: int
    status: str
    metric_name: str
    higher_is_better: bool
    test_metric: float | None
    generalisation_metric: float | None
    best_val_metric: float | None
    target: object
    epochs_to_target: int | None
    steps_to_target: int | None
    epochs: int
    steps: int
    wall_time_s: float
    path: Path
    #: The run's ``metrics.jsonl`` lines (one dict per epoch).
    history: tuple[dict, ...] = field(default=(), compare=False, repr=False)
    #: The run's ``config.json`` (None for a run directory without one).
    config: dict | None = field(default=None, compare=False, repr=False)

    @property
    def diverged(self) -> bool:
        return self.status == "diverged"

    def value(self, metric: str) -> float | None:
        """``metric`` (``"test_metric"``, ...) or None if the run diverged or lacks it."""
        value = getattr(self, metric)
        if self.diverged or value is None or not math.isfinite(value):
            return None
        return float(value)


def load_runs(root: str | os.PathLike) -> tuple[list[RunRecord], list[Path]]:
    """All runs of the sweep at ``root``: the records with a summary, and the failed run dirs.

    A run directory is ``<root>/<suite>/<task>/<cell>/<init>/seed<k>``; the
    finished ones are read, with the packed ones, through
    :func:`eigenrnn.bench.records.iter_records`.  A failed run is a directory
    with ``error.txt``, no ``summary.json`` and no packed record.  A record's
    ``init`` is that directory's name: the scheme, or the name of a variant
    (:mod:`eigenrnn.bench.variants`) whose summary's ``init`` is its base scheme.
    """
    from eigenrnn.bench.records import iter_records

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark directory {root} does not exist")
    records = []
    for run in iter_records(root):
        s, parts = run.summary, run.path.split("/")
        try:
            records.append(RunRecord(
                suite=parts[0], task=s["task"], cell=s["cell"], init=parts[3],
                seed=int(s["seed"]), status=s["status"], metric_name=s["metric_name"],
                higher_is_better=bool(s["higher_is_better"]), test_metric=s.get("test_metric"),
                generalisation_metric=s.get("generalisation_metric"),
                best_val_metric=s.get("best_val_metric"), target=s.get("target"),
                epochs_to_target=s.get("epochs_to_target"), steps_to_target=s.get("steps_to_target"),
                epochs=int(s["epochs"]), steps=int(s["steps"]), wall_time_s=float(s["wall_time_s"]),
                path=root / run.path, history=run.metrics, config=run.config,
            ))
        except (ValueError, KeyError, TypeError) as exc:
            raise EigenRNNError(f"{run.source} holds no valid run summary for {run.path} "
                                f"({type(exc).__name__}: {exc})") from None
    done = {r.path for r in records}
    failed = [p.parent for p in sorted(root.glob("*/*/*/*/seed*/error.txt"))
              if not (p.parent / "summary.json").exists() and p.parent not in done]
    return records, failed


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (``ddof=1``; NaN for n < 2) and count."""

    mean: float
    std: float
    n: int

    def __str__(self) -> str:
        if self.n == 0:
            return "—"
        if self.n == 1:
            return f"{self.mean:.4g} (1)"
        return f"{self.mean:.4g} ± {self.std:.2g} ({self.n})"


def summarize(values: Iterable[float]) -> Summary:
    """:class:`Summary` of ``values``.

    >>> str(summarize([1.0, 2.0, 3.0]))
    '2 ± 1 (3)'
    """
    x = np.asarray(list(values), dtype=float)
    if x.size == 0:
        return Summary(math.nan, math.nan, 0)
    std = float(np.std(x, ddof=1)) if x.size > 1 else math.nan
    return Summary(float(np.mean(x)), std, int(x.size))


@dataclass(frozen=True)
class PairedComparison:
    """An init (scheme or variant) against a baseline over paired runs (same task, cell and seed).

    ``wins``/``ties``/``losses`` are from the init's point of view over all
    ``n_pairs``; a diverged run loses to a finished one and two diverged runs
    tie.  ``p_value`` is the two-sided Wilcoxon signed-rank p-value over the
    ``n_finished`` pairs where both runs finished (zero differences split,
    see the module docstring), or None when ``n_finished < MIN_WILCOXON_PAIRS``.
    """

    n_pairs: int
    wins: int
    ties: int
    losses: int
    n_finished: int
    p_value: float | None

    def __str__(self) -> str:
        if self.n_pairs == 0:
            return "—"
        p = f"p={self.p_value:.3g}" if self.p_value is not None else f"n<{MIN_WILCOXON_PAIRS}"
        return f"{self.wins}/{self.ties}/{self.losses}, {p}"


def paired_compare(
    pairs: Sequence[tuple[float | None, float | None]],
    *,
    higher_is_better: bool,
    rtol: float = TIE_RTOL,
    relative: bool = False,
) -> PairedComparison:
    """Compare ``init`` with ``baseline`` over ``pairs = [(init, baseline), ...]``.

    Two values tie when ``|a - b| <= rtol * max(|a|, |b|)``; otherwise the
    better one (higher, or lower when ``higher_is_better`` is False) wins.
    ``None`` marks a diverged run.  The Wilcoxon test runs on the differences
    ``a - b``, or on ``(a - b) / max(|a|, |b|)`` with ``relative=True`` (for
    pooling tasks whose metrics have different scales).

    >>> paired_compare([(0.9, 0.8), (0.8, 0.9), (0.5, 0.5)], higher_is_better=True)
    PairedComparison(n_pairs=3, wins=1, ties=1, losses=1, n_finished=3, p_value=None)
    """
    wins = ties = losses = 0
    diffs = []
    for a, b in pairs:
        if a is None or b is None:
            if a is None and b is None:
                ties += 1
            elif a is None:
                losses += 1
            else:
                wins += 1
            continue
        scale = max(abs(a), abs(b))
        diffs.append((a - b) / scale if relative and scale > 0 else a - b)
        if abs(a - b) <= rtol * scale:
            ties += 1
        elif (a > b) == higher_is_better:
            wins += 1
        else:
            losses += 1
    p_value = None
    if len(diffs) >= MIN_WILCOXON_PAIRS:
        from scipy.stats import wilcoxon  # imported here: it is slow, and the CLI loads this module

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            p_value = float(wilcoxon(diffs, zero_method="zsplit").pvalue)
    return PairedComparison(len(pairs), wins, ties, losses, len(diffs), p_value)


def mean_ranks(records: Sequence[RunRecord], metric: str) -> dict[tuple[str, str], Summary]:
    """Rank inits (1 = best, ties averaged) within each (task, cell, seed).

    Diverged runs (and runs without ``metric``) share the worst rank.  Returns
    ``{(init, cell): Summary of its ranks}``.
    """
    groups: dict[tuple[str, str, int], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.task, r.cell, r.seed), []).append(r)
    from scipy.stats import rankdata

    ranks: dict[tuple[str, str], list[float]] = {}
    for group in groups.values():
        sign = -1.0 if group[0].higher_is_better else 1.0
        keys = [math.inf if r.value(metric) is None else sign * r.value(metric) for r in group]
        for r, rank in zip(group, rankdata(keys)):
            ranks.setdefault((r.init, r.cell), []).append(float(rank))
    return {key: summarize(values) for key, values in ranks.items()}
