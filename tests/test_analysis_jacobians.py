"""State Jacobians, gradient decay and the mean Jacobian against autograd of PyTorch's own cells."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from eigenrnn.analysis import decompose, gradient_decay_curve, mean_jacobian_eigenvalues, state_jacobians
from eigenrnn.analysis.cells import cell_params, cell_step
from eigenrnn.analysis.trajectory import layer_trajectory

torch.set_num_threads(1)


def _seeded(module: nn.Module, seed: int) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    return module.double()


def _inputs(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_tanh_rnn_jacobian_is_diag_one_minus_h2_times_whh():
    rnn = _seeded(nn.RNN(3, 5), 0)
    x = _inputs((7, 4, 3))
    out, _ = rnn(x)
    jac = state_jacobians(rnn, x)
    expected = (1 - out.detach() ** 2)[..., None] * rnn.weight_hh_l0.detach()
    assert jac.shape == (7, 4, 5, 5)
    assert torch.allclose(jac, expected, atol=1e-12)


def test_relu_rnn_jacobian_masks_inactive_units():
    rnn = _seeded(nn.RNN(3, 5, nonlinearity="relu"), 1)
    x = _inputs((6, 2, 3), 1)
    out, _ = rnn(x)
    jac = state_jacobians(rnn, x)
    expected = (out.detach() > 0).double()[..., None] * rnn.weight_hh_l0.detach()
    assert torch.allclose(jac, expected)
    assert torch.allclose(jac, state_jacobians(rnn, x, method="autograd"))


def _cell_ground_truth(cell: nn.Module, x: torch.Tensor, states: torch.Tensor, lstm: bool) -> torch.Tensor:
    """Autograd Jacobians of PyTorch's own cell, one (t, b) at a time."""
    size = cell.hidden_size
    out = torch.empty(*states.shape[:2], states.shape[-1], states.shape[-1], dtype=torch.float64)
    for t in range(states.shape[0]):
        for b in range(states.shape[1]):
            if lstm:
                def step(s, xt=x[t, b]):
                    h, c = cell(xt[None], (s[None, :size], s[None, size:]))
                    return torch.cat([h[0], c[0]])
            else:
                def step(s, xt=x[t, b]):
                    return cell(xt[None], s[None])[0]
            out[t, b] = jacobian(step, states[t, b])
    return out


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_gated_jacobians_equal_autograd_of_torch_cells(kind):
    lstm = kind == "lstm"
    module = _seeded(nn.LSTM(3, 4) if lstm else nn.GRU(3, 4), 2)
    cell = (nn.LSTMCell(3, 4) if lstm else nn.GRUCell(3, 4)).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(module, f"{name}_l0"))
    x = _inputs((5, 3, 3), 2)
    states = layer_trajectory(module, x).states
    truth = _cell_ground_truth(cell, x, states[:-1], lstm)
    closed = state_jacobians(module, x)
    assert closed.shape == ((5, 3, 8, 8) if lstm else (5, 3, 4, 4))
    assert torch.allclose(closed, truth, atol=1e-12)
    assert torch.allclose(state_jacobians(module, x, method="autograd"), truth, atol=1e-12)


@pytest.mark.parametrize(
    "module",
    [
        nn.RNN(3, 4, num_layers=2, bidirectional=True),
        nn.GRU(3, 4, num_layers=3, bidirectional=True),
        nn.LSTM(3, 4, num_layers=2, bidirectional=True),
        nn.LSTM(3, 5, num_layers=2, proj_size=3),
    ],
    ids=["rnn", "gru", "lstm", "lstm-proj"],
)
def test_every_layer_and_direction_follows_the_real_module(module):
    module = _seeded(module, 3)
    x = _inputs((6, 2, 3), 3)
    h0 = _inputs((module.num_layers * (2 if module.bidirectional else 1), 2, module.proj_size or module.hidden_size), 4)
    if isinstance(module, nn.LSTM):
        h0 = (h0, _inputs((h0.shape[0], 2, module.hidden_size), 5))
    _, final = module(x, h0)
    h_n, c_n = final if isinstance(final, tuple) else (final, None)
    out_size = module.proj_size or module.hidden_size
    for layer in range(module.num_layers):
        for direction in range(2 if module.bidirectional else 1):
            index = layer * (2 if module.bidirectional else 1) + direction
            traj = layer_trajectory(module, x, h0, layer=layer, direction=direction)
            # the recovered trajectory ends where PyTorch's does, (h, c) for LSTM
            assert torch.allclose(traj.states[-1, :, :out_size], h_n[index], atol=1e-12)
            if c_n is not None:
                assert torch.allclose(traj.states[-1, :, out_size:], c_n[index], atol=1e-12)
            # and each step is the cell map of the previous state
            params = cell_params(module, layer, direction)
            assert torch.allclose(cell_step(params, traj.inputs, traj.states[:-1]), traj.states[1:], atol=1e-12)
            closed = state_jacobians(module, x, h0, layer=layer, direction=direction)
            auto = state_jacobians(module, x, h0, layer=layer, direction=direction, method="autograd")
            assert torch.allclose(closed, auto, atol=1e-12)


def test_projected_lstm_step_matches_torch_output():
    lstm = _seeded(nn.LSTM(2, 6, proj_size=3), 6)
    x = _inputs((4, 2, 2), 6)
    out, _ = lstm(x)
    traj = layer_trajectory(lstm, x)
    assert traj.states.shape == (5, 2, 3 + 6)
    assert torch.allclose(traj.states[1:, :, :3], out.detach(), atol=1e-12)


@pytest.mark.parametrize("cell", [nn.RNNCell(3, 4), nn.GRUCell(3, 4), nn.LSTMCell(3, 4)], ids=["rnn", "gru", "lstm"])
def test_cells_are_supported(cell):
    cell = _seeded(cell, 7)
    x = _inputs((5, 2, 3), 7)
    closed = state_jacobians(cell, x)
    size = 8 if isinstance(cell, nn.LSTMCell) else 4
    assert closed.shape == (5, 2, size, size)
    assert torch.allclose(closed, state_jacobians(cell, x, method="autograd"), atol=1e-12)
    unbatched = state_jacobians(cell, x[:, 0])
    assert unbatched.shape == (5, size, size)
    assert torch.allclose(unbatched, closed[:, 0], atol=1e-12)


def test_unbatched_inputs_and_h0():
    gru = _seeded(nn.GRU(3, 4, num_layers=2), 8)
    x = _inputs((6, 3), 8)
    h0 = _inputs((2, 4), 9)
    jac = state_jacobians(gru, x, h0, layer=1)
    assert jac.shape == (6, 4, 4)
    batched = state_jacobians(gru, x[:, None], h0[:, None], layer=1)
    assert torch.allclose(jac, batched[:, 0])


def _explicit_curve(jac: torch.Tensor) -> torch.Tensor:
    """‖J_T ⋯ J_{T-s+1}‖₂ by explicit products, for (T, S, S) Jacobians."""
    steps = jac.shape[0]
    product = torch.eye(jac.shape[-1], dtype=torch.float64)
    curve = [1.0]
    for s in range(1, steps + 1):
        product = product @ jac[steps - s]
        curve.append(float(torch.linalg.matrix_norm(product, ord=2)))
    return torch.tensor(curve, dtype=torch.float64)


@pytest.mark.parametrize("module", [nn.RNN(2, 5), nn.GRU(2, 5), nn.LSTM(2, 3)], ids=["rnn", "gru", "lstm"])
def test_gradient_decay_equals_norms_of_explicit_products(module):
    module = _seeded(module, 10)
    x = _inputs((40, 3, 2), 10)
    decay = gradient_decay_curve(module, x)
    jac = state_jacobians(module, x)
    assert decay.per_sequence.shape == (3, 41)
    assert decay.curve.shape == (41,)
    for b in range(3):
        assert torch.allclose(decay.per_sequence[b], _explicit_curve(jac[:, b]), rtol=1e-9)
    assert torch.allclose(decay.curve, decay.per_sequence.mean(dim=0))
    assert decay.curve[0] == 1.0
    # all singular values of the s-step product
    product = jac[-1, 1] @ jac[-2, 1] @ jac[-3, 1]
    assert torch.allclose(decay.singular_values[1, 3], torch.linalg.svdvals(product), rtol=1e-9, atol=1e-15)
    assert torch.allclose(decay.singular_values[..., 0], decay.per_sequence)


def test_gradient_decay_log_survives_underflow():
    # h stays 0 with zero input and no bias, so J_t = 0.1 I and g(s) = 0.1^s, far below float64 range at s = 400
    rnn = nn.RNN(1, 3, bias=False).double()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(0.1 * torch.eye(3, dtype=torch.float64))
    decay = gradient_decay_curve(rnn, torch.zeros(400, 1, dtype=torch.float64))
    lags = torch.arange(401, dtype=torch.float64)
    assert torch.allclose(decay.log_per_sequence[0], lags * math.log(0.1), rtol=1e-10)
    assert decay.curve[-1] == 0.0  # exp underflows; the log does not
    assert decay.curve.shape == (401,) and decay.per_sequence.shape == (1, 401)


def test_gradient_decay_exactly_zero_jacobian():
    rnn = nn.RNN(1, 2, nonlinearity="relu", bias=False).double()
    with torch.no_grad():
        rnn.weight_ih_l0.fill_(-1.0)  # positive inputs switch every unit off
    decay = gradient_decay_curve(rnn, torch.ones(5, 1, dtype=torch.float64))
    assert decay.curve.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    assert torch.isneginf(decay.log_per_sequence[0, 1:]).all()


def test_gradient_decay_long_sequence_spans_several_chunks():
    gru = _seeded(nn.GRU(1, 64), 11)
    x = _inputs((300, 2, 1), 11)  # 300 steps of 2×64×64 blocks: several Jacobian chunks
    decay = gradient_decay_curve(gru, x)
    jac = state_jacobians(gru, x)
    assert torch.allclose(decay.log_per_sequence[0], _explicit_curve(jac[:, 0]).log(), atol=1e-8)


def test_mean_jacobian_is_time_average():
    lstm = _seeded(nn.LSTM(2, 3, bidirectional=True), 12)
    x = _inputs((9, 4, 2), 12)
    mean = mean_jacobian_eigenvalues(lstm, x, direction=1)
    expected = decompose(state_jacobians(lstm, x, direction=1).mean(dim=(0, 1)))
    assert torch.allclose(mean.eigenvalues, expected.eigenvalues, atol=1e-12)
    assert mean.spectral_radius == pytest.approx(expected.spectral_radius)


def test_tanh_mean_jacobian_is_saturation_weighted_whh():
    rnn = _seeded(nn.RNN(2, 4), 13)
    x = _inputs((10, 3, 2), 13)
    out, _ = rnn(x)
    slope = (1 - out.detach() ** 2).mean(dim=(0, 1))
    mean = mean_jacobian_eigenvalues(rnn, x)
    expected = decompose(slope[:, None] * rnn.weight_hh_l0.detach())
    assert torch.allclose(mean.eigenvalues, expected.eigenvalues, atol=1e-12)


def test_bad_arguments_are_named():
    gru = nn.GRU(3, 4, num_layers=2)
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match="inputs.shape"):
        state_jacobians(gru, torch.randn(5, 2, 4))
    with pytest.raises(ValueError, match="layer"):
        state_jacobians(gru, x, layer=2)
    with pytest.raises(ValueError, match="direction"):
        state_jacobians(gru, x, direction=1)
    with pytest.raises(ValueError, match="method"):
        state_jacobians(gru, x, method="numeric")
    with pytest.raises(ValueError, match="h0"):
        state_jacobians(gru, x, torch.zeros(1, 2, 4))
    with pytest.raises(TypeError, match="h0"):
        state_jacobians(nn.LSTM(3, 4), x, torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match="inputs"):
        gradient_decay_curve(gru, torch.full((5, 2, 3), float("nan")))
    with pytest.raises(TypeError, match="module"):
        state_jacobians(nn.Linear(3, 4), x)
