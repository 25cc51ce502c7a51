from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize, stats

from eigenrnn.spectrum import Spectrum, sample_eigenvalues, spectral_matrix


def max_matching_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest distance under the best one-to-one matching of two eigenvalue sets."""
    a = a.detach().cpu().resolve_conj().numpy().astype(np.complex128)
    b = b.detach().cpu().resolve_conj().numpy().astype(np.complex128)
    cost = np.abs(a[:, None] - b[None, :])
    rows, cols = optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].max())


spectra = st.builds(
    lambda r0, width, dist, phase, real: Spectrum(radius=(r0, r0 + width), distribution=dist, max_phase=phase, real_fraction=real),
    st.floats(0.0, 1.2),
    st.floats(0.0, 0.8),
    st.sampled_from(["uniform", "ring"]),
    st.floats(0.0, math.pi),
    st.floats(0.0, 1.0),
)


@settings(max_examples=60, deadline=None)
@given(spectrum=spectra, n=st.integers(1, 48), seed=st.integers(0, 2**31 - 1))
def test_eigenvalues_equal_sampled_set_float64(spectrum, n, seed):
    lam = sample_eigenvalues(n, spectrum, torch.Generator().manual_seed(seed))
    w = spectral_matrix(n, spectrum, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    assert w.dtype == torch.float64 and w.shape == (n, n)
    assert max_matching_error(torch.linalg.eigvals(w), lam) < 1e-6


@settings(max_examples=25, deadline=None)
@given(spectrum=spectra, n=st.integers(2, 48), seed=st.integers(0, 2**31 - 1))
def test_eigenvalues_equal_sampled_set_float32(spectrum, n, seed):
    lam = sample_eigenvalues(n, spectrum, torch.Generator().manual_seed(seed))
    w = spectral_matrix(n, spectrum, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)
    assert w.dtype == torch.float32
    assert max_matching_error(torch.linalg.eigvals(w.double()), lam) < 1e-4


@settings(max_examples=40, deadline=None)
@given(spectrum=spectra, n=st.integers(1, 64), seed=st.integers(0, 2**31 - 1))
def test_sampled_eigenvalues_respect_the_spectrum(spectrum, n, seed):
    lam = sample_eigenvalues(n, spectrum, torch.Generator().manual_seed(seed))
    r_min, r_max = spectrum.radius
    assert lam.shape == (n,)
    assert torch.all(lam.abs() >= r_min - 1e-12) and torch.all(lam.abs() <= r_max + 1e-12)
    nonzero = lam.abs() > 1e-12  # the phase of 0 is meaningless
    assert torch.all(lam[nonzero].angle().abs() <= spectrum.max_phase + 1e-12)
    # closed under conjugation: the set equals its conjugate
    assert max_matching_error(lam, lam.conj()) < 1e-12
    # A pair's phase can be so small that its imaginary part is exactly zero.
    degenerate = spectrum.max_phase < 1e-6 or spectrum.r_max < 1e-6
    n_real = int((lam.imag == 0).sum())
    expected = round(spectrum.real_fraction * n)
    assert degenerate or abs(n_real - expected) <= 1
    assert degenerate or (n - n_real) % 2 == 0


def test_real_fraction_one_gives_only_real_eigenvalues():
    lam = sample_eigenvalues(31, Spectrum(radius=(0.2, 0.9), real_fraction=1.0), torch.Generator().manual_seed(0))
    assert torch.all(lam.imag == 0)


def test_negative_reals_only_when_the_full_phase_range_is_allowed():
    positive = sample_eigenvalues(200, Spectrum(radius=(0.2, 0.9), real_fraction=1.0, max_phase=3.0), torch.Generator().manual_seed(0))
    assert torch.all(positive.real > 0)
    mixed = sample_eigenvalues(200, Spectrum(radius=(0.2, 0.9), real_fraction=1.0), torch.Generator().manual_seed(0))
    assert (mixed.real < 0).any() and (mixed.real > 0).any()


def test_matrix_is_real_and_normal_without_nonnormality():
    w = spectral_matrix(50, Spectrum(radius=(0.3, 1.0)), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert not w.is_complex()
    assert torch.allclose(w @ w.T, w.T @ w, atol=1e-12)


def test_nonnormality_keeps_spectrum_and_breaks_normality():
    spectrum = Spectrum(radius=(0.3, 0.95), max_phase=2.5)
    lam = sample_eigenvalues(40, spectrum, torch.Generator().manual_seed(5))
    w = spectral_matrix(40, spectrum, nonnormality=0.8, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    commutator = torch.linalg.matrix_norm(w @ w.T - w.T @ w)
    assert commutator > 1e-2
    assert max_matching_error(torch.linalg.eigvals(w), lam) < 1e-8
    # departure from normality grows with eps
    def henrici(m):
        return float(torch.sqrt(torch.linalg.matrix_norm(m) ** 2 - (torch.linalg.eigvals(m).abs() ** 2).sum()))

    w_small = spectral_matrix(40, spectrum, nonnormality=0.2, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert henrici(w) > henrici(w_small) > 1e-3


def test_ring_is_uniform_in_area_and_uniform_is_uniform_in_radius():
    gen = torch.Generator().manual_seed(0)
    ring = sample_eigenvalues(4000, Spectrum(radius=(0.4, 1.0), distribution="ring", max_phase=math.pi / 2), gen).abs().numpy()
    # r^2 is uniform on [r_min^2, r_max^2]
    assert stats.kstest(ring**2, stats.uniform(loc=0.16, scale=1 - 0.16).cdf).pvalue > 1e-3
    flat = sample_eigenvalues(4000, Spectrum(radius=(0.4, 1.0), max_phase=math.pi / 2), gen).abs().numpy()
    assert stats.kstest(flat, stats.uniform(loc=0.4, scale=0.6).cdf).pvalue > 1e-3
    # the two are distinguishable
    assert stats.ks_2samp(ring, flat).pvalue < 1e-6


def test_phases_are_uniform_up_to_max_phase():
    lam = sample_eigenvalues(4000, Spectrum(radius=(0.5, 1.0), max_phase=1.0), torch.Generator().manual_seed(1))
    upper = lam[lam.imag > 0].angle().numpy()
    assert stats.kstest(upper, stats.uniform(loc=0.0, scale=1.0).cdf).pvalue > 1e-3


def test_seeded_generator_reproduces_and_dtype_device_are_respected():
    spectrum = Spectrum(radius=(0.1, 0.9))
    a = spectral_matrix(20, spectrum, generator=torch.Generator().manual_seed(7))
    b = spectral_matrix(20, spectrum, generator=torch.Generator().manual_seed(7))
    c = spectral_matrix(20, spectrum, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.get_default_dtype() and a.device.type == "cpu"
    assert spectral_matrix(8, spectrum, dtype=torch.bfloat16).dtype == torch.bfloat16


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"radius": (0.9, 0.5)}, "radius"),
        ({"radius": (-0.1, 0.5)}, "radius"),
        ({"radius": (0.1,)}, "radius"),
        ({"radius": (0.1, float("nan"))}, "radius"),
        ({"max_phase": 4.0}, "max_phase"),
        ({"max_phase": -0.1}, "max_phase"),
        ({"real_fraction": 1.5}, "real_fraction"),
        ({"distribution": "gaussian"}, "distribution"),
    ],
)
def test_invalid_spectrum_names_field_and_value(kwargs, field):
    with pytest.raises(ValueError) as info:
        Spectrum(**kwargs)
    message = str(info.value)
    assert f"Spectrum.{field}" in message and "got" in message and "expected" in message


def test_bad_size_and_generator_device():
    with pytest.raises(ValueError, match="n: got 0"):
        spectral_matrix(0, Spectrum())
    with pytest.raises(ValueError, match="generator"):
        spectral_matrix(4, Spectrum(), generator=torch.Generator(), device="meta")
    with pytest.raises(TypeError, match="spectrum"):
        spectral_matrix(4, (0.1, 0.9))


def test_spectrum_dict_round_trip_rejects_unknown_keys():
    s = Spectrum(radius=(0.2, 0.8), distribution="ring", max_phase=1.0, real_fraction=0.25)
    assert Spectrum.from_dict(s.to_dict()) == s
    with pytest.raises(ValueError, match="colour"):
        Spectrum.from_dict({**s.to_dict(), "colour": 1})
