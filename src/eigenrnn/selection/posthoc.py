"""Post-hoc looks at the held-out tables: tallies and pairings that the rule does not use.

Everything here reads a ``heldout.json`` written by ``eigenrnn select compare``
(:func:`eigenrnn.selection.compare.compare_heldout`) after the verdict and
decides nothing.  docs/RESULTS.md quotes it and labels it post hoc:

* :func:`tally`: the selected eigen's seed wins/ties/losses, summed per task
  type and baseline role (the claims table of docs/RESULTS.md);
* :func:`best_by_input_level`: per held-out cell, the best configuration with
  each input-to-hidden scheme (the input scale is a factor of the study);
* :func:`against_all`: one configuration paired over seeds with every other
  configuration of a cell, uncorrected (e.g. eigen's *default* on Mackey–Glass).

    python scripts/selection_posthoc.py results/selection/heldout.json
    python scripts/selection_posthoc.py results/selection/heldout.json --against mackey-glass lstm eigen
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Mapping, Sequence

from eigenrnn.bench import stats
from eigenrnn.bench.variants import parse
from eigenrnn.errors import EigenRNNError, bad_value
from eigenrnn.init.table import SCHEMES
from eigenrnn.selection.rule import read_decision
from eigenrnn.selection.verdict import task_type

COUNTS = ("wins", "ties", "losses")


def input_level(config: str) -> str:
    """The input-to-hidden scheme that a configuration name runs with.

    >>> input_level("eigen"), input_level("kaiming"), input_level("sp:s0.9{input_scheme=kaiming}")
    ('xavier', 'kaiming', 'kaiming')
    """
    variant = parse(config)
    return variant.init_kwargs.get("input_scheme") or SCHEMES[variant.scheme].input_default


def tally(heldout: Mapping[str, Any]) -> dict[tuple[str, str, str], dict[str, int]]:
    """The selected eigen's seed wins, ties and losses against each baseline role, summed over a task type's tasks.

    Returns ``{(task type, role, cell): {"wins", "ties", "losses"}}`` with
    ``cell == "all"`` for the sum over cells; ``role`` is e.g.
    ``"selected:sp"`` or ``"textbook:sp"`` (a configuration with both roles
    counts for both).
    """
    out: dict[tuple[str, str, str], dict[str, int]] = {}
    for key, table in heldout["tasks"].items():
        kind = task_type(key)
        for comparison in table["comparisons"]:
            for role in comparison["role"].split(","):
                for cell in (comparison["cell"], "all"):
                    counts = out.setdefault((kind, role, cell), dict.fromkeys(COUNTS, 0))
                    for name in COUNTS:
                        counts[name] += comparison[name]
    return out


def best_by_input_level(heldout: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, tuple[str, float]]]:
    """Per held-out task and cell, the configuration with the best mean test metric for each input scheme.

    Returns ``{(task, cell): {input scheme: (configuration, mean)}}``.
    """
    out: dict[tuple[str, str], dict[str, tuple[str, float]]] = {}
    for key, table in heldout["tasks"].items():
        sign = 1.0 if table["higher_is_better"] else -1.0
        for cell, configs in table["configs"].items():
            best: dict[str, tuple[str, float]] = {}
            for name, summary in configs.items():
                mean, level = summary["mean"], input_level(name)
                if mean is not None and (level not in best or sign * mean > sign * best[level][1]):
                    best[level] = (name, mean)
            out[(key, cell)] = best
    return out


def against_all(heldout: Mapping[str, Any], task: str, cell: str, config: str) -> dict[str, stats.PairedComparison]:
    """``config`` paired over seeds with every other configuration of one held-out cell (test metric, uncorrected).

    Raises:
        ValueError: naming ``task``, ``cell`` or ``config`` when ``heldout`` has no such entry.
    """
    tasks = heldout["tasks"]
    if task not in tasks:
        raise ValueError(bad_value("task", task, f"a held-out task of the file: {', '.join(tasks)}"))
    table = tasks[task]
    if cell not in table["configs"]:
        raise ValueError(bad_value("cell", cell, f"one of {', '.join(table['configs'])}"))
    configs = table["configs"][cell]
    if config not in configs:
        raise ValueError(bad_value("config", config, f"a configuration of {task}/{cell}: {', '.join(configs)}"))
    mine = configs[config]["by_seed"]
    return {name: stats.paired_compare([(mine[s], other["by_seed"][s]) for s in mine if s in other["by_seed"]],
                                       higher_is_better=table["higher_is_better"])
            for name, other in configs.items() if name != config}


def read_heldout(path: str) -> dict[str, Any]:
    """Read a ``heldout.json``, with an error naming the argument when the file is another kind."""
    data = read_decision(path, "heldout")
    if not isinstance(data, dict) or not isinstance(data.get("tasks"), dict):
        raise ValueError(bad_value("heldout", path, "a heldout.json written by eigenrnn select compare"))
    return data


def _wtl(counts: Mapping[str, int]) -> str:
    return "/".join(str(counts[name]) for name in COUNTS)


def markdown(heldout: Mapping[str, Any], against: Sequence[str] | None = None) -> str:
    """The tallies and input-level bests as Markdown tables, plus one :func:`against_all` table when asked."""
    counts = tally(heldout)
    cells = sorted({cell for _, _, cell in counts if cell != "all"})
    lines = ["## Selected eigen's seed W/T/L per task type and baseline role (post hoc)", "",
             "| task type | role | all cells | " + " | ".join(cells) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in cells) + " |"]
    for kind, role in sorted({(k, r) for k, r, _ in counts}):
        by_cell = [_wtl(counts[(kind, role, c)]) if (kind, role, c) in counts else "—" for c in cells]
        lines.append(f"| {kind} | {role} | {_wtl(counts[(kind, role, 'all')])} | " + " | ".join(by_cell) + " |")
    best = best_by_input_level(heldout)
    levels = sorted({level for entry in best.values() for level in entry})
    lines += ["", "## Best configuration per input-to-hidden scheme (mean test metric, post hoc)", "",
              "| task | cell | " + " | ".join(levels) + " |", "| --- | --- | " + " | ".join("---" for _ in levels) + " |"]
    for (key, cell), entry in best.items():
        lines.append(f"| {key} | {cell} | " + " | ".join(
            f"{entry[level][1]:.4g} `{entry[level][0]}`" if level in entry else "—" for level in levels) + " |")
    if against:
        task, cell, config = against
        table = heldout["tasks"][task]
        configs, sign = table["configs"][cell], -1.0 if table["higher_is_better"] else 1.0
        pairs = against_all(heldout, task, cell, config)
        lines += ["", f"## `{config}` against every configuration of {task}/{cell} (uncorrected, post hoc)", "",
                  f"| configuration | mean | {config} W/T/L | p |", "| --- | --- | --- | --- |"]
        means = {name: configs[name]["mean"] for name in pairs}
        for name, c in sorted(pairs.items(), key=lambda item: (means[item[0]] is None, sign * (means[item[0]] or 0.0))):
            p = "—" if c.p_value is None else f"{c.p_value:.2g}"
            mean = "—" if means[name] is None else f"{means[name]:.4g}"
            lines.append(f"| `{name}` | {mean} | {c.wins}/{c.ties}/{c.losses} | {p} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Post-hoc tallies of the selection study's held-out tables "
                                                 "(they decide nothing; docs/SELECTION.md section 4 does).")
    parser.add_argument("heldout", help="heldout.json written by `eigenrnn select compare`")
    parser.add_argument("--against", nargs=3, metavar=("TASK", "CELL", "CONFIG"),
                        help="also pair CONFIG over seeds with every other configuration of TASK/CELL")
    args = parser.parse_args(argv)
    try:
        heldout = read_heldout(args.heldout)
        if args.against:
            against_all(heldout, *args.against)  # checks the names before anything is printed
        text = markdown(heldout, args.against)
    except (EigenRNNError, FileNotFoundError, ValueError) as exc:
        print(f"selection_posthoc: error: {exc}", file=sys.stderr)
        return 2
    print(text, end="")
    return 0
