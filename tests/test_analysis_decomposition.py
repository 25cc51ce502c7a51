"""Decomposition, projection and linear memory against closed-form ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from eigenrnn.analysis import decompose, decompose_module, linear_memory_curve, project
from eigenrnn.analysis.decomposition import sort_by_modulus, sorted_eigenvalues

torch.set_num_threads(1)


def _orthogonal(n: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def test_diagonal_gives_sorted_eigenvalues_and_time_constants():
    values = torch.tensor([0.5, -0.9, 0.1, 1.2, 0.0], dtype=torch.float64)
    d = decompose(torch.diag(values))
    assert d.eigenvalues.real.tolist() == [1.2, -0.9, 0.5, 0.1, 0.0]
    assert torch.all(d.eigenvalues.imag == 0)
    assert d.spectral_radius == pytest.approx(1.2)
    assert d.n_unstable == 1
    expected_tau = [math.inf, -1 / math.log(0.9), -1 / math.log(0.5), -1 / math.log(0.1), 0.0]
    assert d.time_constants.tolist() == pytest.approx(expected_tau)
    assert d.half_lives[1:].tolist() == pytest.approx([math.log(2) * t for t in expected_tau[1:]])
    assert math.isinf(d.half_lives[0])
    assert d.max_finite_time_constant == pytest.approx(-1 / math.log(0.9))
    # diagonal => normal: no departure from normality, perfectly conditioned eigenbasis
    assert d.henrici == pytest.approx(0.0, abs=1e-12)
    assert d.eigenvector_condition == pytest.approx(1.0)
    # columns are eigenvectors: W V = V Λ
    w = torch.diag(values).to(torch.complex128)
    assert torch.allclose(w @ d.eigenvectors, d.eigenvectors * d.eigenvalues, atol=1e-12)


def test_orthogonal_is_normal_and_unit_modulus():
    q = _orthogonal(12, 0)
    d = decompose(q)
    assert d.henrici == pytest.approx(0.0, abs=1e-6)
    assert d.eigenvector_condition == pytest.approx(1.0, abs=1e-8)
    assert torch.allclose(d.moduli, torch.ones(12, dtype=torch.float64), atol=1e-12)
    # |λ| = 1 up to rounding: no decay (inf, or ~1e15 steps when rounding lands below 1)
    assert torch.all(d.time_constants > 1e13)


def test_non_normal_matrix_has_positive_henrici_and_large_condition():
    w = torch.tensor([[0.5, 10.0], [0.0, 0.4]], dtype=torch.float64)
    d = decompose(w)
    # Henrici: sqrt(||W||_F^2 - sum |λ|^2) = sqrt(100) exactly here
    assert d.henrici == pytest.approx(10.0)
    assert d.eigenvector_condition > 100
    assert d.eigenvalues.real.tolist() == pytest.approx([0.5, 0.4])


def test_conjugate_pairs_and_ties_are_ordered_by_phase():
    theta = 0.3
    rot = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]], dtype=torch.float64)
    w = torch.block_diag(0.9 * rot, torch.tensor([[-0.9]], dtype=torch.float64), torch.tensor([[0.2]], dtype=torch.float64))
    lam = decompose(w).eigenvalues
    assert lam.abs()[:3].tolist() == pytest.approx([0.9, 0.9, 0.9])
    assert torch.angle(lam[:3]).tolist() == pytest.approx([-theta, theta, math.pi])
    assert lam[3].real == pytest.approx(0.2)
    # the order is a pure function of the values
    shuffled = lam[torch.tensor([3, 1, 2, 0])]
    assert torch.equal(shuffled[sort_by_modulus(shuffled)], lam)
    assert torch.allclose(sorted_eigenvalues(w), lam)


def test_random_matrix_reconstructs():
    w = torch.randn(20, 20, generator=torch.Generator().manual_seed(1), dtype=torch.float64) / 4
    d = decompose(w)
    rebuilt = d.eigenvectors @ torch.diag(d.eigenvalues) @ torch.linalg.inv(d.eigenvectors)
    assert torch.allclose(rebuilt.real, w, atol=1e-10)
    assert torch.all(d.moduli[:-1] >= d.moduli[1:] - 1e-12)
    fro2 = float((w**2).sum())
    assert d.henrici == pytest.approx(math.sqrt(fro2 - float((d.moduli**2).sum())))


@pytest.mark.parametrize(
    "bad, exc",
    [
        (torch.zeros(2, 3), ValueError),
        (torch.zeros(0, 0), ValueError),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), ValueError),
        (torch.tensor([[1.0, float("inf")], [0.0, 1.0]]), ValueError),
        ("not a matrix", TypeError),
        (torch.ones(2, 2, dtype=torch.bool), TypeError),
    ],
)
def test_decompose_rejects_bad_input(bad, exc):
    with pytest.raises(exc, match="matrix"):
        decompose(bad)


def test_decompose_module_covers_every_block():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2)
            self.cell = nn.GRUCell(4, 6)
            self.rnn = nn.RNN(2, 4, nonlinearity="relu")

    model = Model()
    spectra = decompose_module(model)
    expected = [f"encoder.l{l}.{d}.{g}" for l in (0, 1) for d in ("fwd", "bwd") for g in "ifgo"]
    expected += [f"cell.l0.fwd.{g}" for g in "rzn"] + ["rnn.l0.fwd.h"]
    assert list(spectra) == expected
    # projected LSTM: the P×P loop matrix W_hr W_hh[gate]
    w_f = model.encoder.weight_hr_l1_reverse @ model.encoder.weight_hh_l1_reverse[5:10]
    d = spectra["encoder.l1.bwd.f"]
    assert d.size == 2
    assert torch.allclose(d.eigenvalues, sorted_eigenvalues(w_f.detach()), atol=1e-6)
    assert torch.allclose(spectra["cell.l0.fwd.n"].eigenvalues, sorted_eigenvalues(model.cell.weight_hh[12:].detach()), atol=1e-6)


def test_decompose_module_reports_nan_block():
    gru = nn.GRU(2, 3)
    with torch.no_grad():
        gru.weight_hh_l0[4, 0] = float("nan")
    with pytest.raises(ValueError, match=r"l0\.fwd\.z"):
        decompose_module(gru)
    with pytest.raises(TypeError, match="module"):
        decompose_module(nn.Linear(2, 2))


def test_projection_inverts_the_eigenbasis():
    gen = torch.Generator().manual_seed(2)
    w = torch.randn(6, 6, generator=gen, dtype=torch.float64) / 3
    d = decompose(w)
    z_true = torch.randn(7, 3, 6, generator=gen, dtype=torch.complex128)
    # h = V z; a real W gives a complex basis, so build h complex and project back
    h = z_true @ d.eigenvectors.T
    p = project(h, d)
    assert p.modes.shape == (7, 3, 6)
    assert torch.allclose(p.modes, z_true, atol=1e-10)
    assert torch.allclose(p.energy, z_true.abs().square().mean(dim=1), atol=1e-10)
    assert torch.allclose(p.relative_energy.sum(-1), torch.ones(7, dtype=torch.float64))
    # a real trajectory: V z reproduces h (complex-safe), unbatched shape kept
    h_real = torch.randn(5, 6, generator=gen, dtype=torch.float64)
    p_real = project(h_real, d)
    assert p_real.modes.shape == (5, 6) and p_real.energy.shape == (5, 6)
    assert torch.allclose(p_real.modes @ d.eigenvectors.T, h_real.to(torch.complex128), atol=1e-10)
    # float32 trajectories are solved in complex64
    assert project(h_real.float(), d).modes.dtype == torch.complex64


def test_projection_follows_linear_dynamics():
    # In the linear SSM h_t = W h_{t-1} mode k evolves as z_t = λ_k z_{t-1}.
    w = torch.randn(5, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64) / 3
    d = decompose(w)
    h = [torch.ones(5, dtype=torch.float64)]
    for _ in range(6):
        h.append(w @ h[-1])
    z = project(torch.stack(h), d).modes
    assert torch.allclose(z[1:], z[:-1] * d.eigenvalues, atol=1e-10)


def test_projection_rejects_wrong_shape():
    d = decompose(torch.eye(3))
    with pytest.raises(ValueError, match="hidden_states.shape"):
        project(torch.zeros(4, 2, 5), d)
    with pytest.raises(TypeError, match="hidden_states"):
        project(np.zeros((4, 3)), d)


def test_memory_curve_of_scaled_identity():
    lam = -0.8
    m = linear_memory_curve(lam * torch.eye(4), torch.randn(4, 3, generator=torch.Generator().manual_seed(4)), 10)
    assert m.curve.tolist() == pytest.approx([abs(lam) ** s for s in range(11)], rel=1e-6)


def test_memory_curve_matches_matrix_powers_and_modes():
    gen = torch.Generator().manual_seed(5)
    a = torch.randn(5, 5, generator=gen, dtype=torch.float64)
    w = (a + a.T) / 6  # symmetric: orthonormal eigenvectors, so modes add up in quadrature
    u = torch.randn(5, 2, generator=gen, dtype=torch.float64)
    m = linear_memory_curve(w, u, 8)
    for s in range(9):
        expected = torch.linalg.matrix_norm(torch.linalg.matrix_power(w, s) @ u) / torch.linalg.matrix_norm(u)
        assert float(m.curve[s]) == pytest.approx(float(expected), rel=1e-10)
    assert m.modes.shape == (9, 5)
    assert torch.allclose(m.modes.square().sum(-1).sqrt(), m.curve, rtol=1e-8)
    assert torch.allclose(m.modes[3], m.modes[0] * m.decomposition.moduli**3)


def test_memory_curve_rejects_bad_input():
    with pytest.raises(ValueError, match="U.shape"):
        linear_memory_curve(torch.eye(3), torch.ones(4, 2), 3)
    with pytest.raises(ValueError, match="steps"):
        linear_memory_curve(torch.eye(3), torch.ones(3, 2), -1)
    with pytest.raises(TypeError, match="steps"):
        linear_memory_curve(torch.eye(3), torch.ones(3, 2), 2.5)
    with pytest.raises(ValueError, match="U"):
        linear_memory_curve(torch.eye(3), torch.zeros(3, 2), 3)
