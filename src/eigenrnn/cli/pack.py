"""`eigenrnn pack`: pack the finished runs of a bench sweep into one records file per suite, or extract one run."""

from __future__ import annotations

import sys

from eigenrnn.bench import profiles


def register(sub) -> None:
    parser = sub.add_parser(
        "pack",
        help="pack finished bench runs into SWEEP/<suite>.records.jsonl.gz (or --extract one)",
        description=(
            "Gather every finished run (config.json, metrics.jsonl, summary.json) of an `eigenrnn bench` "
            "directory into one compressed records file per suite, read it back, and only then remove the "
            "run directories it packed. `report` and `bench` read packed runs like run directories "
            "(bench skips them as finished). Unfinished runs, and run directories holding other files "
            "(checkpoints, error.txt), are left in place. With --extract, write one run back as a run directory."
        ),
    )
    parser.add_argument("sweep", help="the --out directory of `eigenrnn bench`")
    parser.add_argument("--suite", action="append", choices=profiles.SUITES,
                        help="suite to pack (repeatable; default: every suite of the sweep)")
    parser.add_argument("--extract", default=None, metavar="RUN",
                        help="instead of packing, write the run SUITE/TASK/CELL/SCHEME/seedK as a run directory "
                        "at --out (default: pack)")
    parser.add_argument("--out", default=None, help="with --extract: a new or empty directory (default: none)")
    parser.set_defaults(func=run)


def run(args) -> int:
    from eigenrnn.bench import records
    from eigenrnn.errors import bad_value

    if args.extract is not None:
        if args.out is None or args.suite:
            raise ValueError(bad_value("--extract", args.extract, "a run path together with --out, and no --suite"))
        out = records.write_run_dir(records.find(args.sweep, args.extract.strip("/")), args.out)
        print(f"pack: {args.extract} -> {out}")
        return 0
    if args.out is not None:
        raise ValueError(bad_value("--out", args.out, "nothing without --extract"))
    for result in records.pack_sweep(args.sweep, tuple(args.suite) if args.suite else None):
        print(f"pack: {result.suite}: {result.packed} runs in {result.file} ({len(result.added)} read from run "
              f"directories, {len(result.removed)} directories removed)")
        by_reason: dict[str, list[str]] = {}
        for path, why in result.kept.items():
            by_reason.setdefault(why, []).append(path)
        for why, paths in by_reason.items():  # one line per reason: a sweep can keep thousands of checkpointed runs
            which = paths[0] if len(paths) == 1 else f"{len(paths)} run directories (e.g. {paths[0]})"
            print(f"pack: kept {which}: {why}; packed all the same", file=sys.stderr)
        if result.unfinished:
            print(f"pack: {result.suite}: {len(result.unfinished)} unfinished run directories not packed, "
                  f"e.g. {result.unfinished[0]}", file=sys.stderr)
    return 0
