"""calibrate_: rescaling recurrent eigenvalue moduli on real inputs (issue 12, item 2)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from eigenrnn.analysis import gradient_decay_curve, mean_jacobian_eigenvalues
from eigenrnn.calibration import CALIBRATED_GATES, calibrate_on_split, parse_calibrate
from eigenrnn.init import CalibrationResult, calibrate_, init_rnn, recurrent_blocks
from eigenrnn.models import InputSpec, SequenceModel
from eigenrnn.tasks import get_task, mnist
from eigenrnn.train import TrainConfig, train

# Targets reachable for each cell.  A gated cell's averaged Jacobian keeps the
# gates' diag(z) / diag(f) share (about 0.5 at zero biases) and saturates as W
# grows, so its radius tops out near 0.95 with these inits; 0.9 is in reach.
TARGETS = {"rnn": 1.0, "gru": 0.9, "lstm": 0.9}
SCHEMES = {"rnn": "orthogonal", "gru": "xavier", "lstm": "orthogonal"}


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _tomita_tokens(n=64):
    split = get_task("tomita3").build(0).splits["train"]
    index = torch.nonzero(split.lengths == split.lengths.max()).flatten()[:n]
    return split.batch(index).x  # (T, B) tokens, no padding


def _tomita_model(cell, seed=0):
    return SequenceModel(InputSpec("tokens", 4, padding_idx=2), 2, cell=cell, hidden=24, init=SCHEMES[cell], seed=seed)


def _radius(module, x):
    return mean_jacobian_eigenvalues(module, x).spectral_radius


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_calibrate_hits_the_jacobian_radius_on_tomita(cell):
    model = _tomita_model(cell)
    tokens = _tomita_tokens()
    result = calibrate_(model, tokens, target=TARGETS[cell])
    assert isinstance(result, CalibrationResult) and result.converged
    assert result.evaluations <= 20
    with torch.no_grad():
        measured = _radius(model.rnn, model.rnn_inputs(tokens))
    assert measured == pytest.approx(TARGETS[cell], rel=0.02)
    assert result.achieved["l0.fwd"] == pytest.approx(measured, rel=1e-12)
    assert result.blocks == (f"l0.fwd.{CALIBRATED_GATES[cell.upper()][0]}",)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_calibrate_hits_the_target_on_mnist14(shared_data, cell):
    images, _ = mnist.load("train", data_dir=shared_data / "mnist", download=False)
    x = mnist.to_sequence(torch.as_tensor(images[:32]), "mnist14")  # (196, 32, 1), real digits
    rnn = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](1, 24)
    init_rnn(rnn, SCHEMES[cell], generator=_gen(1))
    result = calibrate_(rnn, x, target=TARGETS[cell])
    assert result.converged and result.evaluations <= 20
    assert _radius(rnn, x) == pytest.approx(TARGETS[cell], rel=0.02)


def test_calibrate_gradient_decay_at_the_horizon():
    gru = torch.nn.GRU(1, 16)
    init_rnn(gru, "xavier", generator=_gen(2))
    x = torch.rand(40, 16, 1, generator=_gen(3))
    result = calibrate_(gru, x, target=0.05, quantity="gradient_decay", horizon=30)
    assert result.converged and result.horizon == 30
    assert float(gradient_decay_curve(gru, x).curve[30]) == pytest.approx(0.05, rel=0.02)


def test_same_inputs_same_weights_and_eigenvectors_phases_are_kept():
    runs = []
    for _ in range(2):
        model = _tomita_model("rnn", seed=5)
        before = model.rnn.weight_hh_l0.detach().double().clone()
        result = calibrate_(model, _tomita_tokens(), target=1.0)
        runs.append((model.rnn.weight_hh_l0.detach().clone(), result))
    assert torch.equal(runs[0][0], runs[1][0]) and runs[0][1] == runs[1][1]
    after = runs[0][0].double()
    c = runs[0][1].scales["l0.fwd"]
    assert c != pytest.approx(1.0, abs=1e-3)
    lam0, lam1 = torch.linalg.eig(before), torch.linalg.eig(after)
    order0 = torch.argsort(lam0.eigenvalues.angle() * 1000 + lam0.eigenvalues.abs())
    order1 = torch.argsort(lam1.eigenvalues.angle() * 1000 + lam1.eigenvalues.abs())
    e0, e1 = lam0.eigenvalues[order0], lam1.eigenvalues[order1]
    assert torch.allclose(e1.angle(), e0.angle(), atol=1e-5)  # phases unchanged
    assert torch.allclose(e1.abs(), c * e0.abs(), rtol=1e-5)  # moduli scaled by c
    # eigenvectors unchanged: W_after V = V (c Λ)
    v = lam0.eigenvectors
    assert torch.allclose(after.to(v.dtype) @ v, v * (c * lam0.eigenvalues), atol=1e-4)


def test_only_the_candidate_blocks_change():
    gru = torch.nn.GRU(1, 12, num_layers=2)
    init_rnn(gru, "xavier", generator=_gen(4))
    before = {b.key: b.weight().detach().clone() for b in recurrent_blocks(gru)}
    result = calibrate_(gru, torch.rand(30, 8, 1, generator=_gen(5)), target=0.9)
    assert set(result.scales) == {"l0.fwd", "l1.fwd"}
    for block in recurrent_blocks(gru):
        if block.gate == "n":
            c = result.scales[f"l{block.layer}.fwd"]
            assert torch.allclose(block.weight().detach(), before[block.key] * c, rtol=1e-6)
        else:
            assert torch.equal(block.weight().detach(), before[block.key])


def test_works_after_every_scheme_and_says_when_the_target_is_out_of_reach():
    x = torch.rand(30, 8, 1, generator=_gen(6))
    for scheme in ("pytorch", "xavier", "kaiming", "orthogonal", "irnn", "sp", "eigen"):
        rnn = torch.nn.RNN(1, 16)
        init_rnn(rnn, scheme, generator=_gen(7))
        assert calibrate_(rnn, x, target=0.8).converged, scheme
    chain = torch.nn.RNN(1, 16)
    init_rnn(chain, "chain")  # nilpotent: every eigenvalue is 0 at any scale
    result = calibrate_(chain, x, target=0.8, max_evals=6)
    assert not result.converged and result.evaluations <= 6


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"target": 0.0}, "target: got 0.0"),
        ({"target": -1.0}, "target: got -1.0"),
        ({"target": math.nan}, "target: got nan"),
        ({"target": math.inf}, "target: got inf"),
        ({"quantity": "radius"}, "quantity: got 'radius'"),
        ({"max_evals": 1}, "max_evals: got 1"),
        ({"tol": 0.0}, "tol: got 0.0"),
        ({"horizon": 5}, "horizon: got 5"),
        ({"quantity": "gradient_decay", "horizon": 11}, "horizon: got 11"),
    ],
)
def test_nonsense_arguments_are_refused_before_anything_changes(kwargs, message):
    rnn = torch.nn.RNN(1, 8)
    before = rnn.weight_hh_l0.detach().clone()
    with pytest.raises(ValueError, match=message):
        calibrate_(rnn, torch.rand(10, 4, 1), **kwargs)
    assert torch.equal(rnn.weight_hh_l0.detach(), before)


@pytest.mark.parametrize(
    "inputs, error, message",
    [
        (torch.rand(10, 0, 1), ValueError, "inputs.shape"),
        (torch.rand(10, 4, 3), ValueError, "inputs.shape"),
        (torch.rand(10, 1), ValueError, "inputs.shape"),
        (torch.full((10, 4, 1), math.nan), ValueError, "NaN"),
        (torch.ones(10, 4, 1, dtype=torch.long), TypeError, "inputs.dtype"),
        ([[0.0]], TypeError, "inputs"),
    ],
)
def test_bad_inputs_are_refused(inputs, error, message):
    with pytest.raises(error, match=message):
        calibrate_(torch.nn.RNN(1, 8), inputs)


def test_a_module_without_a_recurrent_core_is_refused():
    with pytest.raises(TypeError, match="module: got 'Linear'"):
        calibrate_(torch.nn.Linear(2, 2), torch.rand(3, 2, 2))


@pytest.mark.parametrize("text", ["jacobian_radius", "jacobian_radius=0", "radius=1.0", "gradient_decay=nan", "a=b=c"])
def test_parse_calibrate_refuses_bad_specs(text):
    with pytest.raises(ValueError, match="calibrate: got"):
        parse_calibrate(text)


def test_calibrate_on_split_uses_unpadded_training_sequences():
    split = get_task("tomita3").build(0).splits["train"]
    model = _tomita_model("rnn")
    record = calibrate_on_split(model, split, "jacobian_radius=1.0", examples=50)
    assert record["converged"] and abs(record["achieved"]["l0.fwd"] - 1.0) <= 0.02
    json.dumps(record)


TINY = {"task": "tomita3", "cell": "gru", "init": "orthogonal", "hidden": 8, "epochs": 2, "batch_size": 32,
        "lr": 1e-2, "train_size": 200, "val_size": 60, "test_size": 60, "task_options": {"per_length": 20}}


def test_train_calibrate_records_the_result_and_a_resume_keeps_it(tmp_path):
    out = tmp_path / "run"
    first = train({**TINY, "epochs": 1, "calibrate": "jacobian_radius=0.9", "out": str(out)}, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["calibrate"] == "jacobian_radius=0.9"
    record = summary["calibration"]
    assert record["quantity"] == "jacobian_radius" and record["target"] == 0.9 and record["evaluations"] <= 20
    assert first.status == "finished"
    resumed = train({**TINY, "calibrate": "jacobian_radius=0.9", "out": str(out)}, resume=True, progress=False)
    assert resumed.epochs == 2
    assert json.loads((out / "summary.json").read_text())["calibration"] == record
    # the calibrated weights are the ones training started from
    plain = train({**TINY, "epochs": 1, "out": str(tmp_path / "plain")}, progress=False)
    assert "calibration" not in json.loads((tmp_path / "plain" / "summary.json").read_text())
    assert plain.history[0]["train_loss"] != first.history[0]["train_loss"]


def test_config_refuses_bad_calibrate():
    with pytest.raises(ValueError, match="calibrate: got"):
        TrainConfig(task="tomita3", calibrate="jacobian_radius=-1")
    with pytest.raises(ValueError, match="calibrate"):
        TrainConfig(task="multi30k", calibrate="jacobian_radius=1.0")


@pytest.mark.parametrize(
    "make",
    [
        lambda: torch.nn.RNN(3, 7),
        lambda: torch.nn.RNN(3, 7, nonlinearity="relu"),
        lambda: torch.nn.GRU(3, 7),
        lambda: torch.nn.LSTM(3, 7),
        lambda: torch.nn.LSTM(3, 7, proj_size=4),
    ],
)
def test_fast_mean_jacobian_equals_the_average_of_the_step_jacobians(make):
    from eigenrnn.analysis import state_jacobians
    from eigenrnn.analysis.cells import cell_params, mean_cell_jacobian
    from eigenrnn.analysis.trajectory import layer_trajectory

    torch.manual_seed(0)
    module = make().double()
    x = torch.randn(9, 5, 3, dtype=torch.float64)
    traj = layer_trajectory(module, x)
    fast = mean_cell_jacobian(cell_params(module).to(torch.float64), traj.inputs, traj.states[:-1])
    assert torch.allclose(fast, state_jacobians(module, x).mean(dim=(0, 1)), atol=1e-12)
    assert torch.allclose(
        mean_jacobian_eigenvalues(module, x).eigenvalues, mean_jacobian_eigenvalues(module, x, method="autograd").eigenvalues, atol=1e-9
    )


def test_an_error_mid_search_leaves_the_weights_as_they_came(monkeypatch):
    import eigenrnn.analysis.jacobians as jacobians

    real, calls = jacobians.mean_jacobian_eigenvalues, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(jacobians, "mean_jacobian_eigenvalues", flaky)
    rnn = torch.nn.RNN(1, 8)
    before = rnn.weight_hh_l0.detach().clone()
    with pytest.raises(KeyboardInterrupt):
        calibrate_(rnn, torch.rand(10, 4, 1, generator=_gen(0)), target=3.0)
    assert len(calls) == 2 and torch.equal(rnn.weight_hh_l0.detach(), before)
