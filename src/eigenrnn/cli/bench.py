"""`eigenrnn bench`: train the benchmark grid of a suite under a profile, resumably."""

from __future__ import annotations

import os
import sys

from eigenrnn.bench import backends, profiles, variants
from eigenrnn.bench.runner import inapplicable, plan
from eigenrnn.cli._threads import add_threads_option
from eigenrnn.errors import bad_value
from eigenrnn.selection.suites import SUITES as SELECTION_SUITES


def register(sub) -> None:
    parser = sub.add_parser(
        "bench",
        help="run the initializer benchmark grid (task x cell x init x seed)",
        description=(
            "Train every run of the grid task x cell x init x seed of a suite into "
            "OUT/<suite>/<task>/<cell>/<init>/seed<k>/, over a pool of worker processes. "
            "Finished runs are skipped and interrupted ones resumed on a rerun. "
            "Every init gets the profile's budget; see --dry-run for the table."
        ),
    )
    parser.add_argument("--suite", required=True, choices=(*profiles.SUITES, "all", *SELECTION_SUITES),
                        help="a benchmark suite, all of them, or a stage of the selection study "
                        "(docs/SELECTION.md; profiles smoke and cpu) (required)")
    parser.add_argument("--profile", required=True, choices=profiles.PROFILES, help="budget profile (required; see docs/TRAINING.md)")
    parser.add_argument("--out", required=True, help="sweep directory (reuse it to resume)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes, --threads torch threads each (default: the number of cores; "
                        "with one GPU, about 4); with --backend ray and no --address, the CPUs of the local Ray instance")
    parser.add_argument("--inits", "--schemes", dest="inits", default=None,
                        help="comma-separated inits (schemes or variants), e.g. xavier,eigen:horizon,orthogonal+cal,"
                        "xavier{gain=2} (see docs/TRAINING.md; --schemes is an older spelling; default: every "
                        "scheme plus the chrono baseline xavier+chrono where this version supports it)")
    parser.add_argument("--cells", default=None, help="comma-separated cells among rnn,lstm,gru "
                        "(default: the profile's)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the profile's)")
    backends.add_arguments(parser)
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help="write a TensorBoard log per run to DIR/<suite>/<task>/<cell>/<init>/seed<k>/ "
                        "(needs the tensorboard extra) (default: none)")
    parser.add_argument("--instrument", default=None, metavar="FILE.json",
                        help="selection-dev/-heldout: the lr and clip per task and cell, from eigenrnn select "
                        "instrument (default: none; required by those suites)")
    parser.add_argument("--chosen", default=None, metavar="FILE.json",
                        help="selection-heldout: the chosen configurations, from eigenrnn select choose "
                        "(default: none; required by that suite)")
    parser.add_argument("--families", default=None,
                        help="selection suites: comma-separated families to run (default: all of them)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the budgets and what would run, and write nothing")
    add_threads_option(parser, per=" per worker (local backend)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from eigenrnn.bench.sweep import SweepGrid, run_sweep, sweep_grid
    from eigenrnn.io import check_output

    check_output(args.out, "bench", mode="resume", legacy=("bench.json",))  # fail before any work
    if args.tensorboard is not None:
        from eigenrnn.train.tensorboard import check_logdir, require_tensorboard

        require_tensorboard()
        check_logdir(args.tensorboard)
    if args.suite in SELECTION_SUITES:
        specs, selection_budgets = _selection_grid(args)
        grid = SweepGrid(args.suite, args.profile, specs, inapplicable(specs), budgets=selection_budgets)
    else:
        _refuse_selection_options(args)
        chosen = None if args.inits is None else variants.split(args.inits, "--inits")
        grid = sweep_grid(args.suite, args.profile, inits=chosen, cells=_split(args.cells, "--cells"),
                          seeds=args.seeds)
    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    if workers < 1:
        raise ValueError(bad_value("--workers", workers, "a positive integer"))
    chosen_backend = backends.from_args(args)  # a dry run also refuses backend options it would ignore
    if args.dry_run:
        for line in grid.exclusion_lines():
            print(line, file=sys.stderr)
        runnable = grid.runnable
        states = plan(runnable, args.out)
        if grid.budgets is None:
            print(profiles.budgets_markdown(args.profile))
        for name in grid.suites:
            mine = [s for s in runnable if s.suite == name]
            todo = {k: sum(states[s.path] == k for s in mine) for k in ("new", "resume", "done")}
            print(f"{name}: {len(mine)} runs ({todo['new']} new, {todo['resume']} to resume, "
                  f"{todo['done']} finished) -> {args.out}/{name}/")
        for line in _variant_lines(grid.specs):
            print(line)
        return 0
    outcome = run_sweep(args.suite, args.profile, args.out, backend=chosen_backend, workers=workers,
                        tensorboard=args.tensorboard, grid=grid)
    counts = outcome.counts
    print(f"bench: {len(grid.runnable)} runs: {counts['finished']} finished, {counts['skipped']} skipped "
          f"(done before), {counts['diverged']} diverged, {counts['failed']} failed -> {args.out}")
    for path, message in outcome.errors.items():
        print(f"failed: {path}: {message} (see {args.out}/{path}/error.txt)", file=sys.stderr)
    return 1 if counts["failed"] else 0


def _selection_grid(args):
    """The runs of a selection-study suite and its budgets per suite directory (for bench.json)."""
    from eigenrnn.selection import rule, suites

    if args.inits is not None:
        raise ValueError(bad_value("--inits", args.inits, "not given with a selection suite "
                                   "(its configurations are the families' grids; restrict them with --families)"))
    instrument = None if args.instrument is None else rule.read_decision(args.instrument, "--instrument")
    chosen = None if args.chosen is None else rule.read_decision(args.chosen, "--chosen")
    if args.suite == "selection-instrument" and instrument is not None:
        raise ValueError(bad_value("--instrument", args.instrument, "not given with selection-instrument (it chooses it)"))
    if args.suite != "selection-heldout" and chosen is not None:
        raise ValueError(bad_value("--chosen", args.chosen, "given with selection-heldout only"))
    specs = suites.grid(args.suite, args.profile, instrument=instrument, chosen=chosen,
                        families=_split(args.families, "--families"), cells=_split(args.cells, "--cells"),
                        seeds=args.seeds)
    record = suites.budgets(args.suite, args.profile)
    for flag, path in (("instrument", args.instrument), ("chosen", args.chosen)):
        if path is not None:  # which decisions this sweep ran on, for the record
            import hashlib
            from pathlib import Path

            record[flag] = {"file": str(path), "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    return specs, {name: record for name in dict.fromkeys(s.suite for s in specs)}


def _refuse_selection_options(args) -> None:
    for flag, value in (("--instrument", args.instrument), ("--chosen", args.chosen), ("--families", args.families)):
        if value is not None:
            raise ValueError(bad_value(flag, value, f"given with a selection suite ({', '.join(SELECTION_SUITES)}) only"))


def _variant_lines(specs) -> list[str]:
    """What each variant resolves to per task (the init fields its config.json will hold)."""
    fields = ("init", "init_kwargs", "calibrate")
    seen = {}
    for s in specs:  # a plain scheme's config["init"] is its own name, with no keyword arguments
        if s.init != s.config["init"] or s.config["init_kwargs"]:
            seen.setdefault((s.init, s.task), {k: s.config[k] for k in fields if k in s.config})
    return [f"variant {init} on {task}: " + ", ".join(f"{k}={v!r}" for k, v in resolved.items())
            for (init, task), resolved in seen.items()]


def _split(value: str | None, argument: str) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise ValueError(bad_value(argument, value, "a comma-separated list of names"))
    return names
