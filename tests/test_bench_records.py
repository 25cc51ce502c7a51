"""Packed benchmark records: round trip, report and bench planning over packs, and what `pack` removes."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from eigenrnn.bench import profiles, records
from eigenrnn.bench.tables import write_report
from eigenrnn.bench.runner import _start, plan
from eigenrnn.bench.stats import load_runs
from eigenrnn.cli import main
from eigenrnn.errors import EigenRNNError
from eigenrnn.io import append_jsonl, atomic_write_json, mark_output
from eigenrnn.train import TrainConfig


def write_run(root, path, *, value, diverged=False, config=None, tokenizer=None, hardware=None):
    """A finished run directory as the trainer writes it (its writers, so bytes match)."""
    run = root / path
    run.mkdir(parents=True)
    suite, task, cell, scheme, seed = path.split("/")
    atomic_write_json(run / "config.json", config or {"task": task, "cell": cell, "init": scheme,
                                                      "seed": int(seed[4:]), "out": str(run)})
    for epoch in (1, 2):
        loss = math.nan if diverged and epoch == 2 else 1.0 / epoch
        append_jsonl(run / "metrics.jsonl", {"epoch": epoch, "step": 10 * epoch, "train_loss": loss,
                                             "val_metric": value * epoch / 2})
    atomic_write_json(run / "summary.json", {
        "task": task, "cell": cell, "init": scheme, "seed": int(seed[4:]),
        "status": "diverged" if diverged else "finished", "metric_name": "accuracy", "higher_is_better": True,
        "test_metric": None if diverged else value, "best_val_metric": value, "generalisation_metric": None,
        "target": 1.0, "epochs_to_target": None, "steps_to_target": 20, "epochs": 2, "steps": 20,
        "wall_time_s": 1.5, "diverged": diverged, "device": "cpu"})
    if tokenizer is not None:
        (run / "tokenizer.json").write_text(tokenizer)
    if hardware is not None:  # the bench worker's stamp of the machine that trained the run
        atomic_write_json(run / "hardware.json", hardware)
    return run


@pytest.fixture
def sweep(tmp_path):
    """Two suites of finished runs (one diverged with a NaN loss), a failed, an unfinished and a kept run."""
    root = tmp_path / "sweep"
    mark_output(root, "bench")
    (root / "bench.json").write_text(json.dumps({"profile": "smoke", "suites": {}, "sessions": []}))
    for seed in range(3):
        for scheme, value in (("eigen", 0.9 - 0.1 * seed), ("xavier", 0.8 - 0.05 * seed)):
            mark_output(write_run(root, f"tomita/tomita3/gru/{scheme}/seed{seed}", value=value), "train")
    write_run(root, "tomita/tomita3/rnn/eigen/seed0", value=0.5, diverged=True)
    write_run(root, "tomita/tomita3/rnn/xavier/seed0", value=0.6, tokenizer='{"model": "wordpiece"}\n',
              hardware={"cpu": "Test CPU", "threads": 1})
    write_run(root, "regression/adding/gru/eigen/seed0", value=0.3)
    (write_run(root, "regression/adding/gru/xavier/seed0", value=0.2) / "best.pt").write_bytes(b"model")
    failed = root / "tomita/tomita3/lstm/eigen/seed0"
    failed.mkdir(parents=True)
    (failed / "error.txt").write_text("RuntimeError: boom\n")
    unfinished = root / "tomita/tomita3/lstm/xavier/seed0"
    unfinished.mkdir(parents=True)
    (unfinished / "checkpoint.pt").write_bytes(b"ckpt")
    (root / "notes.txt").write_text("mine\n")
    return root


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_pack_round_trip_is_equal_and_removes_only_what_it_packed(sweep, tmp_path):
    before = {r.path: r for r in records.iter_records(sweep)}
    originals = _tree(sweep)
    assert len(before) == 10
    results = {r.suite: r for r in records.pack_sweep(sweep)}
    assert set(results) == {"tomita", "regression"}
    assert results["tomita"].packed == 8 and len(results["tomita"].removed) == 8
    assert results["tomita"].unfinished == ("tomita/tomita3/lstm/eigen/seed0", "tomita/tomita3/lstm/xavier/seed0")
    assert results["regression"].kept == {"regression/adding/gru/xavier/seed0":
                                          "holds best.pt, which the pack does not keep"}
    after = {r.path: r for r in records.iter_records(sweep)}
    assert after.keys() == before.keys()
    for path, record in after.items():  # NaN losses included
        assert json.dumps(record.to_json()) == json.dumps(before[path].to_json())
    # Left: the records files, bench's own files, the unfinished/failed/kept runs and the user's file.
    left = set(_tree(sweep))
    assert left == {".eigenrnn-output", "bench.json", "notes.txt", "tomita.records.jsonl.gz",
                    "regression.records.jsonl.gz", "tomita/tomita3/lstm/eigen/seed0/error.txt",
                    "tomita/tomita3/lstm/xavier/seed0/checkpoint.pt",
                    "regression/adding/gru/xavier/seed0/best.pt", "regression/adding/gru/xavier/seed0/config.json",
                    "regression/adding/gru/xavier/seed0/metrics.jsonl",
                    "regression/adding/gru/xavier/seed0/summary.json"}
    assert not (sweep / "tomita/tomita3/gru").exists() and not (sweep / "regression/adding/gru/eigen").exists()
    # Every packed run extracts to the bytes that were packed.
    for path in ("tomita/tomita3/rnn/eigen/seed0", "tomita/tomita3/rnn/xavier/seed0"):
        out = records.write_run_dir(records.find(sweep, path), tmp_path / "x" / path)
        assert _tree(out) == {name[len(path) + 1:]: data for name, data in originals.items()
                              if name.startswith(path + "/")}


def test_pack_bytes_are_deterministic_and_a_second_pack_changes_nothing(sweep, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sweep, copy)
    records.pack_sweep(sweep, ("tomita",))
    records.pack_sweep(copy, ("tomita",))
    first = (sweep / "tomita.records.jsonl.gz").read_bytes()
    assert first == (copy / "tomita.records.jsonl.gz").read_bytes()
    assert not (sweep / "regression.records.jsonl.gz").exists()  # --suite packs that suite only
    assert (records.pack_sweep(sweep, ("tomita",))[0].added, (sweep / "tomita.records.jsonl.gz").read_bytes()) \
        == ((), first)


def test_report_over_packed_records_equals_report_over_run_directories(sweep, tmp_path):
    write_report(sweep, tmp_path / "dirs")
    runs, failed = load_runs(sweep)
    records.pack_sweep(sweep)
    write_report(sweep, tmp_path / "packed")
    packed_runs, packed_failed = load_runs(sweep)
    assert [(r.path, r.test_metric, r.history) for r in packed_runs] == [(r.path, r.test_metric, r.history)
                                                                         for r in runs]
    assert packed_failed == failed == [sweep / "tomita/tomita3/lstm/eigen/seed0"]
    assert (tmp_path / "packed/report.md").read_text() == (tmp_path / "dirs/report.md").read_text()
    assert json.loads((tmp_path / "packed/report.json").read_text()) == \
        json.loads((tmp_path / "dirs/report.json").read_text())
    assert sorted(p.name for p in (tmp_path / "packed/figures").iterdir()) == \
        sorted(p.name for p in (tmp_path / "dirs/figures").iterdir())


def test_a_run_directory_with_a_summary_wins_over_its_packed_record(sweep):
    path = "tomita/tomita3/gru/eigen/seed0"
    records.pack_sweep(sweep)
    write_run(sweep, path, value=0.42)  # rerun after packing
    assert records.find(sweep, path).summary["test_metric"] == 0.42
    assert {r.path: r.summary["test_metric"] for r in records.iter_records(sweep)}[path] == 0.42
    shutil.rmtree(sweep / path)
    (sweep / path).mkdir(parents=True)
    (sweep / path / "checkpoint.pt").write_bytes(b"")  # no summary: the packed record is the run
    assert records.find(sweep, path).summary["test_metric"] == pytest.approx(0.9)
    with pytest.raises(EigenRNNError, match="record: got 'tomita/tomita9/gru/eigen/seed0'"):
        records.find(sweep, "tomita/tomita9/gru/eigen/seed0")


def test_bench_treats_packed_runs_as_finished(tmp_path):
    root = tmp_path / "sweep"
    mark_output(root, "bench")
    specs = profiles.grid("regression", "smoke", inits=["eigen", "xavier"], cells=["gru"])
    for spec in specs:
        config = json.loads(json.dumps(TrainConfig.from_dict(spec.config_for(root)).resolve().to_dict(), default=str))
        write_run(root, spec.path, value=0.1, config=config)
    assert set(plan(specs, root).values()) == {"done"}
    records.pack_sweep(root)
    assert not any((root / s.path).exists() for s in specs)
    states, result, pending = _start(specs, root)
    assert set(states.values()) == {"done"} and pending == [] and set(result.status.values()) == {"skipped"}
    # A packed run trained with another budget is refused, like a run directory.
    changed = [profiles.grid("regression", "smoke", inits=["eigen", "xavier"], cells=["gru"], seeds=1)[0]]
    changed[0].config["epochs"] = 7
    with pytest.raises(EigenRNNError, match="epochs=1 but the grid now gives 7"):
        plan(changed, root)
    (root / "regression.records.jsonl.gz").unlink()
    assert set(plan(specs, root).values()) == {"new"}


def test_pack_refuses_a_directory_bench_did_not_write(tmp_path):
    root = tmp_path / "mine"
    write_run(root, "tomita/tomita3/gru/eigen/seed0", value=0.5)
    with pytest.raises(EigenRNNError, match="not written by eigenrnn"):
        records.pack_sweep(root)
    assert (root / "tomita/tomita3/gru/eigen/seed0/summary.json").is_file()
    assert not (root / "tomita.records.jsonl.gz").exists()
    mark_output(root, "bench")
    with pytest.raises(ValueError, match="suite: got 'mnist'; expected a suite of .*: tomita"):
        records.pack_sweep(root, ("mnist",))


def test_a_corrupt_or_misnamed_records_file_is_a_clear_error(sweep):
    records.pack_sweep(sweep, ("regression",))
    shutil.copy(sweep / "regression.records.jsonl.gz", sweep / "tomita.records.jsonl.gz")
    wrong = "should hold suite 'tomita' but holds suite 'regression' \\(run regression/adding"
    with pytest.raises(EigenRNNError, match=wrong):
        list(records.iter_records(sweep))
    (sweep / "tomita.records.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(EigenRNNError, match="tomita.records.jsonl.gz is not a readable records file"):
        list(records.iter_records(sweep))


def test_pack_cli_packs_and_extracts(sweep, tmp_path, capsys):
    assert main(["pack", str(sweep), "--suite", "tomita"]) == 0
    out = capsys.readouterr()
    assert f"pack: tomita: 8 runs in {sweep / 'tomita.records.jsonl.gz'} (8 read from run directories, " \
           "8 directories removed)" in out.out
    assert "2 unfinished run directories not packed" in out.err
    target = tmp_path / "one"
    assert main(["pack", str(sweep), "--extract", "tomita/tomita3/gru/eigen/seed1", "--out", str(target)]) == 0
    assert json.loads((target / "summary.json").read_text())["test_metric"] == pytest.approx(0.8)
    assert main(["pack", str(sweep), "--out", str(tmp_path / "z")]) == 2
    assert "--out: got" in capsys.readouterr().err


def test_pack_cli_reports_kept_run_directories_once_per_reason(sweep, capsys):
    (sweep / "regression/adding/gru/eigen/seed0/best.pt").write_bytes(b"model")
    assert main(["pack", str(sweep), "--suite", "regression"]) == 0
    out = capsys.readouterr()
    assert "pack: regression: 2 runs in" in out.out and "0 directories removed" in out.out
    kept = [line for line in out.err.splitlines() if line.startswith("pack: kept")]
    assert kept == ["pack: kept 2 run directories (e.g. regression/adding/gru/eigen/seed0): holds best.pt, which "
                    "the pack does not keep; packed all the same"]
