"""Fixed points of hand-built networks whose fixed points are known in closed form."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from scipy.optimize import brentq
from torch import nn

from eigenrnn.analysis import find_fixed_points
from eigenrnn.analysis.cells import cell_params, cell_step

torch.set_num_threads(1)


def _two_unit_rnn(gain: float = 2.0) -> nn.RNN:
    rnn = nn.RNN(1, 2, bias=False).double()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(gain * torch.eye(2, dtype=torch.float64))
        rnn.weight_ih_l0.zero_()
    return rnn


def test_two_unit_tanh_rnn_fixed_points_and_stability():
    # h = tanh(2h) per unit: roots 0 (slope 2, unstable) and ±a (slope 2(1-a²) < 1, stable).
    a = brentq(lambda v: math.tanh(2 * v) - v, 0.5, 1.5)
    expected = {p: all(abs(c) > 0 for c in p) for p in itertools.product((-a, 0.0, a), repeat=2)}
    gen = torch.Generator().manual_seed(0)
    pool = torch.rand(200, 2, generator=gen, dtype=torch.float64) * 2.4 - 1.2
    fp = find_fixed_points(_two_unit_rnn(), torch.zeros(1), 64, states=pool, generator=gen)
    assert len(fp) == 9
    assert torch.all(fp.q < 1e-12)
    for point, stable, eig in zip(fp.points, fp.is_stable, fp.eigenvalues):
        key = min(expected, key=lambda p: math.dist(p, point.tolist()))
        assert math.dist(key, point.tolist()) < 1e-8
        assert bool(stable) == expected[key]
        # the Jacobian is diag(2 (1 - h²)): its eigenvalues, by modulus
        slopes = sorted((2 * (1 - c**2) for c in key), reverse=True)
        assert eig.real.tolist() == pytest.approx(slopes, abs=1e-8)
    assert {tuple(round(c, 6) for c in key) for key in expected} == {
        tuple(round(c, 6) for c in p.tolist()) for p in fp.points
    }
    assert torch.allclose(fp.spectral_radius, fp.eigenvalues.abs()[:, 0])
    assert fp.n_inits == 64 and fp.n_converged == 64


def test_contracting_rnn_has_one_stable_point_under_input():
    # gain 0.5 < 1: a unique fixed point h* = tanh(0.5 h* + u x*) per unit
    rnn = _two_unit_rnn(0.5)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.tensor([[1.0], [-2.0]], dtype=torch.float64))
    x_star = torch.tensor([0.7], dtype=torch.float64)
    fp = find_fixed_points(rnn, x_star, 16, inputs=torch.randn(20, 3, 1, dtype=torch.float64), noise=0.5,
                           generator=torch.Generator().manual_seed(1))
    assert len(fp) == 1 and bool(fp.is_stable[0])
    for unit, u in enumerate((1.0, -2.0)):
        root = brentq(lambda v: math.tanh(0.5 * v + u * 0.7) - v, -2, 2)
        assert float(fp.points[0, unit]) == pytest.approx(root, abs=1e-9)


def test_lstm_fixed_points_satisfy_the_cell_map():
    lstm = nn.LSTM(2, 4).double()
    x_star = torch.zeros(2, dtype=torch.float64)
    fp = find_fixed_points(lstm, x_star, 16, inputs=torch.randn(30, 2, 2, dtype=torch.float64),
                           generator=torch.Generator().manual_seed(2))
    assert len(fp) >= 1
    assert fp.points.shape[1] == 8  # (h, c)
    params = cell_params(lstm).to(torch.float64)
    assert torch.allclose(cell_step(params, x_star, fp.points), fp.points, atol=1e-6)
    assert torch.equal(fp.is_stable, fp.eigenvalues.abs()[:, 0] < 1)


def test_fixed_point_arguments_are_checked():
    rnn = _two_unit_rnn()
    pool = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="exactly one"):
        find_fixed_points(rnn, torch.zeros(1), 4)
    with pytest.raises(ValueError, match="exactly one"):
        find_fixed_points(rnn, torch.zeros(1), 4, states=pool, inputs=torch.zeros(3, 1))
    with pytest.raises(ValueError, match="x_star"):
        find_fixed_points(rnn, torch.zeros(2), 4, states=pool)
    with pytest.raises(ValueError, match="states.shape"):
        find_fixed_points(rnn, torch.zeros(1), 4, states=torch.zeros(4, 3))
    with pytest.raises(ValueError, match="n_inits"):
        find_fixed_points(rnn, torch.zeros(1), 0, states=pool)
    with pytest.raises(ValueError, match="tol"):
        find_fixed_points(rnn, torch.zeros(1), 4, states=pool, tol=-1.0)


def test_no_converged_point_gives_empty_result():
    rnn = _two_unit_rnn()
    fp = find_fixed_points(rnn, torch.zeros(1), 4, states=torch.full((4, 2), 0.3), max_iters=0, newton_steps=0)
    assert len(fp) == 0
    assert fp.points.shape == (0, 2) and fp.eigenvalues.shape == (0, 2) and fp.is_stable.shape == (0,)
