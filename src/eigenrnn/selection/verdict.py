"""The verdict of the selection study (docs/SELECTION.md, section 4) and its results page, from ``heldout.json``.

* :func:`cell_outcomes` -- per held-out task and cell, whether the selected
  eigen configuration won, tied or lost against the best selected baseline.
* :func:`verdict` -- whether the selected eigen design becomes the default of
  ``init_rnn(m, "eigen")``: it must win or tie every held-out cell, lose no
  comparison at Holm-corrected p < 0.05, and win at least a third of the cells.
* :func:`recommend` -- which family a user should pick, per cell and task type.
* :func:`markdown` -- the page: chosen configurations, headline table,
  comparisons with Holm's p-values and collapse rates, verdict, recommendations;
  :func:`figure` -- the headline as a figure.

Everything is computed from the JSON that ``eigenrnn select choose`` and
``eigenrnn select compare`` write, so the page is a pure function of committed files.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

#: A comparison is a significant loss below this Holm-adjusted p-value.
ALPHA = 0.05
#: The headline columns of docs/SELECTION.md, in the page's order.
HEADLINE = ("eigen default", "eigen selected", "best selected baseline", "best textbook baseline")
#: Task types of the recommendation, by the task key's prefix (first match).
TASK_TYPES = (("tomita", "Tomita grammars"), ("pmnist", "pixel MNIST"), ("mnist", "pixel MNIST"),
              ("adding", "regression"), ("mackey", "regression"), ("sine", "regression"),
              ("multi30k", "translation"))


def task_type(key: str) -> str:
    """The task type of a held-out task key.

    >>> task_type("tomita6"), task_type("pmnist14"), task_type("adding200")
    ('Tomita grammars', 'pixel MNIST', 'regression')
    """
    return next((kind for prefix, kind in TASK_TYPES if key.startswith(prefix)), key)


def _better(a: float, b: float, higher_is_better: bool) -> bool:
    return a > b if higher_is_better else a < b


def cell_outcomes(heldout: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per held-out task and cell: the selected eigen against the best selected baseline.

    ``outcome`` is ``"win"`` when eigen wins more seeds than it loses against
    that baseline **and** has the best mean of the four headline columns,
    ``"loss"`` when it loses more seeds than it wins, else ``"tie"``
    (``"not run"`` without both).  ``significant_losses`` lists every
    baseline of the cell that beat eigen with Holm-adjusted p < :data:`ALPHA`;
    ``significant_losses_cell`` the same under Holm over the cell alone
    (``p_holm_cell``), which is reported and decides nothing.
    """
    rows = []
    for key, table in heldout["tasks"].items():
        higher = table["higher_is_better"]
        for cell, head in table["headline"].items():
            eigen, best = head.get("eigen selected"), head.get("best selected baseline")
            row: dict[str, Any] = {"task": key, "cell": cell, "eigen": eigen and eigen["config"],
                                   "baseline": best and best["config"], "outcome": "not run",
                                   "wins": None, "ties": None, "losses": None, "difference": None}
            mine = [c for c in table["comparisons"] if c["cell"] == cell]
            for field, p in (("significant_losses", "p_holm"), ("significant_losses_cell", "p_holm_cell")):
                row[field] = [c["baseline"] for c in mine if c["losses"] > c["wins"]
                              and c.get(p) is not None and c[p] < ALPHA]
            pair = next((c for c in mine if best is not None and c["baseline"] == best["config"]), None)
            if eigen is not None and best is not None and pair is not None:
                means = [h["mean"] for h in head.values() if h is not None and h is not eigen]
                best_mean = all(not _better(m, eigen["mean"], higher) for m in means)
                row.update(wins=pair["wins"], ties=pair["ties"], losses=pair["losses"],
                           difference=eigen["mean"] - best["mean"])
                if pair["losses"] > pair["wins"]:
                    row["outcome"] = "loss"
                elif pair["wins"] > pair["losses"] and best_mean:
                    row["outcome"] = "win"
                else:
                    row["outcome"] = "tie"
            rows.append(row)
    return rows


def verdict(heldout: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the selected eigen design becomes the default (docs/SELECTION.md, section 4).

    Returns ``{"becomes_default", "reasons", "cells", "wins", "ties", "losses",
    "not_run", "significant_losses", "significant_losses_cell", "becomes_default_cell",
    "closest"}``; the ``_cell`` entries apply the rule with Holm over each cell
    alone (reported, not the rule); ``closest`` is the cell
    where eigen's mean came nearest to (or beat) the best selected baseline,
    relative to that baseline's mean.
    """
    rows = cell_outcomes(heldout)
    count = {o: sum(r["outcome"] == o for r in rows) for o in ("win", "tie", "loss", "not run")}
    significant = [(r["task"], r["cell"], b) for r in rows for b in r["significant_losses"]]
    significant_cell = [(r["task"], r["cell"], b) for r in rows for b in r["significant_losses_cell"]]
    judged = len(rows) - count["not run"]
    needed = math.ceil(judged / 3)
    blockers = []  # every reason but significance, which is judged under two Holm families below
    if count["not run"]:
        blockers.append(f"{count['not run']} cell(s) without both eigen and a selected baseline")
    if count["loss"]:
        blockers.append(f"eigen loses {count['loss']} of {judged} cells to the best selected baseline")
    if count["win"] < needed:
        blockers.append(f"eigen wins {count['win']} of {judged} cells; at least {needed} needed")
    reasons = blockers + ([f"{len(significant)} comparison(s) lost at Holm p < {ALPHA:g}"] if significant else [])
    signed = []
    for r in rows:
        if r["difference"] is not None:
            table = heldout["tasks"][r["task"]]
            scale = abs(table["headline"][r["cell"]]["best selected baseline"]["mean"]) or 1.0
            signed.append(((r["difference"] if table["higher_is_better"] else -r["difference"]) / scale, r))
    closest = max(signed, key=lambda item: item[0], default=(None, None))
    return {"becomes_default": not reasons and judged > 0, "reasons": reasons, "cells": rows,
            "wins": count["win"], "ties": count["tie"], "losses": count["loss"], "not_run": count["not run"],
            "significant_losses": significant, "significant_losses_cell": significant_cell,
            "becomes_default_cell": not blockers and not significant_cell and judged > 0,
            "closest": None if closest[1] is None else {"task": closest[1]["task"], "cell": closest[1]["cell"],
                                                         "relative_gap": closest[0]}}


def recommend(heldout: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per task type and cell, the family whose selected configuration has the best mean rank over the held-out tasks.

    Within each task and cell the families' selected configurations are ranked
    by mean test metric (1 = best, ties averaged); the ranks are averaged over
    the tasks of one type.  Returns ``{type: {cell: {"family", "config",
    "mean_rank", "tasks", "ranks": {family: mean rank}}}}``.
    Exact ties of the mean rank go to the earlier family of
    :data:`eigenrnn.selection.families.FAMILIES`.
    """
    from scipy.stats import rankdata

    from eigenrnn.selection.families import FAMILIES

    ranks: dict[tuple[str, str], dict[str, list[float]]] = {}
    configs: dict[tuple[str, str], dict[str, str]] = {}
    tasks: dict[tuple[str, str], set[str]] = {}
    for key, table in heldout["tasks"].items():
        sign = -1.0 if table["higher_is_better"] else 1.0
        for cell, summary in table["configs"].items():
            picked = {role.split(":", 1)[1]: (name, s) for name, s in summary.items() for role in s["roles"]
                      if role.startswith("selected:") and s["n"]}
            if not picked:
                continue
            families = list(picked)
            order = rankdata([sign * picked[f][1]["mean"] for f in families])
            group = (task_type(key), cell)
            for family, rank in zip(families, order):
                ranks.setdefault(group, {}).setdefault(family, []).append(float(rank))
                configs.setdefault(group, {})[family] = picked[family][0]
            tasks.setdefault(group, set()).add(key)
    out: dict[str, dict[str, Any]] = {}
    for (kind, cell), by_family in ranks.items():
        means = {f: sum(r) / len(r) for f, r in by_family.items()}
        family = min(means, key=lambda f: (means[f], FAMILIES.index(f)))
        out.setdefault(kind, {})[cell] = {"family": family, "config": configs[(kind, cell)][family],
                                          "mean_rank": means[family], "tasks": sorted(tasks[(kind, cell)]),
                                          "ranks": means}
    return out


def _fmt(value: float | None, digits: int = 4) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}g}"


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def markdown(heldout: Mapping[str, Any] | None, chosen: Mapping[str, Any], figure_name: str | None = None) -> str:
    """The selection study's results page (markdown) from ``heldout.json`` and ``chosen.json``.

    ``heldout`` is ``None`` between the two stages: the page then shows the
    development stage's choice and says that no held-out result, hence no
    verdict, exists yet.
    ``figure_name``: the file name of :func:`figure`'s PNG beside the page, shown under the headline.
    """
    decisions = (("chosen.json", chosen), ("heldout.json", heldout or {}))
    lines = [f"> **Incomplete:** {name} decided on {d['incomplete']['found']} of {d['incomplete']['planned']} "
             "planned runs (`--allow-incomplete`); this is not the protocol's result.\n"
             for name, d in decisions if d.get("incomplete")]
    lines += ["## Selected configurations (chosen.json)", "",
             "| cell | input weights | " + " | ".join(_families(chosen)) + " |",
             "| --- | --- | " + " | ".join("---" for _ in _families(chosen)) + " |"]
    for cell, entry in chosen["cells"].items():
        picks = [f"`{entry['families'][f]['chosen']}`" if f in entry["families"] else "—" for f in _families(chosen)]
        lines.append(f"| {cell} | {entry['input_scheme']} | " + " | ".join(picks) + " |")
    lines += _design_ranks(chosen, "eigen")
    if heldout is None:
        lines += ["", "## Held-out evaluation", "", "Not run yet: these configurations were chosen on the "
                  "development tasks alone, and no held-out result, hence no verdict, exists."]
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines) + "\n")
    lines += ["", "## Headline: held-out task and cell (mean test metric, collapse rate, n)", "",
              "| task | cell | metric | " + " | ".join(HEADLINE) + " |", "| --- | --- | --- |" + " --- |" * 4]
    for key, table in heldout["tasks"].items():
        for cell, head in table["headline"].items():
            cols = ["—" if head.get(c) is None else f"{_fmt(head[c]['mean'])} ({_rate(head[c]['collapse_rate'])}, "
                    f"{head[c]['n']}) `{head[c]['config']}`" for c in HEADLINE]
            direction = "↑" if table["higher_is_better"] else "↓"
            lines.append(f"| {key} | {cell} | {table['metric']} {direction} | " + " | ".join(cols) + " |")
    if figure_name is not None:
        lines += ["", f"![headline: mean (large marker) and each seed (dots) per held-out task and cell]({figure_name})"]
    lines += ["", "## Selected eigen against every baseline (test metric, paired over seeds)", "",
              "| task | cell | baseline | role | eigen mean | baseline mean | W/T/L | p | Holm p | Holm p (cell) "
              "| collapse (eigen / baseline) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key, table in heldout["tasks"].items():
        for c in table["comparisons"]:
            summary = table["configs"][c["cell"]]
            e, b = summary[c["eigen"]], summary[c["baseline"]]
            lines.append(f"| {key} | {c['cell']} | `{c['baseline']}` | {c['role']} | {_fmt(e['mean'])} ± {_fmt(e['std'], 2)} "
                         f"| {_fmt(b['mean'])} ± {_fmt(b['std'], 2)} | {c['wins']}/{c['ties']}/{c['losses']} "
                         f"| {_fmt(c['p_value'], 2)} | {_fmt(c['p_holm'], 2)} | {_fmt(c.get('p_holm_cell'), 2)} "
                         f"| {_rate(e['collapse_rate'])} / {_rate(b['collapse_rate'])} |")
    v = verdict(heldout)
    lines += ["", "## Verdict (docs/SELECTION.md, section 4)", "",
              f"Cells: {v['wins']} won, {v['ties']} tied, {v['losses']} lost against the best selected baseline"
              + (f", {v['not_run']} not run" if v["not_run"] else "")
              + f"; comparisons lost at Holm p < {ALPHA:g}: {len(v['significant_losses'])}.", ""]
    if v["becomes_default"]:
        lines.append("**The selected eigen design meets the rule: it becomes the default of `init_rnn(m, \"eigen\")`.**")
    else:
        lines.append("**No eigen design beat the selected baselines by the rule; the default stays.** "
                     "Why: " + "; ".join(v["reasons"]) + ".")
    changes = "would change it" if v["becomes_default_cell"] != v["becomes_default"] else "gives the same verdict"
    lines.append(f"Holm over one cell's comparisons instead of the whole task table (reported, not the rule): "
                 f"{len(v['significant_losses_cell'])} comparison(s) lost at p < {ALPHA:g}, which {changes}.")
    if v["closest"] is not None:
        c = v["closest"]
        lines.append(f"Closest: {c['task']} / {c['cell']} (eigen's mean {c['relative_gap']:+.1%} relative to the "
                     "best selected baseline's, in the better-is-positive direction).")
    lines += ["", "| task | cell | selected eigen | best selected baseline | W/T/L | outcome | lost at Holm p < 0.05 to |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in v["cells"]:
        wtl = "—" if r["wins"] is None else f"{r['wins']}/{r['ties']}/{r['losses']}"
        lost = ", ".join(f"`{b}`" for b in r["significant_losses"]) or "—"
        lines.append(f"| {r['task']} | {r['cell']} | `{r['eigen']}` | `{r['baseline']}` | {wtl} | {r['outcome']} | {lost} |")
    lines += ["", "## Which family to pick (best mean rank of the selected configurations)", "",
              "| task type | cell | family | configuration | mean rank | tasks |", "| --- | --- | --- | --- | --- | --- |"]
    for kind, cells in recommend(heldout).items():
        for cell, r in cells.items():
            lines.append(f"| {kind} | {cell} | {r['family']} | `{r['config']}` | {r['mean_rank']:.2f} of "
                         f"{len(r['ranks'])} | {', '.join(r['tasks'])} |")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines) + "\n")


def figure(heldout: Mapping[str, Any]) -> Any:
    """The headline as a figure: one panel per held-out task, the four headline columns per cell.

    Each column shows its mean (large marker) and every seed (small dots):
    with 6-10 seeds of a bounded metric, mean ± std would draw bars past 1.0
    accuracy and hide a lone collapsed seed.
    """
    from eigenrnn.analysis.plots import new_figure

    keys = list(heldout["tasks"])
    fig = new_figure(width=3.2 * max(len(keys), 1), height=3.4)
    markers = ("o", "s", "D", "^")
    for i, key in enumerate(keys):
        table = heldout["tasks"][key]
        ax = fig.add_subplot(1, len(keys), i + 1)
        cells = list(table["headline"])
        plotted: list[float] = []
        for j, column in enumerate(HEADLINE):
            color = f"C{j}"
            xs, ys = [], []
            for k, cell in enumerate(cells):
                head = table["headline"][cell].get(column)
                if head is None:
                    continue
                x = k + (j - 1.5) * 0.18
                xs.append(x)
                ys.append(head["mean"])
                seeds = [v for v in table["configs"][cell][head["config"]]["by_seed"].values() if v is not None]
                ax.scatter([x + 0.05] * len(seeds), seeds, s=6, color=color, alpha=0.45, linewidths=0)
                plotted += seeds
            ax.scatter(xs, ys, marker=markers[j], color=color, s=28, label=column if i == 0 else None)
        if not table["higher_is_better"] and plotted and min(plotted) > 0:
            ax.set_yscale("log")  # errors (MSE) of seeds that learned and of ones that did not differ by decades
        ax.set_xticks(range(len(cells)), cells)
        ax.set_title(f"{key} ({table['metric']}, {'higher' if table['higher_is_better'] else 'lower'} is better)",
                     fontsize=8)
    if keys:
        fig.legend(loc="outside lower center", ncol=4, fontsize=7)
    return fig


def _design_ranks(chosen: Mapping[str, Any], family: str) -> list[str]:
    """The family's configurations on the dev tasks: mean rank overall and per task (does the best differ by task?)."""
    lines: list[str] = []
    for cell, entry in chosen["cells"].items():
        configs = entry["families"].get(family, {}).get("configs", {})
        tasks = sorted({k for c in configs.values() for k in c.get("by_task", {})})
        if not configs or not tasks:
            continue
        if not lines:
            lines = ["", f"## The {family} designs on the development tasks (mean rank within the family, 1 = best)", ""]
        lines += [f"**{cell}** (chosen: `{entry['families'][family]['chosen']}`)", "",
                  "| configuration | overall | " + " | ".join(tasks) + " |", "| --- | --- |" + " --- |" * len(tasks)]
        for name, c in configs.items():
            by_task = c.get("by_task", {})
            lines.append(f"| `{name}` | {_fmt(c['mean_rank'], 3)} | "
                         + " | ".join(_fmt(by_task.get(k), 3) for k in tasks) + " |")
        lines.append("")
    return lines


def _families(chosen: Mapping[str, Any]) -> list[str]:
    from eigenrnn.selection.families import FAMILIES

    present = {f for entry in chosen["cells"].values() for f in entry["families"]}
    return [f for f in FAMILIES if f in present]
