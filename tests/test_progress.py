"""Progress output: plain lines on a non-terminal stream, bars on a terminal, whole-run ETA in train."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

from tqdm import tqdm

from eigenrnn.bench import profiles
from eigenrnn.bench.runner import run_grid
from eigenrnn.progress import Progress
from eigenrnn.train import train

TINY = {"task": "tomita4", "hidden": 8, "epochs": 3, "batch_size": 32, "lr": 1e-2,
        "train_size": 200, "val_size": 60, "test_size": 60, "task_options": {"per_length": 20}}


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def quick_train(config, *, resume=False, progress=True):
    """A picklable stand-in for eigenrnn.train.train in the spawned bench workers."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.resolve().to_dict()))
    (out / "summary.json").write_text(json.dumps({"status": "finished"}))


def test_progress_is_plain_lines_off_a_terminal_and_a_bar_on_one():
    log = io.StringIO()
    with Progress(4, desc="bench", unit="run", initial=1, file=log) as bar:
        bar.set_postfix({"finished": 1})
        for _ in range(3):
            bar.update()
        bar.write("failed: x")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue() and len(lines) == 4
    assert [line.split(" [")[0] for line in lines[:3]] == ["bench: 2/4 ( 50%)", "bench: 3/4 ( 75%)", "bench: 4/4 (100%)"]
    assert lines[0].endswith(", finished=1]") and lines[3] == "failed: x"
    term = FakeTerminal()
    with Progress(4, desc="bench", unit="run", file=term) as bar:
        bar.update(2)
    assert "\r" in term.getvalue() and "2/4" in term.getvalue()
    quiet = io.StringIO()
    with Progress(4, desc="bench", unit="run", file=quiet, enabled=False) as bar:
        bar.update(4)
    assert quiet.getvalue() == ""


def test_line_mode_is_throttled_but_keeps_the_last_update():
    log = io.StringIO()
    with Progress(100, desc="x", file=log, min_interval=3600) as bar:
        for _ in range(100):
            bar.update()
    assert [line.split(" [")[0] for line in log.getvalue().splitlines()] == ["x: 1/100 (  1%)", "x: 100/100 (100%)"]


def test_bench_progress_in_a_log_file_has_no_carriage_returns(tmp_path, capsys):
    specs = profiles.grid("regression", "smoke", inits=["eigen", "xavier"], cells=["gru"])
    run_grid(specs, tmp_path, workers=1, progress=True, train_fn=quick_train)
    err = capsys.readouterr().err  # pytest's capture is not a terminal
    assert "\r" not in err
    assert [line.split(" [")[0] for line in err.splitlines()] == [f"bench[local 1 workers]: {i}/{len(specs)} ({100 * i // len(specs):3d}%)"
                                                                   for i in range(1, len(specs) + 1)]


def test_train_epoch_lines_give_the_whole_run_eta(tmp_path, capsys):
    result = train({**TINY, "out": str(tmp_path / "r")}, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 3 and "\r" not in "".join(lines)
    etas = [re.search(r"run ETA (\S+)$", line).group(1) for line in lines]
    times = [r["time_s"] for r in result.history]
    assert etas[0] == tqdm.format_interval(times[0] * 2)
    assert etas[1] == tqdm.format_interval((times[0] + times[1]) / 2)
    assert etas[2] == "00:00"


def test_train_bar_on_a_terminal_shows_the_run_eta(tmp_path, monkeypatch):
    term = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", term)
    # Enough batches for tqdm (which redraws at most every 0.1 s) to draw the postfix.
    train({**TINY, "epochs": 2, "train_size": 1500, "batch_size": 4, "out": str(tmp_path / "r")}, progress=True)
    assert re.search(r"run_eta=\d\d:\d\d", term.getvalue())
