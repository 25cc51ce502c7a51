"""`eigenrnn bench` and `eigenrnn report` end to end on the smoke profile, with the real trainer."""

from __future__ import annotations

import json
import re

import torch

from eigenrnn.bench import profiles
from eigenrnn.bench.runner import inapplicable
from eigenrnn.cli import main
from eigenrnn.init import init_rnn, schemes


def test_smoke_profile_bench_report_and_rerun(tmp_path, capsys):
    out = tmp_path / "bench"
    specs = profiles.grid("all", "smoke")
    specs = [s for s in specs if s.path not in inapplicable(specs)]  # e.g. chrono biases on the vanilla RNN
    crashed = out / "regression/sine/gru/eigen/seed0"
    crashed.mkdir(parents=True)
    (out / ".eigenrnn-output").write_text("bench\n")  # an earlier sweep of this command
    (crashed / "checkpoint.pt").write_bytes(b"not a checkpoint")  # left by a crash: resumed, and refused
    argv = ["bench", "--suite", "all", "--profile", "smoke", "--out", str(out), "--workers", "2"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert f"{len(specs) - 1} finished, 0 skipped (done before), 0 diverged, 1 failed" in captured.out
    assert "regression/sine/gru/eigen/seed0" in captured.err
    assert "CheckpointError" in (crashed / "error.txt").read_text()
    summaries = sorted(out.glob("*/*/*/*/seed*/summary.json"))
    assert len(summaries) == len(specs) - 1
    for spec in specs:
        if (out / spec.path / "summary.json").exists():
            summary = json.loads((out / spec.path / "summary.json").read_text())
            assert (summary["init"], summary["cell"], summary["task"]) == (spec.config["init"], spec.cell, spec.task)

    # The user removes the bad checkpoint; the rerun trains only that run.
    (crashed / "checkpoint.pt").unlink()
    mtimes = {p: p.stat().st_mtime_ns for p in summaries}
    assert main(argv) == 0
    assert f"1 finished, {len(specs) - 1} skipped" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in summaries} == mtimes
    assert (crashed / "summary.json").exists() and not (crashed / "error.txt").exists()
    bench = json.loads((out / "bench.json").read_text())
    assert bench["profile"] == "smoke" and set(bench["suites"]) == {"tomita", "regression"}
    first, second = bench["sessions"]
    assert first["counts"]["failed"] == 1 and second["counts"] == {
        "finished": 1, "diverged": 0, "failed": 0, "skipped": len(specs) - 1}
    assert first["hardware"]["cores"] >= 1 and "torch" in first["hardware"] and "commit" in first

    assert main(["report", str(out), "--out", str(tmp_path / "report")]) == 0
    md = (tmp_path / "report" / "report.md").read_text()
    for scheme in schemes():
        assert f"| {scheme} |" in md
    assert "profile**: smoke" in md and "### tomita4" in md and "### sine" in md
    assert (tmp_path / "report" / "figures" / "tomita4_curves.png").exists()
    numbers = json.loads((tmp_path / "report" / "report.json").read_text())
    assert set(numbers["families"]["tomita"]["per_task"]["tomita4"]["metrics"]) == {
        "test_metric", "generalisation_metric"}


def test_dry_run_writes_nothing_and_bad_arguments(tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["bench", "--suite", "tomita", "--profile", "cpu", "--out", str(out), "--dry-run"]) == 0
    captured = capsys.readouterr()
    printed, err = captured.out, captured.err
    b = profiles.budget("tomita", "cpu")
    n_runs = len(b.tasks) * len(b.cells) * len(profiles.default_inits()) * b.seeds
    # The budget table's row is this budget.
    assert f"| cpu | tomita | tomita1-7 | {', '.join(b.cells)} | {b.seeds} | {b.hidden} | {b.layers} | {b.epochs} |" in printed
    # Runs the scheme refuses, in closed form: rescaled Glorot needs n >= 164, chrono has no gates on a plain RNN.
    assert b.hidden < 164 and "rnn" in b.cells
    skipped = {scheme: int(n) for n, scheme in re.findall(r"not running (\d+) (\S+) runs", err)}
    assert skipped == {"rescaled-glorot": len(b.tasks) * len(b.cells) * b.seeds, "xavier+chrono": len(b.tasks) * b.seeds}
    planned = n_runs - sum(skipped.values())
    assert f"tomita: {planned} runs ({planned} new, 0 to resume, 0 finished) -> {out / 'tomita'}/" in printed.splitlines()
    assert sum(line.startswith("variant xavier+chrono on tomita") for line in printed.splitlines()) == len(b.tasks)
    assert not out.exists()
    assert main(["bench", "--suite", "tomita", "--profile", "smoke", "--out", str(out), "--inits", "nope"]) == 2
    assert "inits: got 'nope'" in capsys.readouterr().err
    assert main(["bench", "--suite", "mnist", "--profile", "smoke", "--out", str(out)]) == 2
    assert "profile 'smoke'" in capsys.readouterr().err
    assert n_runs == len(profiles.grid("tomita", "cpu"))


def test_schemes_is_an_older_spelling_of_inits(tmp_path, capsys):
    argv = ["bench", "--suite", "regression", "--profile", "smoke", "--out", str(tmp_path / "b"), "--dry-run"]
    printed = []
    for flag in ("--inits", "--schemes"):
        assert main([*argv, flag, "eigen,xavier"]) == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1] and "regression: 4 runs (4 new" in printed[0]


def test_inapplicable_schemes_are_excluded_with_the_reason():
    specs = profiles.grid("tomita", "cpu", inits=["xavier", "rescaled-glorot"], seeds=1)
    expected = {}
    for spec in specs:  # ground truth: ask init_rnn directly, on the run's recurrent module
        module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[spec.cell](1, spec.config["hidden"])
        try:
            init_rnn(module, spec.init)
        except ValueError as exc:
            expected[spec.path] = str(exc)
    assert inapplicable(specs) == expected
    assert not any("/xavier/" in path for path in expected)
    assert inapplicable(profiles.grid("all", "smoke", inits=schemes())) == {}  # the smoke profile runs every scheme
