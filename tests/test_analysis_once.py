"""Compute once: ``analyze`` runs each trajectory and each decomposition once, and the analyses
given a precomputed trajectory or decomposition return exactly what they compute themselves."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from eigenrnn.analysis import decompose, find_fixed_points, gradient_decay_curve, linear_memory_curve, mean_jacobian_eigenvalues, state_jacobians
from eigenrnn.analysis import trajectory as trajectory_module
from eigenrnn.analysis.inputs import model_inputs
from eigenrnn.analysis.overview import analyze, report_json
from eigenrnn.analysis.trajectory import layer_trajectory
from eigenrnn.rnn import recurrent_blocks

torch.set_num_threads(1)


def _gru(layers: int = 2, bidirectional: bool = False) -> nn.GRU:
    torch.manual_seed(0)
    return nn.GRU(3, 6, num_layers=layers, bidirectional=bidirectional)


def _count_trajectories(monkeypatch) -> list[tuple[int, int]]:
    """Wrap ``layer_trajectory`` wherever the package imported it; return the list of (layer, direction) calls."""
    calls: list[tuple[int, int]] = []
    original = trajectory_module.layer_trajectory

    def counted(module, inputs, h0=None, *, layer=0, direction=0):
        calls.append((layer, direction))
        return original(module, inputs, h0, layer=layer, direction=direction)

    for name, mod in list(sys.modules.items()):
        if name.startswith("eigenrnn") and getattr(mod, "layer_trajectory", None) is original:
            monkeypatch.setattr(mod, "layer_trajectory", counted)
    return calls


def _count_eig(monkeypatch) -> list[torch.Tensor]:
    """Wrap ``torch.linalg.eig`` (what :func:`decompose` runs); return the matrices it was called on."""
    matrices: list[torch.Tensor] = []
    original = torch.linalg.eig

    def counted(a, *args, **kwargs):
        matrices.append(a.detach().clone())
        return original(a, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eig", counted)
    return matrices


@pytest.mark.parametrize("bidirectional", [False, True])
def test_analyze_computes_each_trajectory_and_decomposition_once(monkeypatch, bidirectional):
    gru = _gru(bidirectional=bidirectional)
    inputs, _ = model_inputs(gru, steps=7, batch=3)
    trajectories = _count_trajectories(monkeypatch)
    matrices = _count_eig(monkeypatch)
    report = analyze(gru, inputs, title="t", fixed_point_inits=4)

    layers = [(layer, direction) for layer in range(2) for direction in range(2 if bidirectional else 1)]
    assert sorted(trajectories) == layers  # one per layer and direction (was 3 each)
    blocks = list(recurrent_blocks(gru))
    assert len(blocks) == 3 * len(layers)
    for block in blocks:  # each gate block decomposed exactly once (was twice: decompose + memory curve)
        w = block.matrix().detach().to(torch.float64)
        assert sum(m.shape == w.shape and torch.equal(m, w) for m in matrices) == 1, block.key
    # the rest: one mean Jacobian per layer and direction
    assert len(matrices) == len(blocks) + len(layers)
    assert set(report.layers) == {f"l{layer}.{'bwd' if d else 'fwd'}" for layer, d in layers}


def test_analyze_matches_the_analyses_run_from_the_inputs():
    gru = _gru()
    inputs, _ = model_inputs(gru, steps=7, batch=3)
    x = inputs[""][0]
    report = analyze(gru, inputs, title="t", fixed_point_inits=4, seed=3)
    for layer in range(2):
        result = report.layers[f"l{layer}.fwd"]
        assert torch.equal(result.gradient.curve, gradient_decay_curve(gru, x, layer=layer).curve)
        assert torch.equal(result.mean_jacobian.eigenvalues, mean_jacobian_eigenvalues(gru, x, layer=layer).eigenvalues)
    for block in recurrent_blocks(gru):
        w = block.matrix().detach()
        u = gru.get_parameter(block.parameter.replace("weight_hh", "weight_ih"))[block.rows].detach()
        assert torch.equal(report.blocks[block.key].memory.modes, linear_memory_curve(w, u, 7).modes)
    again = analyze(gru, inputs, title="t", fixed_point_inits=4, seed=3)
    assert report_json(again) == report_json(report)


@pytest.mark.parametrize("module", [nn.GRU(3, 5, num_layers=2, bidirectional=True), nn.LSTM(3, 5, num_layers=2, proj_size=2), nn.RNNCell(3, 4)])
def test_precomputed_trajectory_gives_identical_results(module):
    x = torch.randn(9, 2, 3, generator=torch.Generator().manual_seed(1))
    layer, direction = (1, 1) if isinstance(module, nn.GRU) else (1, 0) if isinstance(module, nn.LSTM) else (0, 0)
    where = {"layer": layer, "direction": direction}
    traj = layer_trajectory(module, x, **where)
    for method in ("closed", "autograd"):
        assert torch.equal(state_jacobians(module, x, **where, method=method), state_jacobians(module, trajectory=traj, **where, method=method))
        own, given = gradient_decay_curve(module, x, **where, method=method), gradient_decay_curve(module, trajectory=traj, **where, method=method)
        for field in ("curve", "per_sequence", "log_per_sequence", "singular_values"):
            assert torch.equal(getattr(own, field), getattr(given, field)), field
        own, given = mean_jacobian_eigenvalues(module, x, **where, method=method), mean_jacobian_eigenvalues(module, trajectory=traj, **where, method=method)
        assert torch.equal(own.matrix, given.matrix) and torch.equal(own.eigenvalues, given.eigenvalues)
    x_star = torch.zeros(traj.params.input_size)
    found = [
        find_fixed_points(module, x_star, 8, **source, **where, max_iters=50, generator=torch.Generator().manual_seed(0))
        for source in ({"inputs": x}, {"trajectory": traj})
    ]
    assert torch.equal(found[0].points, found[1].points) and torch.equal(found[0].q, found[1].q)


def test_precomputed_decomposition_gives_identical_memory_curve():
    w = torch.randn(5, 5, generator=torch.Generator().manual_seed(2)) * 0.4
    u = torch.randn(5, 3, generator=torch.Generator().manual_seed(3))
    own, given = linear_memory_curve(w, u, 12), linear_memory_curve(w, u, 12, decomposition=decompose(w))
    assert torch.equal(own.curve, given.curve) and torch.equal(own.modes, given.modes)
    assert torch.equal(own.decomposition.eigenvectors, given.decomposition.eigenvectors)


def test_precomputed_values_must_belong_to_what_is_analysed():
    gru = _gru()
    x = torch.randn(5, 2, 3)
    traj = layer_trajectory(gru, x, layer=0)
    with pytest.raises(ValueError, match="trajectory: got .a trajectory of other weights.*layer=1"):
        gradient_decay_curve(gru, trajectory=traj, layer=1)
    with pytest.raises(ValueError, match="trajectory"):
        mean_jacobian_eigenvalues(_gru(layers=1).double(), trajectory=traj)
    with pytest.raises(TypeError, match="not both"):
        state_jacobians(gru, x, trajectory=traj)
    with pytest.raises(TypeError, match="inputs= .* or trajectory="):
        gradient_decay_curve(gru)
    with pytest.raises(TypeError, match="Trajectory"):
        gradient_decay_curve(gru, trajectory=traj.states)
    with pytest.raises(ValueError, match="exactly one"):
        find_fixed_points(gru, torch.zeros(3), 4, inputs=x, trajectory=traj)
    w = torch.eye(3) * 0.5
    with pytest.raises(ValueError, match="decomposition of another matrix"):
        linear_memory_curve(w, torch.ones(3, 1), 4, decomposition=decompose(w * 2))
    with pytest.raises(TypeError, match="EigenDecomposition"):
        linear_memory_curve(w, torch.ones(3, 1), 4, decomposition=w)
