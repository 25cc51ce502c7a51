"""The decisions of the selection study (docs/SELECTION.md): collapse, instrument, selection, Holm.

* :func:`collapsed` -- whether a validation curve fell back to chance after
  having been above it (a diverged run counts as collapsed).
* :func:`choose_instrument` -- per task and cell, the learning rate and clip
  of the instrument grid with the best median validation result of the
  textbook baselines among the settings whose collapse rate is acceptable.
* :func:`select` -- per family and cell, the configuration with the best mean
  rank over the development tasks' validation metrics, ties broken by a stated
  rule; and the input-weight level, the same for every family.
* :func:`holm` -- Holm's step-down adjusted p-values (scipy.stats offers only
  Benjamini-Hochberg/Yekutieli, :func:`scipy.stats.false_discovery_control`).

Each decision is a JSON-ready dict, written by :func:`write_decision`.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from eigenrnn.bench.stats import RunRecord
from eigenrnn.errors import EigenRNNError, bad_value
from eigenrnn.selection import families as fam
from eigenrnn.selection.suites import STAGE_SUITES, bench_suite

#: ``task name -> (chance, margin)`` of the validation metric, in the metric's units:
#: accuracy at chance for balanced classes, MSE of the best constant predictor
#: (adding: Var of the sum of two U(0, 1) = 1/6; sine and Mackey-Glass are unit-variance
#: targets), BLEU 0.  A run has *learned* once it beat chance by more than the margin.
CHANCE: dict[str, tuple[float, float]] = {
    **{f"tomita{k}": (0.5, 0.05) for k in range(1, 8)},
    "mnist14": (0.1, 0.05), "pmnist14": (0.1, 0.05), "mnist": (0.1, 0.05), "pmnist": (0.1, 0.05),
    "adding": (1.0 / 6.0, 0.1 / 6.0), "sine": (1.0, 0.1), "mackey-glass": (1.0, 0.1),
    "multi30k": (0.0, 1.0),
}

#: The instrument accepts a setting whose collapse rate is at most this (else the least-collapsing ones).
MAX_COLLAPSE_RATE = 0.1
#: Two median validation results within this relative difference tie (then: less collapse, larger lr, larger clip).
INSTRUMENT_RTOL = 0.01


def collapsed(curve: Sequence[float | None], *, chance: float, margin: float, higher_is_better: bool) -> bool:
    """Whether a validation curve collapsed: it beat chance by more than ``margin``, and ended within it.

    ``curve`` is the per-epoch validation metric; a ``None`` or non-finite
    value (a diverged epoch) ends the curve as a collapse when the run had
    learned before it.  A run that never beat chance has not collapsed (it
    never learned).

    >>> collapsed([0.2, 0.48, 0.09], chance=0.1, margin=0.05, higher_is_better=True)
    True
    >>> collapsed([0.1, 0.12, 0.11], chance=0.1, margin=0.05, higher_is_better=True)
    False
    """
    values = [None if v is None or not math.isfinite(float(v)) else float(v) for v in curve]
    if not values:
        return False
    sign = 1.0 if higher_is_better else -1.0

    def learned(v: float | None) -> bool:
        return v is not None and sign * (v - chance) > margin

    if not any(learned(v) for v in values[:-1]):
        return False
    return not learned(values[-1])


def chance_of(task: str) -> tuple[float, float]:
    """``(chance, margin)`` of ``task`` (:data:`CHANCE`)."""
    if task not in CHANCE:
        raise ValueError(bad_value("task", task, f"a task with a chance level: {', '.join(CHANCE)}"))
    return CHANCE[task]


def run_collapsed(record: RunRecord) -> bool:
    """:func:`collapsed` on a run's ``metrics.jsonl`` lines; a diverged run counts as collapsed.

    The curve is ``record.history``, so a packed run (whose directory ``eigenrnn
    pack`` removed) is judged on the same epochs as one still on disk.
    """
    if record.diverged:
        return True
    chance, margin = chance_of(record.task)
    curve = [line.get("val_metric") for line in record.history]
    return collapsed(curve, chance=chance, margin=margin, higher_is_better=record.higher_is_better)


def task_key(record: RunRecord) -> str:
    """The task entry of a run (its directory ``<suite>/<key>/<cell>/<config>/seed<k>``)."""
    return Path(record.path).parents[2].name


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    r"""Holm's (1979) step-down adjusted p-values; ``None`` entries (no test) stay ``None``.

    With the ``m`` p-values sorted, :math:`p_{(1)} \le \dots \le p_{(m)}`,
    :math:`\tilde p_{(i)} = \min(1, \max_{j \le i} (m - j + 1)\, p_{(j)})`;
    rejecting :math:`\tilde p < \alpha` controls the family-wise error rate at
    :math:`\alpha` under any dependence.

    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
    """
    tested = [(p, i) for i, p in enumerate(p_values) if p is not None]
    for p, _ in tested:
        if not (isinstance(p, (int, float)) and 0.0 <= p <= 1.0):
            raise ValueError(bad_value("p_values", p, "numbers in [0, 1] or None"))
    m = len(tested)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = round(running, 12)
    return out


# ----------------------------------------------------------------------------- instrument


def choose_instrument(records: Iterable[RunRecord]) -> dict[str, Any]:
    """Per task key and cell, the instrument setting (lr, clip) of the ``selection-instrument`` runs.

    For each setting: the collapse rate over the baselines' runs and the median
    of their best validation metric (a diverged run counts as the worst
    value).  Among the settings with collapse rate <= :data:`MAX_COLLAPSE_RATE`
    (or, if none, those with the least collapse) the best median wins; medians
    within :data:`INSTRUMENT_RTOL` tie, and ties go to less collapse, then the
    larger learning rate, then the larger clip.

    Returns:
        ``{"rule": ..., "tasks": {key: {cell: {"lr", "clip", "settings": [...]}}}}``.
    """
    groups: dict[tuple[str, str], dict[tuple[float, float | None], list[RunRecord]]] = {}
    for r in records:
        if not r.suite.startswith("instrument-"):
            continue
        config = _config(r)
        groups.setdefault((task_key(r), r.cell), {}).setdefault((config["lr"], config["clip"]), []).append(r)
    if not groups:
        raise EigenRNNError("no instrument runs (directories instrument-*) found: run "
                            "eigenrnn bench --suite selection-instrument first")
    out: dict[str, dict[str, Any]] = {}
    for (key, cell), settings in sorted(groups.items()):
        rows = []
        for (lr, clip), runs in settings.items():
            higher = runs[0].higher_is_better
            worst = -math.inf if higher else math.inf
            values = [worst if r.value("best_val_metric") is None else r.value("best_val_metric") for r in runs]
            rows.append({"lr": lr, "clip": clip, "runs": len(runs), "median_val": statistics.median(values),
                         "collapse_rate": sum(run_collapsed(r) for r in runs) / len(runs), "higher_is_better": higher})
        ok = [row for row in rows if row["collapse_rate"] <= MAX_COLLAPSE_RATE]
        if not ok:
            least = min(row["collapse_rate"] for row in rows)
            ok = [row for row in rows if row["collapse_rate"] == least]
        best = _best_instrument(ok)
        out.setdefault(key, {})[cell] = {"lr": best["lr"], "clip": best["clip"], "settings": rows}
    return {"rule": "docs/SELECTION.md, 0. a stable instrument", "max_collapse_rate": MAX_COLLAPSE_RATE,
            "rtol": INSTRUMENT_RTOL, "tasks": out}


def instrument_markdown(decision: Mapping[str, Any]) -> str:
    """The instrument decision (:func:`choose_instrument`'s JSON) as a markdown table, one row per task and cell.

    Each row: the chosen lr and clip, the baselines' median best validation
    metric and collapse rate there, and the collapse rate of every setting
    (``lr/clip: rate``), so a reader sees what the choice avoided.

    >>> row = {"lr": 0.01, "clip": 1.0, "runs": 6, "median_val": 0.97, "collapse_rate": 0.0, "higher_is_better": True}
    >>> print(instrument_markdown({"tasks": {"tomita3": {"gru": {"lr": 0.01, "clip": 1.0, "settings": [row]}}}}))
    | task | cell | lr | clip | median best val | collapse | collapse rate per setting (lr/clip) |
    | --- | --- | --- | --- | --- | --- | --- |
    | tomita3 | gru | 0.01 | 1 | 0.97 | 0/6 | 0.01/1: 0.00 |
    <BLANKLINE>
    """
    lines = ["| task | cell | lr | clip | median best val | collapse | collapse rate per setting (lr/clip) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for key, cells in decision["tasks"].items():
        for cell, entry in cells.items():
            chosen = next(r for r in entry["settings"] if (r["lr"], r["clip"]) == (entry["lr"], entry["clip"]))
            rates = ", ".join(f"{r['lr']:g}/{'none' if r['clip'] is None else format(r['clip'], 'g')}: "
                              f"{r['collapse_rate']:.2f}"
                              for r in sorted(entry["settings"], key=lambda r: (-r["lr"], -(r["clip"] or math.inf))))
            collapsed_runs = round(chosen["collapse_rate"] * chosen["runs"])
            lines.append(f"| {key} | {cell} | {entry['lr']:g} | "
                         f"{'none' if entry['clip'] is None else format(entry['clip'], 'g')} | "
                         f"{chosen['median_val']:.4g} | {collapsed_runs}/{chosen['runs']} | {rates} |")
    return "\n".join(lines) + "\n"


def _best_instrument(rows: list[dict]) -> dict:
    sign = 1.0 if rows[0]["higher_is_better"] else -1.0
    top = max(sign * row["median_val"] for row in rows)

    def ties(row: dict) -> bool:
        value = sign * row["median_val"]
        return value == top or abs(value - top) <= INSTRUMENT_RTOL * max(abs(value), abs(top))

    tied = [row for row in rows if ties(row)]
    clip = lambda row: math.inf if row["clip"] is None else row["clip"]  # noqa: E731  no clip = the largest
    return min(tied, key=lambda row: (row["collapse_rate"], -row["lr"], -clip(row)))


def _config(record: RunRecord) -> dict[str, Any]:
    if not isinstance(record.config, dict) or "lr" not in record.config or "clip" not in record.config:
        raise EigenRNNError(f"{record.path}: the run has no config.json with lr and clip")
    return record.config


# ----------------------------------------------------------------------------- selection


def _ranks(values: Sequence[float | None], higher_is_better: bool) -> list[float]:
    """Ranks 1 = best, exact ties averaged, ``None`` (diverged or missing) shares the worst rank."""
    from scipy.stats import rankdata

    sign = -1.0 if higher_is_better else 1.0
    keys = [math.inf if v is None else sign * v for v in values]
    return [float(r) for r in rankdata(keys)]


def mean_ranks(records: Sequence[RunRecord], names: Sequence[str], cell: str) -> dict[str, dict[str, Any]]:
    """Mean rank of each of ``names`` within every (task key, seed) of ``cell``, on the best validation metric.

    A configuration without a run in a group (not run, failed) or whose run
    diverged takes the worst rank of that group.  Returns ``{name: {"mean_rank",
    "groups", "missing", "collapsed", "by_task"}}``; ``by_task`` is the mean
    rank within each dev task alone, so a design that wins on one task type
    (e.g. the symbolic Tomita tasks) and loses on another shows it.
    """
    by_group: dict[tuple[str, int], dict[str, RunRecord]] = {}
    for r in records:
        if r.cell == cell and r.init in names:
            by_group.setdefault((task_key(r), r.seed), {})[r.init] = r
    out = {n: {"ranks": [], "missing": 0, "collapsed": 0, "by_task": {}} for n in names}
    for (key, _), group in sorted(by_group.items()):
        higher = next(iter(group.values())).higher_is_better
        values = [group[n].value("best_val_metric") if n in group else None for n in names]
        for n, rank in zip(names, _ranks(values, higher)):
            out[n]["ranks"].append(rank)
            out[n]["by_task"].setdefault(key, []).append(rank)
            if n not in group:
                out[n]["missing"] += 1
            elif run_collapsed(group[n]):
                out[n]["collapsed"] += 1
    return {n: {"mean_rank": (sum(v["ranks"]) / len(v["ranks"])) if v["ranks"] else None, "groups": len(v["ranks"]),
                "missing": v["missing"], "collapsed": v["collapsed"],
                "by_task": {k: sum(r) / len(r) for k, r in v["by_task"].items()}} for n, v in out.items()}


def pick(table: Mapping[str, Mapping[str, Any]], order: Sequence[str], textbook: str | None) -> str:
    """The configuration with the best mean rank; ties (equal to 1e-9) go to fewer collapsed or
    missing runs, then to ``textbook``, then to the earlier name in ``order``.

    >>> t = {"a": {"mean_rank": 1.5, "collapsed": 1, "missing": 0}, "b": {"mean_rank": 1.5, "collapsed": 0, "missing": 0}}
    >>> pick(t, ["a", "b"], "a")
    'b'
    """
    scored = [n for n in order if table[n]["mean_rank"] is not None]
    if not scored:
        raise EigenRNNError(f"no development runs of any of {', '.join(order)}")
    best = min(table[n]["mean_rank"] for n in scored)
    tied = [n for n in scored if table[n]["mean_rank"] - best <= 1e-9]
    return min(tied, key=lambda n: (table[n]["collapsed"] + table[n]["missing"], n != textbook, order.index(n)))


def select(records: Iterable[RunRecord], *, families: Sequence[str] = fam.FAMILIES) -> dict[str, Any]:
    """The chosen configuration per family and cell, and the input-weight level per cell, from the dev runs.

    Only runs of the suite directory ``dev`` count.  Per cell and family the
    family's K configurations are ranked within each (dev task, seed) on the
    best validation metric (:func:`mean_ranks`) and :func:`pick` takes the
    best mean rank.  The input level: each family's textbook configuration
    against its input probe, ranked in pairs and pooled over families, tasks
    and seeds; the better mean rank wins, a tie keeps Xavier inputs (the common level).

    Returns:
        the JSON of ``chosen.json``: ``{"protocol", "rule", "runs", "cells":
        {cell: {"input_scheme", "input_mean_rank", "families": {family:
        {"chosen", "textbook", "configs": {name: {...}}}}}}}``.
    """
    dev = [r for r in records if r.suite == "dev"]
    if not dev:
        raise EigenRNNError("no development runs (directory dev) found: run eigenrnn bench --suite selection-dev first")
    cells = [c for c in ("rnn", "lstm", "gru") if any(r.cell == c for r in dev)]
    out: dict[str, Any] = {}
    for cell in cells:
        entry: dict[str, Any] = {"families": {}}
        rank_sum = {level: 0.0 for level in fam.INPUT_LEVELS}
        groups = {level: 0 for level in fam.INPUT_LEVELS}
        for family in fam.families_for(cell):
            if family not in families:
                continue
            names = list(fam.configs(family))
            table = mean_ranks(dev, names, cell)
            entry["families"][family] = {"chosen": pick(table, names, fam.textbook(family)),
                                         "textbook": fam.textbook(family), "configs": table}
            pair = [fam.textbook(family), fam.input_probe(family)]
            probe = mean_ranks(dev, pair, cell)
            for level, name in zip(fam.INPUT_LEVELS, pair):
                if probe[name]["mean_rank"] is not None:
                    rank_sum[level] += probe[name]["mean_rank"] * probe[name]["groups"]
                    groups[level] += probe[name]["groups"]
        means = {level: rank_sum[level] / groups[level] if groups[level] else None for level in fam.INPUT_LEVELS}
        level, other = fam.INPUT_LEVELS
        if means[other] is not None and means[level] is not None and means[other] < means[level] - 1e-9:
            level = other
        entry["input_scheme"], entry["input_mean_rank"] = level, means
        out[cell] = entry
    return {"protocol": "docs/SELECTION.md", "rule": "best mean rank over dev tasks x seeds of the best validation "
            "metric within each family; ties: fewer collapsed/missing runs, then the textbook configuration, then "
            "the listed order", "runs": len(dev), "cells": out}


def stage_coverage(root: str | Path, suite: str, records: Iterable[RunRecord],
                   failed: Iterable[str | Path] = ()) -> dict[str, int]:
    """How many runs of one stage the sweep at ``root`` planned and holds, ``{"planned", "found"}``.

    ``planned`` is the run count of the latest ``eigenrnn bench --suite <suite>``
    session in ``<root>/bench.json`` (its grid after any ``--families``,
    ``--cells`` or ``--seeds`` restriction); ``found`` counts the stage's
    finished records and failed run directories (``failed``, from
    :func:`eigenrnn.bench.stats.load_runs`).  A decision taken while
    ``found < planned`` ranks the missing runs last, so it is not the protocol's.

    Raises:
        EigenRNNError: when ``bench.json`` records no session of ``suite``.
    """
    _check_suite(suite)
    root = Path(root)
    path = root / "bench.json"
    try:
        sessions = json.loads(path.read_text()).get("sessions", [])
    except FileNotFoundError:
        sessions = []
    except (OSError, ValueError) as exc:
        raise EigenRNNError(f"{path} is not a readable bench.json ({exc})") from None
    planned = [s.get("runs") for s in sessions if s.get("suite") == suite]
    if not planned or not isinstance(planned[-1], int):
        raise EigenRNNError(f"{path} records no eigenrnn bench --suite {suite} session, so whether the stage is "
                            "complete cannot be told")
    found = sum(bench_suite(r.suite) == suite for r in records)
    found += sum(bench_suite(Path(p).relative_to(root).parts[0]) == suite for p in failed)
    return {"planned": planned[-1], "found": found}


def require_complete(root: str | Path, suite: str, records: Iterable[RunRecord], failed: Iterable[str | Path] = (),
                     *, allow_incomplete: bool = False) -> dict[str, int] | None:
    """Refuse a decision on an unfinished stage; returns ``None``, or the coverage when ``allow_incomplete``.

    >>> require_complete("/nonexistent", "selection-dev", [], allow_incomplete=True)
    Traceback (most recent call last):
    ...
    eigenrnn.errors.EigenRNNError: /nonexistent/bench.json records no eigenrnn bench --suite selection-dev session, so whether the stage is complete cannot be told
    """
    coverage = stage_coverage(root, suite, records, failed)
    if coverage["found"] >= coverage["planned"]:
        return None
    if not allow_incomplete:
        raise EigenRNNError(
            f"{suite} is not finished in {root}: {coverage['found']} of its {coverage['planned']} runs exist, and "
            f"a decision now would rank the {coverage['planned'] - coverage['found']} missing ones last.  Rerun "
            f"the same eigenrnn bench --suite {suite} command (it resumes), or pass --allow-incomplete to decide "
            "anyway (the file records it)")
    return coverage


def _check_suite(suite: str) -> None:
    if suite not in STAGE_SUITES:
        raise ValueError(bad_value("suite", suite, f"one of {', '.join(STAGE_SUITES)}"))


def write_decision(data: Mapping[str, Any], path: str | Path) -> Path:
    """Write a decision (instrument or chosen configurations) as sorted, indented JSON, atomically."""
    from eigenrnn.io import atomic_write_text

    path = Path(path)
    if path.suffix != ".json":
        raise ValueError(bad_value("--out", str(path), "a .json file name"))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


def read_decision(path: str | Path, argument: str) -> dict[str, Any]:
    """Read a decision file written by :func:`write_decision`, with an error naming ``argument``."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{argument}: {path} not found") from None
    except (OSError, ValueError) as exc:
        raise ValueError(bad_value(argument, str(path), f"a JSON file written by eigenrnn select ({exc})")) from None
