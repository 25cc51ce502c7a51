"""The information-decay study (eigenrnn.analysis.decay_study, decay_outputs; scripts/information_decay.py) on tiny
freshly trained study runs, checked against autograd through PyTorch's own modules."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from eigenrnn.analysis import SpectrumTracker, decay_outputs, decay_study
from eigenrnn.errors import EigenRNNError
from eigenrnn.train import load_checkpoint, train

from conftest import REPO_ROOT

TASKS = ("tomita3", "adding")
TINY = {"hidden": 6, "epochs": 1, "train_size": 32, "val_size": 16, "test_size": 16, "batch_size": 16,
        "lr": 1e-2, "device": "cpu", "track_spectrum_every": 1}
GATE_ROW = {"rnn": 0, "lstm": 2, "gru": 2}  # index of the candidate block among weight_hh's row blocks


@pytest.fixture(scope="module")
def script():
    """The study's public names: its computations and its outputs (``main`` is the script's command line)."""
    return {**vars(decay_study), **vars(decay_outputs)}


@pytest.fixture(scope="module")
def study(tmp_path_factory, script):
    runs = tmp_path_factory.mktemp("study") / "runs"
    for task in TASKS:
        options = {"length": 8} if task == "adding" else {}
        for cell in ("rnn", "lstm", "gru"):
            out = runs / "study" / task / cell / "xavier" / "seed0"
            train({**TINY, "task": task, "task_options": options, "cell": cell, "init": "xavier", "out": str(out)}, progress=False)
    results = script["information_decay"](runs, TASKS, sequences=3)
    return runs, {(r.task, r.cell): r for r in results}


def _step(rnn, cell, x_t, state):
    """One step of the real nn module from a flat state (h, or (h, c) for LSTM)."""
    hidden = rnn.hidden_size
    if cell == "lstm":
        _, (h, c) = rnn(x_t[None, None], (state[None, None, :hidden], state[None, None, hidden:]))
        return torch.cat([h[0, 0], c[0, 0]])
    return rnn(x_t[None, None], state[None, None])[1][0, 0]


def _autograd_jacobians(model, cell, tokens):
    """(T, B, S, S) Jacobians of the module's step map along its own trajectories, by autograd."""
    rnn = model.rnn.double()
    with torch.no_grad():
        x = model.rnn_inputs(tokens).double()
    size = 2 * rnn.hidden_size if cell == "lstm" else rnn.hidden_size
    jac = torch.empty(x.shape[0], x.shape[1], size, size, dtype=torch.float64)
    for b in range(x.shape[1]):
        state = torch.zeros(size, dtype=torch.float64)
        for t in range(x.shape[0]):
            jac[t, b] = torch.autograd.functional.jacobian(lambda s: _step(rnn, cell, x[t, b], s), state)
            with torch.no_grad():
                state = _step(rnn, cell, x[t, b], state)
    return jac


def _tokens(result, sequences=3):
    from eigenrnn.tasks import get_task

    config = load_checkpoint(f"{result.run_dir}/best.pt").config
    return get_task(config.task, **config.task_options).example_inputs(sequences, 0)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_curves_and_mean_jacobian_match_autograd_through_the_real_module(study, task, cell):
    _, results = study
    r = results[(task, cell)]
    model = load_checkpoint(f"{r.run_dir}/best.pt").model
    jac = _autograd_jacobians(model, cell, _tokens(r))
    steps, batch = jac.shape[:2]
    assert (r.steps, r.sequences) == (steps, batch)
    # g(s) = mean_b ||J_T ... J_{T-s+1}||_2
    product = torch.eye(jac.shape[-1], dtype=torch.float64).expand(batch, -1, -1)
    expected = [np.ones(batch)]
    for t in range(steps - 1, -1, -1):
        product = product @ jac[t]
        expected.append(torch.linalg.matrix_norm(product, 2).numpy())
    expected = np.stack(expected, axis=1)
    np.testing.assert_allclose(r.trained.gradient, expected.mean(axis=0), rtol=1e-6, atol=1e-12)
    assert r.trained.per_step_factor == pytest.approx(math.exp(np.log(expected[:, -1]).mean() / steps), rel=1e-6)
    jbar = np.linalg.eigvals(jac.mean(dim=(0, 1)).numpy())
    assert r.trained.jacobian_radius == pytest.approx(np.abs(jbar).max(), rel=1e-6)
    if cell == "lstm":
        # The c_{t-1} -> c_t block of J_t is diag(f_t): its mean diagonal is the mean forget gate.
        h = model.rnn.hidden_size
        assert r.trained.gates["f"] == pytest.approx(float(jac[..., h:, h:].diagonal(dim1=-2, dim2=-1).mean()), rel=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_memory_curve_and_w_spectrum_use_the_candidate_block(study, cell):
    _, results = study
    r = results[("adding", cell)]
    state = torch.load(f"{r.run_dir}/best.pt", weights_only=True)["model"]
    h = state["rnn.weight_hh_l0"].shape[1]
    rows = slice(GATE_ROW[cell] * h, (GATE_ROW[cell] + 1) * h)
    w = state["rnn.weight_hh_l0"][rows].double().numpy()
    u = state["rnn.weight_ih_l0"][rows].double().numpy()
    expected = [np.linalg.norm(np.linalg.matrix_power(w, s) @ u) / np.linalg.norm(u) for s in range(r.steps + 1)]
    np.testing.assert_allclose(r.trained.memory, expected, rtol=1e-9)
    assert r.trained.w_radius == pytest.approx(np.abs(np.linalg.eigvals(w)).max(), rel=1e-9)


def test_init_model_is_the_runs_recorded_initialization(study, script):
    _, results = study
    for r in results.values():
        assert r.init_match < 1e-5
        tracked = SpectrumTracker.load(f"{r.run_dir}/spectra.npz")
        key = f"rnn.l0.fwd.{r.gate}"
        # training moved the weights, so "init" and "trained" are different models
        assert script["eigenvalue_set_distance"](r.trained.w_eigenvalues, tracked.spectra[key][0]) > 1e-4
        assert script["eigenvalue_set_distance"](r.init_state.w_eigenvalues, tracked.spectra[key][0]) < 1e-5


def test_a_rebuilt_init_that_does_not_match_spectra_npz_is_refused(study, script, tmp_path):
    runs, results = study
    run_dir = results[("adding", "gru")].run_dir
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    tracker = SpectrumTracker(torch.nn.ModuleDict({"rnn": torch.nn.GRU(2, 6)}))  # same block keys, other weights
    tracker.snapshot(0)
    tracker.save(copy / "spectra.npz")
    with pytest.raises(EigenRNNError, match="not this run's initialization"):
        script["analyze_run"](copy, sequences=2)
    tracker = SpectrumTracker(torch.nn.ModuleDict({"cell": torch.nn.GRU(2, 6)}))
    tracker.save(copy / "spectra.npz")
    with pytest.raises(EigenRNNError, match="no snapshot at step 0"):
        script["analyze_run"](copy, sequences=2)
    tracker.snapshot(0)
    tracker.save(copy / "spectra.npz")
    with pytest.raises(EigenRNNError, match="no block 'rnn.l0.fwd.n'"):
        script["analyze_run"](copy, sequences=2)
    (copy / "summary.json").unlink()
    with pytest.raises(FileNotFoundError, match="summary.json not found"):
        script["analyze_run"](copy, sequences=2)


def test_lags_and_extrapolation(script):
    lag_below, extrapolated_lag = script["lag_below"], script["extrapolated_lag"]
    assert lag_below([1.0, 0.5, 1e-3, 1e-4], 1e-3) == 3
    assert lag_below([1.0, 2.0], 1e-3) is None
    assert extrapolated_lag(0.5, 1e-3) == 10  # 0.5**10 < 1e-3 < 0.5**9
    assert extrapolated_lag(1.0, 1e-3) is None


def test_outputs_and_command_line(study, script, tmp_path, capsys):
    runs, _ = study
    out = tmp_path / "out"
    assert script["main"]([str(runs), "--out", str(out), "--tasks", "adding", "--sequences", "2"]) == 0
    for name in ("decay_adding.png", "eigenvalues_adding.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "information_decay.json").read_text())
    assert [run["cell"] for run in data["runs"]] == ["rnn", "lstm", "gru"]
    lstm = data["runs"][1]
    assert lstm["w_block"].startswith("g") and lstm["state"] == "(h, c)"
    assert len(lstm["trained"]["mean_jacobian_eigenvalues"]) == 12 and len(lstm["trained"]["w_eigenvalues"]) == 6
    assert data["meta"]["threshold"] == 1e-3 and data["meta"]["commit"]
    assert "| adding | gru | trained |" in capsys.readouterr().out

    assert script["main"]([str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "missing/study not found" in capsys.readouterr().err


def test_the_script_is_the_librarys_command_line():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "information_decay.py"), "--help"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "RUNS_DIR" in proc.stdout and "--sequences" in proc.stdout
