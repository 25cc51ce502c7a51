"""Timescale spectra, mixtures, the horizon rule and chrono biases (issue 12, items 1 and 3)."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from eigenrnn.init import HORIZON_TAU_MIN, chrono_bias, horizon_spectrum, init_rnn, recurrent_blocks
from eigenrnn.spectrum import (
    Spectrum,
    SpectrumMixture,
    default_preset,
    preset_gate_spectra,
    sample_eigenvalues,
    spectral_matrix,
    spectrum_from_dict,
)
from eigenrnn.train.build import decode_init_kwargs
from eigenrnn.train.config import TrainConfig


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_timescale_tau_sample_is_log_uniform():
    spec = Spectrum.timescales((2.0, 300.0), real_fraction=1.0)  # all real: every eigenvalue is one tau draw
    lam = sample_eigenvalues(4000, spec, _gen(1))
    tau = (-1.0 / torch.log(lam.abs())).numpy()
    assert tau.min() >= 2.0 - 1e-9 and tau.max() <= 300.0 + 1e-6
    assert stats.kstest(tau, stats.loguniform(2.0, 300.0).cdf).pvalue > 0.01
    # and it is not uniform in tau or in radius, so the test can fail
    assert stats.kstest(tau, stats.uniform(2.0, 298.0).cdf).pvalue < 1e-6


def test_timescale_pairs_follow_the_law_and_the_phase_law():
    spec = Spectrum.timescales((1.0, 50.0), max_phase=0.5)
    lam = sample_eigenvalues(3000, spec, _gen(2))
    upper = lam[lam.imag > 0]
    tau = (-1.0 / torch.log(upper.abs())).numpy()
    assert stats.kstest(tau, stats.loguniform(1.0, 50.0).cdf).pvalue > 0.01
    assert stats.kstest(upper.angle().numpy(), stats.uniform(0.0, 0.5).cdf).pvalue > 0.01


def test_spectral_matrix_has_the_requested_timescale_eigenvalues():
    spec = Spectrum.timescales((1.0, 100.0), max_phase=math.pi / 3, real_fraction=0.25)
    requested = sample_eigenvalues(40, spec, _gen(3))
    w = spectral_matrix(40, spec, generator=_gen(3), dtype=torch.float64)
    computed = torch.linalg.eigvals(w)
    key = lambda z: sorted(z.tolist(), key=lambda v: (round(v.real, 6), round(v.imag, 6)))  # noqa: E731
    assert torch.allclose(torch.tensor(key(computed)), torch.tensor(key(requested)), atol=1e-9)


@pytest.mark.parametrize("tau", [(0.0, 5.0), (5.0, 2.0), (1.0, math.inf), (math.nan, 3.0), (1.0,)])
def test_timescales_refuses_bad_tau(tau):
    with pytest.raises(ValueError, match="tau: got"):
        Spectrum.timescales(tau)


def test_timescale_distribution_needs_radii_inside_the_disk():
    with pytest.raises(ValueError, match="Spectrum.radius"):
        Spectrum(radius=(0.5, 1.0), distribution="timescale")


@pytest.mark.parametrize("n, shares, expected", [(64, (0.25, 0.75), (16, 48)), (10, (1 / 3, 2 / 3), (3, 7)), (7, (0.5, 0.5), (4, 3)), (30, (0.1, 0.9), (3, 27))])
def test_mixture_counts_are_exact_largest_remainder(n, shares, expected):
    mix = SpectrumMixture(tuple(zip(shares, (Spectrum(radius=(1.0, 1.0)), Spectrum(radius=(0.0, 0.5))))))
    assert mix.counts(n) == expected
    lam = sample_eigenvalues(n, mix, _gen(4))
    assert int((lam.abs() > 1 - 1e-12).sum()) == expected[0]  # the unit-circle share, exactly
    assert int((lam.abs() <= 0.5 + 1e-12).sum()) == expected[1]


def test_mixture_matrix_holds_its_shares_and_roundtrips_json():
    bulk = Spectrum.timescales((1.0, 20.0))
    mix = SpectrumMixture(((0.125, Spectrum(radius=(1.0, 1.0), max_phase=0.1)), (0.875, bulk)))
    w = spectral_matrix(64, mix, generator=_gen(5), dtype=torch.float64)
    moduli = torch.linalg.eigvals(w).abs()
    assert int((moduli > 1 - 1e-9).sum()) == 8
    assert float(moduli[moduli < 1 - 1e-9].max()) <= math.exp(-1 / 20) + 1e-9
    assert spectrum_from_dict(mix.to_dict()) == mix
    config = TrainConfig(task="tomita3", init="eigen", init_kwargs={"spectrum": mix})
    assert decode_init_kwargs(config.init_kwargs)["spectrum"] == mix


@pytest.mark.parametrize(
    "components", [(), ((0.5, Spectrum()),), ((0.5, Spectrum()), (0.6, Spectrum())), ((-0.5, Spectrum()), (1.5, Spectrum())), ((1.0, "ring"),)]
)
def test_mixture_refuses_bad_components(components):
    with pytest.raises(ValueError, match="SpectrumMixture"):
        SpectrumMixture(components)


def test_horizon_maps_to_the_documented_tau_max():
    spec = horizon_spectrum(196)
    assert spec.distribution == "timescale"
    assert spec.tau == pytest.approx((HORIZON_TAU_MIN, 196.0))
    assert spec.radius == pytest.approx((math.exp(-1.0), math.exp(-1.0 / 196)))


def test_init_rnn_eigen_horizon_builds_timescale_spectra_with_the_preset_phases():
    gru = torch.nn.GRU(1, 48)
    init_rnn(gru, "eigen", horizon=50, generator=_gen(6))
    presets = preset_gate_spectra(default_preset(), "gru")
    for block in recurrent_blocks(gru):
        moduli = torch.linalg.eigvals(block.matrix().detach().double()).abs()
        assert float(moduli.min()) >= math.exp(-1.0) - 1e-5 and float(moduli.max()) <= math.exp(-1 / 50) + 1e-5
    # the same draw as eigen_ with horizon_spectrum(50, preset gate) on a fresh generator
    from eigenrnn.init import eigen_

    w = torch.empty(48, 48)
    eigen_(w, horizon_spectrum(50, presets["r"]), generator=_gen(6))
    assert torch.equal(w, gru.weight_hh_l0[:48].detach())


def test_chrono_biases_follow_their_law():
    horizon = 200
    lstm = torch.nn.LSTM(1, 1000)
    init_rnn(lstm, "orthogonal", bias="chrono", horizon=horizon, generator=_gen(7))
    i, f, g, o = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().double().chunk(4)
    assert stats.kstest(torch.exp(f).numpy(), stats.uniform(1.0, horizon - 2).cdf).pvalue > 0.01
    assert torch.equal(i, -f)
    assert torch.count_nonzero(g) == 0 and torch.count_nonzero(o) == 0
    gru = torch.nn.GRU(1, 1000)
    init_rnn(gru, "xavier", bias="chrono", horizon=horizon, generator=_gen(8))
    r, z, n = (gru.bias_ih_l0 + gru.bias_hh_l0).detach().double().chunk(3)
    # PyTorch's GRU keeps its state where z is large: h' = (1 - z) n + z h, so z carries +log u.
    assert stats.kstest(torch.exp(z).numpy(), stats.uniform(1.0, horizon - 2).cdf).pvalue > 0.01
    assert float(z.min()) >= 0.0
    assert torch.count_nonzero(r) == 0 and torch.count_nonzero(n) == 0
    # the characteristic time 1 / (1 - sigmoid(b)) = 1 + u spans [2, T]
    time_constant = 1 / (1 - torch.sigmoid(z))
    assert float(time_constant.min()) >= 2 - 1e-9 and float(time_constant.max()) <= horizon + 1e-6


def test_chrono_bias_matches_the_closed_form_draw():
    b = chrono_bias(5, 10, _gen(9))
    u = torch.rand(5, generator=_gen(9), dtype=torch.float64)
    assert torch.allclose(b, torch.log(1 + 8 * u))


@pytest.mark.parametrize(
    "module, kwargs, message",
    [
        (torch.nn.RNN(1, 4), {"bias": "chrono", "horizon": 10}, "bias: got 'chrono'"),
        (torch.nn.GRU(1, 4), {"bias": "chrono"}, "horizon: got None"),
        (torch.nn.GRU(1, 4), {"bias": "slow", "horizon": 10}, "bias: got 'slow'"),
        (torch.nn.LSTM(1, 4), {"bias": "chrono", "horizon": 10, "forget_bias": 1.0}, "forget_bias: got 1.0"),
        (torch.nn.GRU(1, 4, bias=False), {"bias": "chrono", "horizon": 10}, "bias=False"),
        (torch.nn.GRU(1, 4), {"horizon": 10}, "horizon: got 10"),
        (torch.nn.GRU(1, 4), {"bias": "chrono", "horizon": 1}, "horizon: got 1"),
        (torch.nn.GRU(1, 4), {"bias": "chrono", "horizon": 10.0}, "horizon: got 10.0"),
    ],
)
def test_bad_chrono_and_horizon_arguments_leave_the_module_untouched(module, kwargs, message):
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(ValueError, match=message):
        init_rnn(module, "xavier", generator=_gen(0), **kwargs)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_eigen_horizon_with_an_explicit_spectrum_is_refused():
    with pytest.raises(ValueError, match="horizon"):
        init_rnn(torch.nn.GRU(1, 4), "eigen", horizon=10, spectrum=Spectrum())


def test_existing_bias_behaviour_is_unchanged():
    lstm = torch.nn.LSTM(1, 6)
    init_rnn(lstm, "xavier", bias=0.5, forget_bias=2.0, generator=_gen(0))
    i, f, g, o = lstm.bias_ih_l0.detach().chunk(4)
    assert torch.all(f == 2.0) and torch.all(i == 0.5) and torch.all(lstm.bias_hh_l0 == 0)
