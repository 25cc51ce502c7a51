from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from eigenrnn import init_rnn, recurrent_blocks
from eigenrnn.spectrum import Spectrum, fit_spectrum, fit_spectrum_module, sample_eigenvalues, spectral_matrix

KNOWN = [
    Spectrum(radius=(0.5, 0.9), distribution="uniform", max_phase=1.0),
    Spectrum(radius=(0.3, 1.0), distribution="ring", max_phase=math.pi, real_fraction=0.2),
    Spectrum(radius=(0.8, 0.85), distribution="uniform", max_phase=0.3),
    Spectrum(radius=(0.6, 1.1), distribution="ring", max_phase=2.0, real_fraction=0.5),
]


@pytest.mark.parametrize("spectrum", KNOWN)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fit_recovers_known_parameters_from_a_matrix(spectrum, seed):
    w = spectral_matrix(400, spectrum, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    fit = fit_spectrum(torch.linalg.eigvals(w))
    assert abs(fit.r_min - spectrum.r_min) < 0.05
    assert abs(fit.r_max - spectrum.r_max) < 0.05
    assert abs(fit.max_phase - spectrum.max_phase) < 0.15
    assert abs(fit.real_fraction - spectrum.real_fraction) < 0.02


def test_fit_tells_ring_from_uniform():
    g = torch.Generator().manual_seed(0)
    ring = fit_spectrum(sample_eigenvalues(2000, Spectrum(radius=(0.2, 1.0), distribution="ring"), g))
    flat = fit_spectrum(sample_eigenvalues(2000, Spectrum(radius=(0.2, 1.0), distribution="uniform"), g))
    assert ring.distribution == "ring" and flat.distribution == "uniform"


def test_fit_is_robust_to_a_few_outliers():
    lam = sample_eigenvalues(400, Spectrum(radius=(0.5, 0.9), max_phase=1.0), torch.Generator().manual_seed(0))
    lam = torch.cat([lam, torch.tensor([3.0 + 0j, 2.5 + 0j])])
    fit = fit_spectrum(lam)
    assert fit.r_max < 0.95


def test_fit_spectrum_module_round_trip_through_init_rnn():
    source = nn.LSTM(3, 64, num_layers=2).double()
    target = {g: Spectrum(radius=(0.3 + 0.1 * i, 0.8 + 0.05 * i), max_phase=0.5 + 0.5 * i) for i, g in enumerate("ifgo")}
    init_rnn(source, "eigen", spectrum=target, generator=torch.Generator().manual_seed(0))
    fitted = fit_spectrum_module(source)
    assert sorted(fitted) == sorted("ifgo")
    for gate, spectrum in target.items():
        assert abs(fitted[gate].r_max - spectrum.r_max) < 0.05
        assert abs(fitted[gate].max_phase - spectrum.max_phase) < 0.15
    fresh = nn.LSTM(3, 64).double()
    init_rnn(fresh, "eigen", spectrum=fitted, generator=torch.Generator().manual_seed(1))
    for block in recurrent_blocks(fresh):
        moduli = torch.linalg.eigvals(block.matrix()).abs()
        assert moduli.max() <= fitted[block.gate].r_max + 1e-9


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="eigenvalues"):
        fit_spectrum(torch.tensor([1.0 + 0j]))
    with pytest.raises(ValueError, match="NaN"):
        fit_spectrum(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="quantile"):
        fit_spectrum(torch.tensor([0.5, 0.6]), quantile=0.4)
