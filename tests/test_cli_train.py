from __future__ import annotations

import json
import subprocess
import sys

import pytest

from eigenrnn.cli import main

TINY = ["--task", "tomita4", "--hidden", "8", "--epochs", "1", "--batch-size", "32", "--train-size", "100",
        "--val-size", "40", "--test-size", "40", "--option", "per_length=10", "--no-progress"]


def _one_line_error(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eigenrnn: error: "), err
    assert match in lines[0], lines[0]


def test_train_command_runs_and_reports(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--init", "eigen", "--seed", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tomita4 gru init=eigen seed=3: finished" in printed and str(out) in printed
    config = json.loads((out / "config.json").read_text())
    assert config["init"] == "eigen" and config["seed"] == 3 and config["task_options"] == {"per_length": 10}
    assert json.loads((out / "summary.json").read_text())["status"] == "finished"
    # A second run into the same directory is refused in one line; --resume continues it.
    _one_line_error(capsys, ["train", *TINY, "--out", str(out), "--init", "eigen", "--seed", "3"], "already holds a run")
    assert main(["train", *TINY, "--init", "eigen", "--seed", "3", "--out", str(out), "--epochs", "2", "--resume"]) == 0
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2


def test_config_file_and_flag_override(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"task": "tomita2", "hidden": 4, "epochs": 1, "train_size": 50, "val_size": 20,
                               "test_size": 20, "task_options": {"per_length": 6}}))
    out = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "--hidden", "5", "--out", str(out), "--no-progress"]) == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["task"] == "tomita2" and saved["hidden"] == 5
    cfg.write_text(json.dumps({"task": "tomita2", "hiddenn": 4}))
    _one_line_error(capsys, ["train", "--config", str(cfg)], "config key: got 'hiddenn'")


@pytest.mark.parametrize(
    "argv, names",
    [
        (["train", "--task", "tomita8"], ["tomita1", "mnist14", "mackey-glass", "multi30k"]),
        (["train", "--task", "adding", "--cell", "transformer"], ["rnn", "lstm", "gru"]),
        (["train", "--task", "adding", "--init", "magic"], ["xavier", "eigen", "rescaled-glorot"]),
    ],
)
def test_unknown_task_cell_scheme_name_the_valid_ones(capsys, argv, names):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "invalid choice" in err
    for name in names:
        assert name in err


def test_bad_values_are_one_line_errors(tmp_path, capsys):
    _one_line_error(capsys, ["train", "--hidden", "3"], "--task")
    _one_line_error(capsys, ["train", "--task", "adding", "--lr", "-1", "--out", str(tmp_path / "x")], "--lr: got -1.0")
    _one_line_error(capsys, ["train", "--task", "adding", "--batch-size", "0", "--out", str(tmp_path / "x")],
                    "--batch-size: got 0")  # the flag the user typed, not the config field batch_size
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"task": "adding", "hidden": 0}))
    _one_line_error(capsys, ["train", "--config", str(config), "--out", str(tmp_path / "x")], f"{config}: hidden: got 0")
    _one_line_error(capsys, ["train", "--task", "adding", "--option", "delay=3", "--out", str(tmp_path / "x")],
                    "options of task 'adding'")
    _one_line_error(capsys, ["train", "--task", "mnist", "--data-dir", str(tmp_path / "nowhere"), "--out",
                             str(tmp_path / "x"), "--no-progress"], "mnist")


def test_translate_errors(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    _one_line_error(capsys, ["translate", str(junk), "Ein Mann."], "not a readable eigenrnn checkpoint")
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    capsys.readouterr()
    _one_line_error(capsys, ["translate", str(out), "Ein Mann."], "translate needs a multi30k run")


def test_demo_small_budget(tmp_path, capsys):
    out = tmp_path / "demo"
    argv = ["demo", "--out", str(out), "--epochs", "1", "--hidden", "4", "--train-size", "64", "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "eigen" in printed and "xavier" in printed and "test acc" in printed
    for init in ("eigen", "xavier"):
        assert (out / f"spectra_{init}.png").stat().st_size > 1000
    with __import__("numpy").load(out / "spectra.npz") as spectra:
        assert {"eigen_before_n", "xavier_after_r"} <= set(spectra.files)
        assert spectra["eigen_before_n"].shape == (4,)
    for init in ("eigen", "xavier"):
        assert (out / init / "summary.json").is_file()
    _one_line_error(capsys, argv, "pass --force")  # an earlier demo is kept without --force
    assert (out / "eigen" / "summary.json").is_file()
    assert main([*argv, "--force"]) == 0  # and replaced with it
    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("x")
    capsys.readouterr()
    _one_line_error(capsys, ["demo", "--out", str(other), "--force"], "not written by eigenrnn")
    assert [p.name for p in other.iterdir()] == ["keep.txt"]


def test_no_traceback_from_the_console_entry_point():
    proc = subprocess.run([sys.executable, "-m", "eigenrnn.cli", "translate", "/nonexistent.pt", "Hallo"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "checkpoint not found" in proc.stderr


def test_a_run_directory_in_use_is_refused_and_a_failed_start_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    # A live process (this one's parent) holds the run directory, as a second `train --out run` would find it.
    import os

    (out / ".eigenrnn-lock").write_text(f"{os.getppid()}\n")
    _one_line_error(capsys, ["train", *TINY, "--out", str(out)], f"out: {str(out)!r} is in use by process")
    assert sorted(p.name for p in out.iterdir()) == [".eigenrnn-lock"]  # nothing written, the lock left alone
    # A dead process's lock is taken over with a notice, and the run trains; its own lock is gone afterwards.
    (out / ".eigenrnn-lock").write_text("999999999\n")
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert "taking over the stale lock" in capsys.readouterr().err
    assert not (out / ".eigenrnn-lock").exists() and (out / "summary.json").is_file()
    # A fresh start that fails after the lock (here: resume without a checkpoint) leaves no directory behind.
    new = tmp_path / "a" / "b"
    _one_line_error(capsys, ["train", *TINY, "--out", str(new), "--resume"], "no checkpoint")
    assert not (tmp_path / "a").exists()
