"""Same config, same machine, same thread count: a bench worker and `eigenrnn train` give identical metrics.

Also checks benchmarks/check_records.py, which reruns committed records, on
records made here (committed ones come from another machine; see docs/TRAINING.md).
"""

from __future__ import annotations

import json
import runpy

import pytest

from eigenrnn.bench.profiles import RunSpec
from eigenrnn.bench.runner import run_grid
from eigenrnn.cli import main

from conftest import REPO_ROOT

CHECK = runpy.run_path(str(REPO_ROOT / "benchmarks" / "check_records.py"), run_name="check_records")
TINY = {"task": "tomita4", "cell": "gru", "hidden": 6, "epochs": 2, "batch_size": 16, "train_size": 64,
        "val_size": 32, "test_size": 32, "lr": 1e-2, "device": "cpu", "task_options": {"per_length": 8}}


def _metrics(run) -> tuple[list[dict], dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    for line in lines:
        line.pop("time_s")
    summary = json.loads((run / "summary.json").read_text())
    summary.pop("wall_time_s")
    return lines, summary


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    # One worker trains both runs in turn, so the second also shows that a reused worker process carries nothing over.
    specs = [RunSpec("tomita", "tomita4", "gru", init, 0, {**TINY, "init": init, "seed": 0}) for init in ("xavier", "eigen")]
    result = run_grid(specs, root, workers=1, progress=False, threads=1)
    assert result.counts["finished"] == 2, result.errors
    return root, specs


def test_bench_worker_and_train_command_give_identical_metrics(sweep, tmp_path, capsys):
    root, specs = sweep
    record = root / specs[1].path
    out = tmp_path / "cli"
    assert main(["train", "--config", str(record / "config.json"), "--out", str(out), "--threads", "1", "--no-progress"]) == 0
    bench_lines, bench_summary = _metrics(record)
    cli_lines, cli_summary = _metrics(out)
    assert len(bench_lines) == TINY["epochs"]
    assert cli_lines == bench_lines  # every loss and metric of every epoch, bit for bit
    assert cli_summary == bench_summary


def test_check_records_passes_on_a_record_of_this_machine_and_fails_on_a_changed_one(sweep, tmp_path, capsys):
    root, specs = sweep
    argv = ["--suite", "tomita", "--record", "tomita4/gru/eigen/seed0", "--results", str(root), "--threads", "1"]
    assert CHECK["main"](argv) == 0
    printed = capsys.readouterr().out
    assert "bit-identical" in printed and "1 of 1 records reproduced" in printed
    summary_path = root / specs[1].path / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["test_metric"] = summary["test_metric"] - 0.125
    summary_path.write_text(json.dumps(summary))
    assert CHECK["main"](argv) == 1
    printed = capsys.readouterr().out
    assert "DIFFERS from test_metric" in printed and "0 of 1 records reproduced" in printed


def test_check_records_reruns_a_packed_record(sweep, tmp_path, capsys):
    import shutil

    from eigenrnn.bench.records import pack_sweep
    from eigenrnn.io import mark_output

    root, specs = sweep
    packed = tmp_path / "packed"
    # Without the checkpoints, as the committed records are (a run directory holding them is not removed).
    shutil.copytree(root / "tomita" / "tomita4" / "gru" / "xavier", packed / "tomita" / "tomita4" / "gru" / "xavier",
                    ignore=shutil.ignore_patterns("*.pt"))
    mark_output(packed, "bench")
    assert pack_sweep(packed)[0].removed == ("tomita/tomita4/gru/xavier/seed0",)
    argv = ["--suite", "tomita", "--record", "tomita4/gru/xavier/seed0", "--results", str(packed), "--threads", "1"]
    assert CHECK["main"](argv) == 0
    assert "1 of 1 records reproduced" in capsys.readouterr().out


def test_check_records_reruns_a_selection_record_and_names_bad_suites(sweep, tmp_path, capsys):
    import shutil

    root, specs = sweep
    selection = tmp_path / "selection"
    shutil.copytree(root / "tomita" / "tomita4" / "gru" / "xavier",  # eigen's summary is altered above
                    selection / "instrument-lr1x-clip1" / "tomita4" / "gru" / "xavier")
    session = {"suite": "selection-instrument", "hardware": {"cpu": "Test CPU", "torch": "0"}, "threads": 1,
               "commit": "abc1234"}
    (selection / "bench.json").write_text(json.dumps({"sessions": [session]}))
    argv = ["--suite", "instrument-lr1x-clip1", "--record", "tomita4/gru/xavier/seed0", "--results", str(selection)]
    # The bench worker stamped the run with the machine that trained it; that beats the session's.
    stamp = selection / "instrument-lr1x-clip1" / "tomita4" / "gru" / "xavier" / "seed0" / "hardware.json"
    here = json.loads(stamp.read_text())
    assert here["threads"] == 1 and here["resumed_from_checkpoint"] is False
    assert CHECK["main"](argv) == 0
    printed = capsys.readouterr().out
    assert "1 of 1 records reproduced" in printed
    assert f"recorded on: {here['cpu']}" in printed and "the run's own hardware.json" in printed
    # An unstamped record of a suite run on two machines names both, never just the last session's.
    stamp.unlink()
    other = {**session, "hardware": {"cpu": "Other CPU", "torch": "0"}}
    (selection / "bench.json").write_text(json.dumps({"sessions": [session, other]}))
    assert CHECK["main"](argv) == 0
    printed = capsys.readouterr().out
    assert "recorded on one of: Test CPU" in printed and "or:          Other CPU" in printed
    (selection / "bench.json").write_text(json.dumps({"sessions": [session]}))
    assert CHECK["main"](argv) == 0
    assert "recorded on: Test CPU" in capsys.readouterr().out
    assert CHECK["bench_suite"]("heldout") == "selection-heldout"
    with pytest.raises(SystemExit):
        CHECK["main"](["--suite", "instrument-lr9x-clip1", "--results", str(selection)])
    assert "--suite: got 'instrument-lr9x-clip1'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        CHECK["main"](["--suite", "instrument-lr1x-clip1", "--results", str(selection)])
    assert "--record: suite 'instrument-lr1x-clip1' has no default record" in capsys.readouterr().err
