"""`eigenrnn select`: the decisions of the selection study (docs/SELECTION.md) from a sweep directory.

    eigenrnn bench --suite selection-instrument --profile cpu --out runs/selection
    eigenrnn select instrument runs/selection --out results/selection/instrument.json
    eigenrnn bench --suite selection-dev --profile cpu --out runs/selection --instrument results/selection/instrument.json
    eigenrnn select choose runs/selection --out results/selection/chosen.json
    eigenrnn bench --suite selection-heldout --profile cpu --out runs/selection \\
        --instrument results/selection/instrument.json --chosen results/selection/chosen.json
    eigenrnn select compare runs/selection --chosen results/selection/chosen.json --out results/selection/heldout.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub) -> None:
    parser = sub.add_parser(
        "select",
        help="choose the instrument and each family's configuration (the selection study)",
        description="Decisions of the selection study (docs/SELECTION.md), read from the runs of "
        "eigenrnn bench --suite selection-*: the instrument (lr and clip per task and cell), the chosen "
        "configuration per family and cell, and the held-out comparison with Holm-corrected p-values.",
    )
    steps = parser.add_subparsers(dest="step", metavar="STEP")
    steps.required = True
    for name, text in (("instrument", "choose lr and clip per task and cell from the selection-instrument runs"),
                       ("choose", "choose each family's configuration per cell from the selection-dev runs"),
                       ("compare", "pair the selected eigen against every baseline on the held-out runs")):
        step = steps.add_parser(name, help=text, description=text)
        step.add_argument("runs", help="the sweep directory (eigenrnn bench --out)")
        step.add_argument("--out", required=True, help="the JSON file to write")
        step.add_argument("--force", action="store_true",
                          help="replace an existing --out file (default: refuse, a decision is written once)")
        step.add_argument("--allow-incomplete", action="store_true",
                          help="decide although the stage's sweep has not finished (default: refuse; the file "
                          "then records how many runs it saw)")
        if name == "choose":
            step.add_argument("--families", default=None,
                              help="comma-separated families (default: all; as given to bench --families)")
        if name == "compare":
            step.add_argument("--chosen", required=True, help="the file eigenrnn select choose wrote")
        step.set_defaults(func=run)
    text = ("write the results page (chosen configurations, headline, comparisons, verdict, recommendations) "
            "and its headline figure (<out>.png)")
    page = steps.add_parser("page", help=text, description=text + " from the decision files alone")
    page.add_argument("--chosen", required=True, help="the file eigenrnn select choose wrote")
    page.add_argument("--heldout", default=None,
                      help="the file eigenrnn select compare wrote (default: none, a page of the development "
                      "stage's choice alone, with no verdict and no figure)")
    page.add_argument("--out", required=True, help="the markdown file to write (the figure goes beside it as .png)")
    page.add_argument("--force", action="store_true", help="replace an existing --out file and its figure (default: refuse)")
    page.set_defaults(func=write_page)


def write_page(args: argparse.Namespace) -> int:
    from eigenrnn.analysis.plots import save_figure
    from eigenrnn.errors import bad_value
    from eigenrnn.io import atomic_write_text, check_output
    from eigenrnn.selection import rule, verdict

    if Path(args.out).suffix != ".md":
        raise ValueError(bad_value("--out", args.out, "a .md file name"))
    out = Path(args.out)
    picture = out.with_suffix(".png") if args.heldout is not None else None
    inputs = tuple(p for p in (args.chosen, args.heldout) if p is not None)
    for path in (out, picture):
        if path is not None:
            check_output(path, "select", mode="file", inputs=inputs, force=args.force)
    decisions = {"--chosen": (args.chosen, "cells"), "--heldout": (args.heldout, "tasks")}
    read = {}
    for argument, (path, key) in decisions.items():
        if path is None:
            continue
        read[argument] = data = rule.read_decision(path, argument)
        if not isinstance(data, dict) or not isinstance(data.get(key), dict):
            raise ValueError(bad_value(argument, path, f"a decision file with {key!r}"))
    chosen, heldout = read["--chosen"], read.get("--heldout")
    text = verdict.markdown(heldout, chosen, figure_name=None if picture is None else picture.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    if heldout is None:
        atomic_write_text(out, text)
        print(f"no --heldout: the page shows the development stage's choice alone, no verdict; wrote {out}")
        return 0
    save_figure(verdict.figure(heldout), picture)
    atomic_write_text(out, text)
    outcome = verdict.verdict(heldout)
    print("verdict: " + ("the selected eigen design becomes the default" if outcome["becomes_default"]
                         else "the default stays (" + "; ".join(outcome["reasons"]) + ")"))
    print(f"wrote {out} and {picture}")
    return 0


def run(args: argparse.Namespace) -> int:
    from eigenrnn.bench.stats import load_runs
    from eigenrnn.errors import bad_value
    from eigenrnn.io import check_output
    from eigenrnn.selection import families as fam
    from eigenrnn.selection import rule

    check_output(args.out, "select", mode="file", inputs=(args.runs,), force=args.force)
    if not Path(args.runs).is_dir():
        raise FileNotFoundError(f"runs: {args.runs} is not a directory")
    records, failed = load_runs(args.runs)
    if failed:
        print(f"select: {len(failed)} failed runs count as missing (e.g. {failed[0]})", file=sys.stderr)
    suite = {"instrument": "selection-instrument", "choose": "selection-dev", "compare": "selection-heldout"}[args.step]
    incomplete = rule.require_complete(args.runs, suite, records, failed, allow_incomplete=args.allow_incomplete)
    if args.step == "instrument":
        decision = rule.choose_instrument(records)
        lines = [rule.instrument_markdown(decision).rstrip("\n")]  # the table of docs/SELECTION.md
    elif args.step == "choose":
        families = fam.FAMILIES if args.families is None else tuple(
            f.strip() for f in args.families.split(",") if f.strip())
        for name in families:
            if name not in fam.FAMILIES:
                raise ValueError(bad_value("--families", name, f"one of {', '.join(fam.FAMILIES)}"))
        decision = rule.select(records, families=families)
        lines = [f"{cell}/{family}: {e['chosen']}" for cell, c in decision["cells"].items()
                 for family, e in c["families"].items()]
        lines += [f"{cell}: input weights {c['input_scheme']}" for cell, c in decision["cells"].items()]
    else:
        from eigenrnn.selection.compare import compare_heldout

        decision = compare_heldout(records, rule.read_decision(args.chosen, "--chosen"))
        lines = [f"{key}/{row['cell']}: eigen vs {row['baseline']} ({row['role']}): {row['wins']}/{row['ties']}/"
                 f"{row['losses']}, p={row['p_value']}, Holm p={row['p_holm']}"
                 for key, t in decision["tasks"].items() for row in t["comparisons"]]
    if incomplete is not None:
        decision["incomplete"] = incomplete
        print(f"select: deciding on {incomplete['found']} of {incomplete['planned']} planned {suite} runs "
              "(--allow-incomplete); the file records it", file=sys.stderr)
    rule.write_decision(decision, args.out)
    for line in lines:
        print(line)
    print(f"wrote {args.out}")
    return 0
