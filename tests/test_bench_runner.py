"""The benchmark grid and the resumable parallel runner, with a stand-in train function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eigenrnn.bench import profiles
from eigenrnn.bench.runner import plan, run_grid
from eigenrnn.bench.variants import parse
from eigenrnn.errors import EigenRNNError, TrainingDiverged
from eigenrnn.init import schemes
from eigenrnn.train import TrainConfig


def fake_train(config, *, resume=False, progress=True):
    """Stands in for eigenrnn.train.train in the spawned workers (picklable: module level)."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.resolve().to_dict()))  # as the trainer does
    if config.init == "kaiming" and config.cell == "rnn":
        raise RuntimeError("boom")
    summary = {"task": config.task, "cell": config.cell, "init": config.init, "seed": config.seed,
               "status": "finished", "resumed": resume, "progress": progress}
    if config.init == "irnn" and config.cell == "gru":
        (out / "summary.json").write_text(json.dumps({**summary, "status": "diverged"}))
        raise TrainingDiverged("loss is nan")
    (out / "summary.json").write_text(json.dumps(summary))


SCHEMES = ["eigen", "xavier", "irnn", "kaiming"]


def test_grid_is_the_same_budget_for_every_scheme():
    specs = profiles.grid("tomita", "cpu")
    b = profiles.budget("tomita", "cpu")
    assert len(specs) == 7 * len(b.cells) * len(profiles.default_inits()) * b.seeds
    assert set(profiles.default_inits()) >= set(schemes())
    assert b.seeds >= 5 and profiles.budget("mnist", "cpu").seeds >= 3
    by_run: dict = {}
    for s in specs:
        # Schemes and variants (e.g. the chrono baseline) differ in their init fields only.
        rest = {k: v for k, v in s.config.items() if k not in ("init", "init_kwargs", "calibrate")}
        by_run.setdefault((s.task, s.cell, s.seed), []).append(rest)
        assert s.config["init"] == parse(s.init).scheme and s.path.endswith(f"/{s.init}/seed{s.seed}")
    for configs in by_run.values():
        assert len(configs) == len(profiles.default_inits()) and all(c == configs[0] for c in configs)
    smoke = profiles.grid("all", "smoke")
    assert {s.init for s in smoke} == set(profiles.default_inits())
    assert {s.suite for s in smoke} == {"tomita", "regression"} and all(s.config["epochs"] == 1 for s in smoke)
    assert {s.task for s in profiles.grid("mnist", "gpu")} == {"mnist", "pmnist"}
    assert len({s.path for s in profiles.grid("all", "cpu")}) == len(profiles.grid("all", "cpu"))


def test_grid_rejects_bad_choices():
    with pytest.raises(ValueError, match="inits: got 'bogus'"):
        profiles.grid("tomita", "smoke", inits=["eigen", "bogus"])
    with pytest.raises(ValueError, match="suite: got 'mnist'.*smoke"):
        profiles.grid("mnist", "smoke")
    with pytest.raises(ValueError, match="profile: got 'huge'"):
        profiles.grid("tomita", "huge")
    with pytest.raises(ValueError, match="seeds: got 0"):
        profiles.grid("tomita", "smoke", seeds=0)
    assert len(profiles.grid("tomita", "smoke", cells=["lstm"], seeds=2, inits=["eigen"])) == 2


def test_runner_counts_skips_resumes_and_records_failures(tmp_path):
    specs = profiles.grid("regression", "smoke", inits=SCHEMES)
    assert len(specs) == 8
    # A run killed after its first checkpoint, and one killed before it.
    resumable = tmp_path / "regression/sine/gru/eigen/seed0"
    resumable.mkdir(parents=True)
    (resumable / "checkpoint.pt").write_bytes(b"")
    fresh = tmp_path / "regression/sine/rnn/eigen/seed0"
    fresh.mkdir(parents=True)
    (fresh / "leftover.txt").write_text("partial")
    assert plan(specs, tmp_path)[specs[0].path] == "resume"

    result = run_grid(specs, tmp_path, workers=2, progress=False, train_fn=fake_train)
    assert result.counts == {"finished": 6, "diverged": 1, "failed": 1, "skipped": 0}
    assert list(result.errors) == ["regression/sine/rnn/kaiming/seed0"]
    assert "RuntimeError: boom" in (tmp_path / "regression/sine/rnn/kaiming/seed0/error.txt").read_text()
    assert json.loads((resumable / "summary.json").read_text())["resumed"] is True
    assert json.loads((fresh / "summary.json").read_text())["resumed"] is False
    assert not (fresh / "leftover.txt").exists()
    assert json.loads((resumable / "summary.json").read_text())["progress"] is False

    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("**/summary.json")}
    again = run_grid(specs, tmp_path, workers=2, progress=False, train_fn=fake_train)
    assert again.counts == {"finished": 0, "diverged": 0, "failed": 1, "skipped": 7}
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("**/summary.json")} == mtimes


def test_runner_refuses_a_directory_trained_with_another_budget(tmp_path):
    specs = profiles.grid("regression", "smoke", inits=["eigen"], cells=["gru"])
    run_dir = tmp_path / specs[0].path
    run_dir.mkdir(parents=True)
    saved = TrainConfig.from_dict(specs[0].config_for(tmp_path)).resolve().to_dict()
    (run_dir / "config.json").write_text(json.dumps({**saved, "lr": 0.5}))
    with pytest.raises(EigenRNNError, match="lr=0.5"):
        run_grid(specs, tmp_path, workers=1, progress=False, train_fn=fake_train)
