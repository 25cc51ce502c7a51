"""`eigenrnn.bench.run_sweep`: what `eigenrnn bench` does, from Python, with plan and validate run once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eigenrnn.bench import runner
from eigenrnn.bench.runner import inapplicable
from eigenrnn.bench.sweep import run_sweep, sweep_grid
from eigenrnn.errors import EigenRNNError


class _Recorder:
    """A backend that trains nothing: it hands the runs to the runner's shared start (skip/resume/plan)."""

    def __init__(self):
        self.calls = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def describe(self):
        return {"name": "recorder", "workers": 3}

    def run_grid(self, specs, root, *, tensorboard=None, progress=True, planned=None):
        self.calls.append((list(specs), planned))
        _, result, _ = runner._start(specs, Path(root), planned)
        return result


def test_run_sweep_excludes_inapplicable_runs_writes_bench_json_and_plans_once(tmp_path, monkeypatch):
    calls = {"plan": 0, "validate": 0}
    plan, validate = runner.plan, runner.validate

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(runner, "plan", counted("plan", plan))
    monkeypatch.setattr(runner, "validate", counted("validate", validate))
    out = tmp_path / "sweep"
    backend = _Recorder()
    outcome = run_sweep("tomita", "smoke", out, inits=["xavier+chrono"], cells=["rnn", "gru"], seeds=1,
                        backend=backend, progress=False)
    specs = sweep_grid("tomita", "smoke", inits=["xavier+chrono"], cells=["rnn", "gru"], seeds=1).specs
    excluded = inapplicable(specs)  # ground truth: chrono biases need gates, a plain RNN has none
    assert excluded and {s.cell for s in specs if s.path in excluded} == {"rnn"}
    (trained, planned), = backend.calls
    assert [s.path for s in trained] == [s.path for s in specs if s.path not in excluded]
    assert planned == {s.path: "new" for s in trained}
    assert calls == {"plan": 1, "validate": 1}
    assert outcome.grid.excluded == excluded and outcome.counts == {
        "finished": 0, "diverged": 0, "failed": 0, "skipped": 0}
    bench = json.loads((out / "bench.json").read_text())
    (session,) = bench["sessions"]
    assert session["runs"] == len(trained) and session["workers"] == 3 and session["backend"]["name"] == "recorder"
    assert session["counts"] == outcome.counts and session["finished"] is not None
    (not_run,) = bench["suites"]["tomita"]["not_run"]
    assert not_run["scheme"] == "xavier+chrono" and not_run["cells"] == ["rnn"]
    assert not_run["runs"] == len(excluded)
    assert (out / ".eigenrnn-output").read_text().strip() == "bench"


def test_run_sweep_refuses_a_directory_it_did_not_write(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(EigenRNNError):
        run_sweep("tomita", "smoke", tmp_path, inits=["xavier"], cells=["gru"], seeds=1, backend=_Recorder())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_run_sweep_names_the_argument_of_a_bad_worker_count(tmp_path):
    with pytest.raises(ValueError, match="workers: got 0"):
        run_sweep("tomita", "smoke", tmp_path / "s", inits=["xavier"], cells=["gru"], seeds=1, workers=0)
    assert not (tmp_path / "s").exists()
