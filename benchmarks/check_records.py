"""Rerun committed benchmark records from their own config.json and compare them with what was committed.

For each selected record ``<results>/<suite>/<task>/<cell>/<init>/seed<k>`` (a
run directory, or a run packed into ``<results>/<suite>.records.jsonl.gz`` by
``eigenrnn pack``) it trains the record's ``config.json`` again (into a new directory: a temporary
one, or ``--out``), at ``--threads`` torch threads like a bench worker, and
compares every epoch line of ``metrics.jsonl`` and the summary's metrics, bit
for bit (wall times excepted).  It prints committed against rerun values, the
hardware the record was trained on (its own ``hardware.json``; for a record
from before runs were stamped, every machine its suite's ``bench.json``
sessions used) against this machine's, and exits with status 1 when anything
differs.

Bit-identical reruns are promised only on the same CPU type, torch version and
thread count (docs/TRAINING.md, "Reproducibility"); on another CPU a mismatch
is expected for some records and the hardware lines say so.

    # one record of each suite (mnist and multi30k need the data; multi30k takes ~15 min at 1 thread)
    EIGENRNN_DATA=../shared/data .venv/bin/python benchmarks/check_records.py --suite all
    .venv/bin/python benchmarks/check_records.py --suite tomita --record tomita3/gru/eigen/seed1
    # any other sweep's suite directory (the selection study's instrument-*, dev, heldout) with --record
    .venv/bin/python benchmarks/check_records.py --results results/selection \
        --suite instrument-lr0.5x-clip0.1 --record tomita3/lstm/orthogonal/seed0
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from eigenrnn.bench.records import HARDWARE_FILE
from eigenrnn.selection.suites import bench_suite

REPO = Path(__file__).resolve().parents[1]
SUITES = ("tomita", "regression", "mnist", "multi30k")
# One record per suite: the cheapest Tomita and regression ones, and the two the issue found drifting.
DEFAULT_RECORDS = {
    "tomita": "tomita1/rnn/eigen/seed0",
    "regression": "adding/gru/eigen/seed0",
    "mnist": "mnist14/rnn/orthogonal/seed0",
    "multi30k": "multi30k/gru/eigen/seed0",
}
SUMMARY_FIELDS = ("status", "epochs", "steps", "best_epoch", "steps_to_target", "train_metric", "best_val_metric",
                  "test_metric", "generalisation_metric")
EPOCH_FIELDS = ("step", "train_loss", "train_metric", "val_loss", "val_metric")


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def recorded_hardware(results: Path, suite: str, record=None) -> list[dict]:
    """The machine(s) a record may have been trained on; one entry when that is known.

    A record packed since runs were stamped carries its own ``hardware.json``
    (:data:`eigenrnn.bench.records.HARDWARE_FILE`): that one.  Otherwise every
    distinct machine of the ``bench.json`` sessions of ``suite`` (a suite
    directory): a suite run over sittings on different CPUs does not say which
    one trained a given run, and naming the last would be a guess.
    """
    own = (record.files or {}).get(HARDWARE_FILE) if record is not None else None
    if own:
        stamp = json.loads(own)
        return [{**stamp, "commits": [], "own": True}]
    path = results / "bench.json"
    if not path.is_file():
        return []
    machines: dict[tuple, dict] = {}
    for s in json.loads(path.read_text())["sessions"]:
        if s["suite"] in (bench_suite(suite), "all"):
            hw = s["hardware"]
            key = (hw.get("cpu"), hw.get("cpu_capability"), hw.get("torch"), s.get("threads"))
            seen = machines.setdefault(key, {**hw, "threads": s.get("threads"), "commits": [], "own": False})
            if s.get("commit") and s["commit"][:7] not in seen["commits"]:
                seen["commits"].append(s["commit"][:7])
    return list(machines.values())


def _threads_text(threads: int | None) -> str:
    # Sessions from before the count was recorded ran workers that always set one thread.
    return "1 thread(s) (not recorded; the workers always used 1)" if threads is None else f"{threads} thread(s)"


def rerun(config: dict, out: Path, threads: int) -> tuple[list[dict], dict]:
    """Train a record's ``config`` (its config.json) into ``out``; returns its epoch lines and summary."""
    from eigenrnn.threads import set_threads
    from eigenrnn.train import TrainConfig, train

    set_threads(threads)
    config = TrainConfig.from_dict(config).to_dict()
    config["out"] = str(out)
    train(config, progress=False)
    return _read(out)


def _read(run: Path) -> tuple[list[dict], dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return lines, json.loads((run / "summary.json").read_text())


def compare(committed: tuple[list[dict], dict], rerun_: tuple[list[dict], dict]) -> list[tuple[str, object, object, bool]]:
    """Rows ``(field, committed, rerun, equal)``: every epoch line's metrics, then the summary's."""
    rows = []
    (old_lines, old), (new_lines, new) = committed, rerun_
    for i in range(max(len(old_lines), len(new_lines))):
        a = old_lines[i] if i < len(old_lines) else {}
        b = new_lines[i] if i < len(new_lines) else {}
        for name in EPOCH_FIELDS:
            rows.append((f"epoch {i + 1} {name}", a.get(name), b.get(name), _same(a.get(name), b.get(name))))
    for name in SUMMARY_FIELDS:
        rows.append((name, old.get(name), new.get(name), _same(old.get(name), new.get(name))))
    return rows


def check(results: Path, suite: str, path: str, out: Path, threads: int) -> bool:
    """Rerun one record and print the comparison; returns whether it reproduced bit for bit."""
    from eigenrnn.bench.records import find

    record = find(results, f"{suite}/{path}")
    if record.config is None:
        raise SystemExit(f"--record: {results / suite / path} holds no config.json")
    committed = (list(record.metrics), record.summary)
    rows = compare(committed, rerun(record.config, out / suite / path, threads))
    from eigenrnn.bench.runner import hardware

    here, machines = hardware(), recorded_hardware(results, suite, record)
    print(f"\n{suite}/{path}")
    for i, then in enumerate(machines):
        label = ("recorded on:" if len(machines) == 1 else "or:" if i else "recorded on one of:").ljust(12)
        commits = then["commits"]
        commit = f", commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}" if commits else ""
        print(f"  {label} {then.get('cpu')} ({then.get('cpu_capability', 'ISA not recorded')}), torch {then.get('torch')}, "
              f"{_threads_text(then.get('threads'))}{commit}"
              + (" (the run's own hardware.json)" if then["own"] else " (bench.json sessions of the suite)"))
    print(f"  rerun on:    {here['cpu']} ({here['cpu_capability']}), torch {here['torch']}, {threads} thread(s)")
    width = max(len(r[0]) for r in rows)
    print(f"  {'field':<{width}}  {'committed':>22}  {'rerun':>22}")
    for name, a, b, equal in rows:
        print(f"  {name:<{width}}  {a!s:>22}  {b!s:>22}{'' if equal else '   DIFFERS'}")
    ok = all(r[3] for r in rows)
    first = next((r[0] for r in rows if not r[3]), None)
    print(f"  {'bit-identical' if ok else f'DIFFERS from {first}'}")
    elsewhere = [m for m in machines if (m.get("cpu"), m.get("torch")) != (here["cpu"], here["torch"])]
    if not ok and elsewhere:
        print("  (recorded on another CPU or torch" + (", perhaps," if len(elsewhere) < len(machines) else "")
              + " and bit-identity is not promised across them; see docs/TRAINING.md)")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", required=True,
                        help=f"suite directory of --results to check ({', '.join(SUITES)} have a default record; "
                        "any other, e.g. the selection study's instrument-lr0.5x-clip1, dev or heldout, needs "
                        "--record), or all for those four")
    parser.add_argument("--record", action="append", metavar="TASK/CELL/INIT/SEEDK",
                        help="record path inside the suite (repeatable; default: "
                        + ", ".join(f"{s} {r}" for s, r in DEFAULT_RECORDS.items()) + ")")
    parser.add_argument("--results", type=Path, default=REPO / "results" / "bench-cpu",
                        help="committed sweep directory (default results/bench-cpu)")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for the reruns, which must not exist yet (default: a temporary one, removed after)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, as a bench worker (default 1)")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads: got {args.threads}; expected a positive int")
    if args.record and args.suite == "all":
        parser.error("--record: give one --suite with it, not all")
    if args.suite != "all":
        from eigenrnn.bench.records import suite_names

        present = suite_names(args.results)
        if args.suite not in present:
            parser.error(f"--suite: got {args.suite!r}; expected a suite of {args.results}: "
                         f"{', '.join(present) or 'none'} (or all)")
        if args.suite not in SUITES and not args.record:
            parser.error(f"--record: suite {args.suite!r} has no default record; name one (TASK/CELL/INIT/SEEDK)")
    suites = SUITES if args.suite == "all" else (args.suite,)
    selected = [(s, r) for s in suites for r in (args.record or [DEFAULT_RECORDS[s]])]
    if args.out is not None and args.out.exists():
        parser.error(f"--out: {args.out} exists; give a new directory (reruns never overwrite)")
    with tempfile.TemporaryDirectory(prefix="check-records-") as tmp:
        out = args.out or Path(tmp)
        results = [check(args.results, suite, path, out, args.threads) for suite, path in selected]
    print(f"\n{sum(results)} of {len(results)} records reproduced bit for bit")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
