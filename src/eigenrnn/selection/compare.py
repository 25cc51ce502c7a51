"""The held-out comparison of the selection study: selected eigen against every baseline, Holm-corrected.

For each held-out task entry (one table) and cell, the selected eigen
configuration is paired over seeds (:func:`eigenrnn.bench.stats.paired_compare`,
test metric) against each family's selected configuration, each family's
published textbook setting, PyTorch's default and eigen's own default; the
p-values of one table (all its cells and baselines) get :func:`eigenrnn.selection.rule.holm`
(``p_holm``, the protocol's rule).  ``p_holm_cell`` is Holm over one cell's
comparisons alone, the family the protocol's seed count was argued from; it
is reported beside the rule and decides nothing (docs/SELECTION.md, section 3).
Each configuration's mean, collapse rate and run count sit next to it.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from eigenrnn.bench import stats
from eigenrnn.bench.stats import RunRecord
from eigenrnn.selection import families as fam
from eigenrnn.selection import rule


def roles(chosen: Mapping[str, Any], cell: str) -> dict[str, list[str]]:
    """``{config name: [its roles]}`` in ``cell``: ``selected:<family>``, ``textbook:<family>`` (pytorch: ``textbook:pytorch``)."""
    entry = chosen["cells"][cell]
    level = entry["input_scheme"]
    out: dict[str, list[str]] = {}
    for family, e in entry["families"].items():
        out.setdefault(fam.with_inputs(e["chosen"], level), []).append(f"selected:{family}")
        out.setdefault(fam.PUBLISHED[family], []).append(f"textbook:{family}")
    out.setdefault("pytorch", []).append("textbook:pytorch")
    return out


def compare_heldout(records: Iterable[RunRecord], chosen: Mapping[str, Any]) -> dict[str, Any]:
    """The held-out tables as JSON: per task key, configurations' summaries, the headline and the comparisons."""
    heldout = [r for r in records if r.suite == "heldout"]
    tasks: dict[str, Any] = {}
    for key in dict.fromkeys(rule.task_key(r) for r in heldout):
        runs = [r for r in heldout if rule.task_key(r) == key]
        table: dict[str, Any] = {"metric": runs[0].metric_name, "higher_is_better": runs[0].higher_is_better,
                                 "configs": {}, "headline": {}, "comparisons": []}
        for cell in dict.fromkeys(r.cell for r in runs):
            if cell not in chosen.get("cells", {}):
                continue
            mine = [r for r in runs if r.cell == cell]
            by_config = roles(chosen, cell)
            summary = {}
            for name, what in by_config.items():
                rs = sorted((r for r in mine if r.init == name), key=lambda r: r.seed)
                by_seed = {str(r.seed): r.value("test_metric") for r in rs}
                s = stats.summarize([v for v in by_seed.values() if v is not None])
                summary[name] = {"roles": what, "mean": s.mean, "std": s.std, "n": s.n, "runs": len(rs),
                                 "by_seed": by_seed,
                                 "collapse_rate": (sum(rule.run_collapsed(r) for r in rs) / len(rs)) if rs else None}
            table["configs"][cell] = summary
            table["headline"][cell] = _headline(summary, runs[0].higher_is_better)
            eigen = next((n for n, what in by_config.items() if "selected:eigen" in what), None)
            if eigen is None:
                continue
            rows = []
            for name, what in by_config.items():
                if name == eigen:
                    continue
                pairs = _pairs(mine, eigen, name)
                c = stats.paired_compare(pairs, higher_is_better=runs[0].higher_is_better)
                rows.append({"cell": cell, "eigen": eigen, "baseline": name, "role": ",".join(what),
                             "n_pairs": c.n_pairs, "wins": c.wins, "ties": c.ties,
                             "losses": c.losses, "p_value": c.p_value})
            for row, p in zip(rows, rule.holm([row["p_value"] for row in rows])):
                row["p_holm_cell"] = p
            table["comparisons"].extend(rows)
        for row, p in zip(table["comparisons"], rule.holm([row["p_value"] for row in table["comparisons"]])):
            row["p_holm"] = p
        tasks[key] = table
    return {"protocol": "docs/SELECTION.md", "metric": "test_metric", "tie_rtol": stats.TIE_RTOL,
            "correction": "Holm across the comparisons of one task's table",
            "correction_cell": "Holm across the comparisons of one cell (p_holm_cell; reported, not the rule)",
            "tasks": tasks}


def _pairs(runs: list[RunRecord], a: str, b: str) -> list[tuple[float | None, float | None]]:
    left = {r.seed: r.value("test_metric") for r in runs if r.init == a}
    right = {r.seed: r.value("test_metric") for r in runs if r.init == b}
    return [(left[s], right[s]) for s in sorted(set(left) & set(right))]


def _headline(summary: Mapping[str, Mapping[str, Any]], higher_is_better: bool) -> dict[str, Any]:
    """Eigen default, eigen selected, the best selected baseline and the best textbook baseline (by mean)."""
    sign = 1.0 if higher_is_better else -1.0

    def best(prefix: str, exclude: str) -> dict[str, Any] | None:
        rows = [(n, s) for n, s in summary.items() if s["n"] and any(
            w.startswith(prefix) and w != exclude for w in s["roles"])]
        if not rows:
            return None
        name, s = max(rows, key=lambda item: sign * item[1]["mean"])
        return {"config": name, "mean": s["mean"], "n": s["n"], "collapse_rate": s["collapse_rate"]}

    return {"eigen default": best("textbook:eigen", ""), "eigen selected": best("selected:eigen", ""),
            "best selected baseline": best("selected:", "selected:eigen"),
            "best textbook baseline": best("textbook:", "textbook:eigen")}
