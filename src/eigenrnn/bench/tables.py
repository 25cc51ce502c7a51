"""The benchmark report: tables, paired statistics and figures from a sweep directory.

:func:`aggregate` turns the runs into plain numbers (also written as
``report.json``); :func:`render_markdown` lays them out; :func:`write_report`
writes ``report.md``, ``report.json`` and ``figures/*.png`` atomically.

Per task family (the suite) and per task there is a table of the test metric
with inits (schemes and variants) as rows and cells as columns (mean ± std (n), std with ddof=1),
for Tomita also length-generalisation accuracy; steps to the task's target with
the number of runs that reached it; divergence counts; and the paired comparison
of ``eigen`` (or another ``reference``) against every other init over the same seeds.  A family whose
tasks do not share one score scale (e.g. MSE on different regression tasks) is
summarised by mean rank instead of mean value.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from eigenrnn.bench import stats
from eigenrnn.bench.profiles import CELLS, SUITES
from eigenrnn.errors import EigenRNNError, bad_value
from eigenrnn.io import atomic_directory, atomic_write_json, atomic_write_text, check_output

REFERENCE = "eigen"
METRICS = {"test_metric": "test", "generalisation_metric": "length-generalisation"}


def aggregate(records: Sequence[stats.RunRecord], *, rtol: float = stats.TIE_RTOL, reference: str = REFERENCE) -> dict:
    """All numbers of the report as a JSON-ready dict, keyed family → task.

    ``reference`` is the init (scheme or variant) paired against every other (default ``eigen``).
    """
    families = {}
    for family in _ordered({r.suite for r in records}, SUITES):
        fam = [r for r in records if r.suite == family]
        tasks = _ordered({r.task for r in fam}, ())
        inits, cells = _inits(fam), _ordered({r.cell for r in fam}, CELLS)
        same_scale = len(tasks) == 1 or (
            len({r.metric_name for r in fam}) == 1 and all(r.higher_is_better for r in fam))
        metrics = [m for m in METRICS if any(r.value(m) is not None for r in fam)]
        entry = {  # report.json keeps the key "schemes" (published reports use it) for the inits
            "tasks": tasks, "schemes": inits, "cells": cells,
            "family_statistic": "mean" if same_scale else "mean rank (1 = best)",
            "metrics": {},
            "divergence": _table(fam, inits, cells, _divergence),
            "wall_time_s": _table(fam, inits, cells, _wall_time),
            "per_task": {},
        }
        for metric in metrics:
            if same_scale:
                table = _table(fam, inits, cells, lambda rs, m=metric: _as_dict(_summary(rs, m)))
            else:
                ranks = stats.mean_ranks(fam, metric)
                table = {s: {c: _as_dict(ranks[(s, c)]) for c in cells if (s, c) in ranks} for s in inits}
            entry["metrics"][metric] = {
                "table": table,
                "paired": _paired(fam, metric, inits, cells, rtol, relative=not same_scale, reference=reference),
            }
        for task in tasks:
            runs = [r for r in fam if r.task == task]
            entry["per_task"][task] = {
                "metric_name": runs[0].metric_name,
                "higher_is_better": runs[0].higher_is_better,
                "target": runs[0].target,
                "metrics": {
                    m: {"table": _table(runs, inits, cells, lambda rs, m=m: _as_dict(_summary(rs, m))),
                        "paired": _paired(runs, m, inits, cells, rtol, relative=False, reference=reference)}
                    for m in metrics if any(r.value(m) is not None for r in runs)
                },
                "steps_to_target": _table(runs, inits, cells, _steps_to_target),
                "divergence": _table(runs, inits, cells, _divergence),
                "wall_time_s": _table(runs, inits, cells, _wall_time),
            }
        families[family] = entry
    return {"tie_rtol": rtol, "reference": reference, "families": families}


def render_markdown(numbers: dict, header: dict, figures: dict[str, list[str]]) -> str:
    """The markdown report for ``numbers`` (from :func:`aggregate`)."""
    rtol, ref = numbers["tie_rtol"], numbers["reference"]
    out = ["# Benchmark report", ""]
    for key, value in header.items():
        out.append(f"- **{key}**: {value}")
    out += [
        "",
        "Cells show mean ± sample std (ddof=1) and the number of runs (n) that finished "
        f"without diverging.  Paired comparisons put `{ref}` against each baseline on the same "
        f"task, cell and seed, as wins/ties/losses (a tie is a relative difference ≤ {rtol:g}; a "
        "diverged run loses to a finished one) and the two-sided Wilcoxon signed-rank p-value "
        "(scipy.stats.wilcoxon, zero differences split between the signs) over the pairs where "
        f"both finished, or `n<{stats.MIN_WILCOXON_PAIRS}` when there are fewer.  No correction "
        "for multiple comparisons is applied.",
        "",
    ]
    for family, fam in numbers["families"].items():
        cells, inits = fam["cells"], fam["schemes"]
        out += [f"## {family}", "", f"Tasks: {', '.join(fam['tasks'])}.", ""]
        if len(fam["tasks"]) > 1:
            for metric, m in fam["metrics"].items():
                what = f"{METRICS[metric]} metric, {fam['family_statistic']} over tasks and seeds"
                out += [f"### {family}: {what}", "", *_md_table(m["table"], inits, cells, _fmt_summary), ""]
                out += _md_paired(m["paired"], cells, ref, f"{family}: {ref} vs baselines, {METRICS[metric]} metric"
                                  + (" (Wilcoxon on relative differences)" if fam["family_statistic"] != "mean" else ""))
            out += [f"### {family}: diverged runs", "",
                    *_md_table(fam["divergence"], inits, cells, _fmt_divergence), ""]
        for task, t in fam["per_task"].items():
            better = "higher is better" if t["higher_is_better"] else "lower is better"
            out += [f"### {task}", "", f"Metric: {t['metric_name']} ({better}); "
                    f"target: {_fmt_target(t['target'], t['higher_is_better'])}.", ""]
            for metric, m in t["metrics"].items():
                out += [f"#### {task}: {METRICS[metric]} {t['metric_name']}", "",
                        *_md_table(m["table"], inits, cells, _fmt_summary), ""]
                out += _md_paired(m["paired"], cells, ref, f"{task}: {ref} vs baselines, {METRICS[metric]} {t['metric_name']}")
            out += [f"#### {task}: steps to target (runs reaching it)", "",
                    *_md_table(t["steps_to_target"], inits, cells, _fmt_steps), ""]
            out += [f"#### {task}: diverged runs", "",
                    *_md_table(t["divergence"], inits, cells, _fmt_divergence), ""]
            out += [f"#### {task}: wall time per run (s)", "",
                    *_md_table(t["wall_time_s"], inits, cells, _fmt_summary), ""]
            for name in figures.get(task, []):
                out += [f"![{task} {Path(name).stem}]({name})", ""]
    return "\n".join(out)


def write_report(root: str | os.PathLike, out: str | os.PathLike, *, rtol: float = stats.TIE_RTOL,
                 reference: str = REFERENCE, overwrite: bool = False) -> Path:
    """Write ``report.md``, ``report.json`` and ``figures/`` for the sweep at ``root`` into ``out``.

    ``out`` must pass :func:`eigenrnn.io.check_output` (``overwrite`` replaces an
    earlier report there); it is written atomically and marked as a report.
    """
    root = Path(root)
    check_output(out, "report", inputs=(root,), force=overwrite, legacy=(("report.json", "report.md"),))
    records, failed = stats.load_runs(root)
    if not records:
        raise EigenRNNError(
            f"no finished runs under {root}: expected <suite>/<task>/<cell>/<init>/seed<k>/summary.json "
            "or <suite>.records.jsonl.gz; "
            "run `eigenrnn bench` first"
        )
    present = sorted({r.init for r in records})
    if reference != REFERENCE and reference not in present:
        # The default may be missing (a sweep without eigen); a reference asked for must be there.
        raise ValueError(bad_value("reference", reference, f"an init (scheme or variant) of this sweep: {', '.join(present)}"))
    numbers = aggregate(records, rtol=rtol, reference=reference)
    header = _header(root, records, failed)
    with atomic_directory(out, overwrite=overwrite, marker="report") as tmp:
        figures = {}
        for family, fam in numbers["families"].items():
            for task in fam["tasks"]:
                runs = [r for r in records if r.suite == family and r.task == task]
                figures[task] = _plot_task(tmp / "figures", task, runs, fam["schemes"], fam["cells"], reference)
        atomic_write_text(tmp / "report.md", render_markdown(numbers, header, figures))
        atomic_write_json(tmp / "report.json", {"header": header, **numbers,
                                                "failed_runs": [str(p.relative_to(root)) for p in failed]})
    return Path(out)


# ---- aggregation helpers ----------------------------------------------------------


def _ordered(names, preferred: Sequence[str]) -> list[str]:
    names = set(names)
    return [n for n in preferred if n in names] + sorted(names - set(preferred), key=_natural)


def _natural(name: str):
    stem = name.rstrip("0123456789")
    return (stem, int(name[len(stem):]) if name[len(stem):] else -1)


def _inits(records) -> list[str]:
    from eigenrnn.bench.variants import names

    return _ordered({r.init for r in records}, names())


def _table(records, inits, cells, cell_fn) -> dict:
    table = {}
    for init in inits:
        for cell in cells:
            runs = [r for r in records if r.init == init and r.cell == cell]
            if runs:
                table.setdefault(init, {})[cell] = cell_fn(runs)
    return table


def _summary(runs, metric) -> stats.Summary:
    return stats.summarize(v for v in (r.value(metric) for r in runs) if v is not None)


def _as_dict(s: stats.Summary) -> dict:
    return {"mean": _finite(s.mean), "std": _finite(s.std), "n": s.n}


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _divergence(runs) -> dict:
    return {"diverged": sum(r.diverged for r in runs), "runs": len(runs)}


def _wall_time(runs) -> dict:
    return _as_dict(stats.summarize(r.wall_time_s for r in runs))


def _steps_to_target(runs) -> dict:
    reached = [r.steps_to_target for r in runs if r.steps_to_target is not None and not r.diverged]
    return {**_as_dict(stats.summarize(reached)), "reached": len(reached), "runs": len(runs)}


def _paired(records, metric, inits, cells, rtol, *, relative, reference=REFERENCE) -> dict:
    if reference not in inits:
        return {}
    result = {}
    for baseline in inits:
        if baseline == reference:
            continue
        for cell in cells:
            # A finished run without this metric (e.g. no generalisation split) is no pair at all.
            usable = [r for r in records if r.cell == cell and (r.diverged or r.value(metric) is not None)]
            mine = {(r.task, r.seed): r for r in usable if r.init == reference}
            theirs = {(r.task, r.seed): r for r in usable if r.init == baseline}
            keys = sorted(mine.keys() & theirs.keys())
            if not keys:
                continue
            pairs = [(mine[k].value(metric), theirs[k].value(metric)) for k in keys]
            c = stats.paired_compare(pairs, higher_is_better=mine[keys[0]].higher_is_better,
                                     rtol=rtol, relative=relative)
            result.setdefault(baseline, {})[cell] = {
                "n_pairs": c.n_pairs, "wins": c.wins, "ties": c.ties, "losses": c.losses,
                "n_finished": c.n_finished, "p_value": c.p_value}
    return result


# ---- markdown ------------------------------------------------------------------------


def _md_table(table, rows, cells, fmt) -> list[str]:
    lines = ["| scheme | " + " | ".join(cells) + " |", "| --- |" + " --- |" * len(cells)]
    for row in rows:
        if row in table:
            values = [fmt(table[row][c]) if c in table[row] else "" for c in cells]
            lines.append(f"| {row} | " + " | ".join(values) + " |")
    return lines


def _md_paired(paired, cells, reference, title) -> list[str]:
    if not paired:
        return [f"#### {title}", "", f"`{reference}` is not in this sweep.", ""]
    lines = [f"#### {title}", "", f"wins/ties/losses of {reference}, p-value; rows are the baselines.", ""]
    return lines + _md_table(paired, list(paired), cells, _fmt_paired) + [""]


def _fmt_summary(d) -> str:
    return str(stats.Summary(math.nan if d["mean"] is None else d["mean"],
                             math.nan if d["std"] is None else d["std"], d["n"]))


def _fmt_steps(d) -> str:
    if d["reached"] == 0:
        return f"— (0/{d['runs']})"
    spread = "" if d["std"] is None else f" ± {d['std']:.2g}"
    return f"{d['mean']:.4g}{spread} ({d['reached']}/{d['runs']})"


def _fmt_target(target, higher_is_better: bool) -> str:
    if isinstance(target, dict) and {"metric", "value", "split"} <= set(target):
        return f"{target['metric']} {'≥' if higher_is_better else '≤'} {target['value']:g} on {target['split']}"
    return str(target)


def _fmt_divergence(d) -> str:
    return f"{d['diverged']}/{d['runs']}"


def _fmt_paired(d) -> str:
    return str(stats.PairedComparison(d["n_pairs"], d["wins"], d["ties"], d["losses"],
                                      d["n_finished"], d["p_value"]))


def _header(root: Path, records, failed) -> dict:
    path = root / "bench.json"
    bench = json.loads(path.read_text()) if path.exists() else None
    counts = {"finished": sum(not r.diverged for r in records),
              "diverged": sum(r.diverged for r in records), "failed": len(failed)}
    seeds = sorted({r.seed for r in records})
    header = {"runs": ", ".join(f"{v} {k}" for k, v in counts.items()),
              "seeds": f"{len(seeds)} ({', '.join(map(str, seeds))})"}
    if bench is None:
        header.update(profile="not recorded (no bench.json)", commit="not recorded", hardware="not recorded")
        return header
    sessions = bench.get("sessions", [])
    commits = sorted({f"{s.get('commit') or 'unknown'}{' (dirty)' if s.get('dirty') else ''}" for s in sessions})
    machines = sorted({_machine(s.get("hardware", {})) for s in sessions})
    header.update(profile=bench.get("profile"), commit="; ".join(commits) or "unknown",
                  hardware="; ".join(machines) or "unknown", sessions=len(sessions),
                  compute=f"{sum(r.wall_time_s for r in records) / 3600:.2f} run-hours")
    not_run = [f"{g['scheme']} in {suite} ({g['runs']} runs, {', '.join(g['cells'])}): {g['reason']}"
               for suite, entry in bench.get("suites", {}).items() for g in entry.get("not_run", [])]
    if not_run:
        header["not run (the scheme refuses the model)"] = "; ".join(not_run)
    return header


def _machine(hw: dict) -> str:
    gpu = f", GPU {hw['cuda']}" if hw.get("cuda") else ", no GPU"
    return f"{hw.get('cpu')} ({hw.get('cores')} cores){gpu}, torch {hw.get('torch')}"


# ---- figures -------------------------------------------------------------------------


def _plot_task(folder: Path, task: str, runs, inits, cells, reference=REFERENCE) -> list[str]:
    """Learning curves (val metric vs epoch, min–max band over seeds) and a bar chart."""
    from matplotlib.figure import Figure

    folder.mkdir(parents=True, exist_ok=True)
    metric = runs[0].metric_name
    colors = {s: f"C{i % 10}" for i, s in enumerate(inits)}
    names = []

    # Losses such as MSE span decades across schemes: show them on a log axis.
    scale = "linear" if runs[0].higher_is_better else "log"
    fig = Figure(figsize=(4.2 * len(cells) + 1.6, 3.8), layout="constrained")
    axes = fig.subplots(1, len(cells), squeeze=False)[0]
    drew = False
    for ax, cell in zip(axes, cells):
        for init in inits:
            curves = [c for c in (_val_curve(r) for r in runs if r.cell == cell and r.init == init) if c]
            if not curves:
                continue
            epochs = np.array(sorted(set().union(*curves)))
            y = np.array([[c.get(e, np.nan) for e in epochs] for c in curves])
            width = 2.2 if init == reference else 1.2
            ax.plot(epochs, np.nanmean(y, axis=0), color=colors[init], lw=width, label=init, marker=".")
            ax.fill_between(epochs, np.nanmin(y, axis=0), np.nanmax(y, axis=0), color=colors[init], alpha=0.15)
            drew = True
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(f"{task}, {cell}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"validation {metric}")
        ax.set_yscale(scale)
    if drew:
        handles = {}
        for ax in axes:
            handles.update(zip(*reversed(ax.get_legend_handles_labels())))
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize="small")
        fig.suptitle(f"{task}: mean over seeds, band min–max")
        fig.savefig(folder / f"{task}_curves.png", dpi=110)
        names.append(f"figures/{task}_curves.png")

    fig = Figure(figsize=(max(6.0, 0.9 * len(inits) * len(cells) ** 0.5), 3.8), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(cells)
    for j, cell in enumerate(cells):
        means, stds = [], []
        for init in inits:
            s = _summary([r for r in runs if r.cell == cell and r.init == init], "test_metric")
            means.append(s.mean)
            stds.append(s.std if s.n > 1 else 0.0)
        ax.bar(np.arange(len(inits)) + (j - (len(cells) - 1) / 2) * width, means, width,
               yerr=stds, capsize=2, label=cell)
    ax.set_xticks(np.arange(len(inits)), inits, rotation=30, ha="right")
    ax.set_ylabel(f"test {metric}")
    ax.set_yscale(scale)
    ax.set_title(f"{task}: test {metric} per scheme (mean ± std over seeds)")
    ax.legend(title="cell", fontsize="small")
    fig.savefig(folder / f"{task}_bars.png", dpi=110)
    names.append(f"figures/{task}_bars.png")
    return names


def _val_curve(run: stats.RunRecord) -> dict[int, float]:
    """``{epoch: validation metric}`` of a run, from its ``metrics.jsonl`` lines (``run.history``)."""
    curve = {}
    for record in run.history:
        value = record.get("val_metric")
        if "epoch" in record and value is not None:
            curve[int(record["epoch"])] = float(value)
    return curve
