"""`eigenrnn bench`: train the benchmark grid of a suite under a profile, resumably."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict

from eigenrnn.bench import profiles
from eigenrnn.cli._threads import add_threads_option
from eigenrnn.errors import bad_value


def register(sub) -> None:
    parser = sub.add_parser(
        "bench",
        help="run the initializer benchmark grid (task x cell x scheme x seed)",
        description=(
            "Train every run of the grid task x cell x scheme x seed of a suite into "
            "OUT/<suite>/<task>/<cell>/<scheme>/seed<k>/, over a pool of worker processes. "
            "Finished runs are skipped and interrupted ones resumed on a rerun. "
            "Every scheme gets the profile's budget; see --dry-run for the table."
        ),
    )
    parser.add_argument("--suite", required=True, choices=(*profiles.SUITES, "all"))
    parser.add_argument("--profile", required=True, choices=profiles.PROFILES)
    parser.add_argument("--out", required=True, help="sweep directory (reuse it to resume)")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes, --threads torch threads each (default: the number of cores; "
                        "with one GPU, about 4)")
    parser.add_argument("--schemes", default=None, help="comma-separated initializers (default: all)")
    parser.add_argument("--cells", default=None, help="comma-separated cells among rnn,lstm,gru "
                        "(default: the profile's)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default: the profile's)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the budgets and what would run, and write nothing")
    add_threads_option(parser, per=" per worker")
    parser.set_defaults(func=run)


def run(args) -> int:
    from eigenrnn.bench.runner import inapplicable, plan, run_grid, validate, write_bench_json

    specs = profiles.grid(args.suite, args.profile, schemes=_split(args.schemes, "--schemes"),
                          cells=_split(args.cells, "--cells"), seeds=args.seeds)
    workers = (os.cpu_count() or 1) if args.workers is None else args.workers
    if workers < 1:
        raise ValueError(bad_value("--workers", workers, "a positive integer"))
    names = sorted({s.suite for s in specs}, key=profiles.SUITES.index)
    excluded = inapplicable(specs)
    for scheme, reason in sorted({(s.scheme, excluded[s.path]) for s in specs if s.path in excluded}):
        runs = sum(s.scheme == scheme and excluded.get(s.path) == reason for s in specs)
        print(f"bench: not running {runs} {scheme} runs, the scheme refuses the model: {reason}", file=sys.stderr)
    runnable = [s for s in specs if s.path not in excluded]
    if args.dry_run:
        states = plan(runnable, args.out)
        print(profiles.budgets_markdown(args.profile))
        for name in names:
            mine = [s for s in runnable if s.suite == name]
            todo = {k: sum(states[s.path] == k for s in mine) for k in ("new", "resume", "done")}
            print(f"{name}: {len(mine)} runs ({todo['new']} new, {todo['resume']} to resume, "
                  f"{todo['done']} finished) -> {args.out}/{name}/")
        return 0
    validate(runnable, args.out)
    plan(runnable, args.out)  # refuses a directory trained with other budgets before touching it
    budgets = {name: asdict(profiles.budget(name, args.profile)) for name in names}
    record = dict(suite=args.suite, profile=args.profile, specs=specs, budgets=budgets,
                  workers=workers, threads=args.threads, excluded=excluded)
    started = write_bench_json(args.out, **record)
    result = run_grid(runnable, args.out, workers=workers, threads=args.threads)
    write_bench_json(args.out, **record, counts=result.counts, started=started)
    counts = result.counts
    print(f"bench: {len(runnable)} runs: {counts['finished']} finished, {counts['skipped']} skipped "
          f"(done before), {counts['diverged']} diverged, {counts['failed']} failed -> {args.out}")
    for path, message in result.errors.items():
        print(f"failed: {path}: {message} (see {args.out}/{path}/error.txt)", file=sys.stderr)
    return 1 if counts["failed"] else 0


def _split(value: str | None, argument: str) -> list[str] | None:
    if value is None:
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    if not names:
        raise ValueError(bad_value(argument, value, "a comma-separated list of names"))
    return names
