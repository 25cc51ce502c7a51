"""The fast paths behind calibrate_ (issue 12, Performance) against their slow definitions.

* ``layer_trajectory`` (PyTorch's fused kernels, LSTM cells rebuilt by a scan)
  against a plain Python loop of :func:`cell_step` through every layer;
* the blocked ``mean_cell_jacobian`` against the mean of every per-step Jacobian;
* ``calibrate_`` against the same search run on the dense per-step Jacobian average.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import eigenrnn.analysis.cells as cells
import eigenrnn.analysis.jacobians as jacobians
from eigenrnn.analysis import decompose, mean_jacobian_eigenvalues, state_jacobians
from eigenrnn.analysis.cells import cell_params, cell_step, mean_cell_jacobian
from eigenrnn.analysis.trajectory import layer_trajectory
from eigenrnn.init import calibrate_, init_rnn

MODULES = {
    "rnn-tanh-2x-bi": lambda: nn.RNN(3, 6, num_layers=2, bidirectional=True),
    "rnn-relu": lambda: nn.RNN(3, 6, nonlinearity="relu"),
    "gru-3x-bi": lambda: nn.GRU(3, 6, num_layers=3, bidirectional=True),
    "lstm-2x-bi": lambda: nn.LSTM(3, 6, num_layers=2, bidirectional=True),
    "lstm-proj-2x-bi": lambda: nn.LSTM(3, 6, num_layers=2, proj_size=4, bidirectional=True),
}


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _module(name, dtype, seed=0):
    module = MODULES[name]()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=_gen(seed)) * 0.6)
    return module.to(dtype)


def _step_loop(module, x, layer, direction):
    """``(inputs, states)`` of one layer/direction by stepping :func:`cell_step` from zero, layer by layer."""
    directions = 2 if module.bidirectional else 1
    for j in range(layer + 1):
        outputs, runs = [], {}
        for d in range(directions):
            params = cell_params(module, j, d)
            seq = x.flip(0) if d else x
            state = torch.zeros(x.shape[1], params.state_size, dtype=x.dtype)
            states = [state]
            for t in range(seq.shape[0]):
                state = cell_step(params, seq[t], state)
                states.append(state)
            states = torch.stack(states)
            runs[d] = (seq, states)
            h = states[1:, :, : params.output_size]
            outputs.append(h.flip(0) if d else h)
        if j == layer:
            return runs[direction]
        x = torch.cat(outputs, dim=-1)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_fused_trajectory_equals_the_step_loop(name, dtype, tol):
    module = _module(name, dtype)
    x = torch.randn(11, 4, 3, generator=_gen(1)).to(dtype)
    for layer in range(module.num_layers):
        for direction in range(2 if module.bidirectional else 1):
            traj = layer_trajectory(module, x, layer=layer, direction=direction)
            inputs, states = _step_loop(module, x, layer, direction)
            assert traj.states.dtype == dtype and traj.states.shape == states.shape
            torch.testing.assert_close(traj.inputs, inputs, rtol=tol, atol=tol)
            torch.testing.assert_close(traj.states, states, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_blocked_mean_jacobian_equals_the_mean_of_every_step_jacobian(monkeypatch, name):
    # Blocks of a few rows, the last one partial: the sums over blocks must add up exactly.
    monkeypatch.setattr(cells, "_MEAN_BLOCK_ELEMENTS", 64)
    module = _module(name, torch.float32, seed=2)
    x = torch.randn(13, 5, 3, generator=_gen(3))
    layer, direction = module.num_layers - 1, int(module.bidirectional)
    traj = layer_trajectory(module, x, layer=layer, direction=direction)
    assert traj.states.dtype == torch.float32  # cast to float64 block by block, not beforehand
    fast = mean_cell_jacobian(cell_params(module, layer, direction).to(torch.float64), traj.inputs, traj.states[:-1])
    dense = state_jacobians(module, x, layer=layer, direction=direction).mean(dim=(0, 1))
    assert fast.dtype == torch.float64
    torch.testing.assert_close(fast, dense, rtol=0, atol=1e-12)
    radius = mean_jacobian_eigenvalues(module, x, layer=layer, direction=direction).spectral_radius
    assert radius == pytest.approx(decompose(dense).spectral_radius, rel=1e-10)


def _dense_mean_jacobian_eigenvalues(module, inputs, h0=None, *, layer=0, direction=0):
    """The definition: eigenvalues of the average of every per-step Jacobian, each built in full."""
    return decompose(state_jacobians(module, inputs, h0, layer=layer, direction=direction).mean(dim=(0, 1)))


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_calibrate_equals_the_search_on_the_dense_jacobian_average(monkeypatch, kind):
    cls = {"gru": nn.GRU, "lstm": nn.LSTM}[kind]
    x = torch.rand(25, 6, 2, generator=_gen(4))
    runs = []
    for dense in (False, True, False):
        module = cls(2, 10, num_layers=2, bidirectional=True)
        init_rnn(module, "orthogonal", generator=_gen(5))
        if dense:
            monkeypatch.setattr(jacobians, "mean_jacobian_eigenvalues", _dense_mean_jacobian_eigenvalues)
        else:
            monkeypatch.undo()
        result = calibrate_(module, x, target=0.9)
        runs.append((result, [p.detach().clone() for p in module.parameters()]))
    (fast, w_fast), (slow, w_slow), (again, w_again) = runs
    assert fast.converged and slow.converged and len(fast.scales) == 4
    assert fast.evaluations == slow.evaluations
    for label in fast.scales:
        assert fast.scales[label] == pytest.approx(slow.scales[label], rel=1e-9)
        assert fast.achieved[label] == pytest.approx(slow.achieved[label], rel=1e-9)
    for a, b in zip(w_fast, w_slow):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    # deterministic: the same call twice gives bit-identical weights and results
    assert again == fast and all(torch.equal(a, b) for a, b in zip(w_fast, w_again))
