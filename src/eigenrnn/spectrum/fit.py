"""Fitting a :class:`~eigenrnn.spectrum.Spectrum` to observed eigenvalues (robust quantiles, KS choice of law)."""

from __future__ import annotations

import math

import torch

from eigenrnn.errors import bad_value
from eigenrnn.rnn import recurrent_blocks
from eigenrnn.spectrum.laws import Spectrum

#: Tail share trimmed at each end when fitting; see :func:`fit_spectrum`.
FIT_QUANTILE = 0.05


def _extrapolated_range(values: torch.Tensor, q: float) -> tuple[float, float]:
    """Support ``[a, b]`` of a uniform law from its q and 1-q quantiles.

    For ``X ~ U[a, b]``, ``Q(p) = a + p (b - a)``, so the two inner quantiles
    determine ``a`` and ``b`` exactly while ignoring the outer tails.
    """
    lo, hi = (float(v) for v in torch.quantile(values, torch.tensor([q, 1 - q], dtype=values.dtype)))
    span = (hi - lo) / (1 - 2 * q)
    return lo - q * span, hi + q * span


def _ks_distance(sample: torch.Tensor, cdf) -> float:
    x, _ = torch.sort(sample)
    n = x.numel()
    f = cdf(x)
    upper = torch.arange(1, n + 1, dtype=x.dtype) / n - f
    lower = f - torch.arange(0, n, dtype=x.dtype) / n
    return float(torch.maximum(upper, lower).max())


def fit_spectrum(eigenvalues, *, quantile: float = FIT_QUANTILE, real_tol: float = 1e-9) -> Spectrum:
    r"""Fit a :class:`Spectrum` to a set of observed eigenvalues.

    Each parameter is estimated from robust quantiles, so a few outlying
    eigenvalues (a trained network typically has some) do not set the range:

    * ``radius``: the ``quantile`` and ``1 - quantile`` quantiles of ``|lambda|``
      (``"uniform"``) or of ``|lambda|^2`` (``"ring"``), extrapolated to the
      support of the uniform law they imply; ``distribution`` is whichever of
      the two fits has the smaller Kolmogorov-Smirnov distance;
    * ``max_phase``: the ``1 - quantile`` quantile of ``arg lambda`` over the
      upper half-plane, divided by ``1 - quantile`` (the support of a uniform
      phase), clipped to ``[0, pi]``;
    * ``real_fraction``: the share with ``|Im lambda| <= real_tol * max|lambda|``.

    Args:
        eigenvalues: complex array-like of shape ``(n,)`` (any shape is flattened);
            eigenvalues of real matrices, so closed under conjugation.
        quantile: tail share ignored at each end, in ``[0, 0.25)``; default
            :data:`FIT_QUANTILE` = 0.05 (robust to 5 % outliers per side while
            still using 90 % of the sample).
        real_tol: relative tolerance on the imaginary part for "real".

    Returns:
        the fitted :class:`Spectrum`.

    >>> from eigenrnn.spectrum import sample_eigenvalues
    >>> g = torch.Generator().manual_seed(0)
    >>> lam = sample_eigenvalues(400, Spectrum(radius=(0.5, 0.9), max_phase=1.0), g)
    >>> fit = fit_spectrum(lam)
    >>> abs(fit.r_max - 0.9) < 0.05 and abs(fit.max_phase - 1.0) < 0.15
    True
    """
    lam = _as_eigenvalues(eigenvalues)
    if not (0.0 <= quantile < 0.25):
        raise ValueError(bad_value("quantile", quantile, "a number in [0, 0.25)"))
    moduli = lam.abs()
    distribution, radius = _fit_moduli(moduli, quantile)
    is_real = lam.imag.abs() <= real_tol * max(float(moduli.max()), 1e-300)
    return Spectrum(
        radius=(radius[0], radius[1]),
        distribution=distribution,
        max_phase=min(max(_fit_max_phase(lam, is_real, quantile), 0.0), math.pi),
        real_fraction=float(is_real.double().mean()),
    )


def _as_eigenvalues(eigenvalues) -> torch.Tensor:
    """``eigenvalues`` as a flat complex128 tensor of at least 2 finite values, or a TypeError/ValueError."""
    try:
        lam = torch.as_tensor(eigenvalues)
    except (TypeError, RuntimeError, ValueError):
        raise TypeError(bad_value("eigenvalues", type(eigenvalues).__name__, "a tensor or array of numbers")) from None
    if lam.dtype == torch.bool:
        raise TypeError(bad_value("eigenvalues", lam.dtype, "real or complex numbers"))
    if not lam.is_complex():
        lam = lam.to(torch.float64).to(torch.complex128)
    lam = lam.to(torch.complex128).reshape(-1)
    if lam.numel() < 2:
        raise ValueError(bad_value("eigenvalues", f"{lam.numel()} value(s)", "at least 2 eigenvalues"))
    if not torch.isfinite(torch.view_as_real(lam)).all():
        raise ValueError(bad_value("eigenvalues", "values containing NaN or inf", "finite eigenvalues"))
    return lam


def _fit_moduli(moduli: torch.Tensor, quantile: float) -> tuple[str, tuple[float, float]]:
    """``(distribution, (r_min, r_max))``: the uniform or ring law whose KS distance to ``moduli`` is smaller."""
    candidates = []
    a, b = _extrapolated_range(moduli, quantile)
    a, b = max(a, 0.0), max(b, 0.0)
    if b > a:
        candidates.append(("uniform", (a, b), _ks_distance(moduli, lambda x: ((x - a) / (b - a)).clamp(0, 1))))
    a2, b2 = _extrapolated_range(moduli**2, quantile)
    a2, b2 = max(a2, 0.0), max(b2, 0.0)
    if b2 > a2:
        candidates.append(
            ("ring", (a2**0.5, b2**0.5), _ks_distance(moduli, lambda x: ((x**2 - a2) / (b2 - a2)).clamp(0, 1)))
        )
    if candidates:
        distribution, radius, _ = min(candidates, key=lambda c: c[2])
        return distribution, radius
    return "uniform", (float(moduli.min()), float(moduli.max()))  # all moduli (nearly) equal


def _fit_max_phase(lam: torch.Tensor, is_real: torch.Tensor, quantile: float) -> float:
    """The support of a uniform phase law from the upper half-plane's ``1 - quantile`` quantile (unclipped)."""
    upper = lam[(~is_real) & (lam.imag > 0)].angle()
    if upper.numel() >= 2:
        return float(torch.quantile(upper, 1 - quantile)) / (1 - quantile)
    if upper.numel() == 1:
        return float(upper[0])
    negative = lam[is_real].real < 0
    return math.pi if bool(negative.any()) else 0.0


def fit_spectrum_module(module, *, quantile: float = FIT_QUANTILE) -> dict[str, Spectrum]:
    """Fit one :class:`Spectrum` per gate to the recurrent blocks of a (trained) module.

    Eigenvalues of every layer and direction (and every recurrent module
    inside ``module``) are pooled per gate name, then passed to
    :func:`fit_spectrum`.  The result plugs straight into the eigen scheme::

        init_rnn(fresh, "eigen", spectrum=fit_spectrum_module(trained))

    Args:
        module: an nn.RNN/LSTM/GRU, a cell, or a model containing them.
        quantile: see :func:`fit_spectrum`.

    Returns:
        ``{gate: Spectrum}``: ``"h"`` for RNN, ``"i","f","g","o"`` for LSTM,
        ``"r","z","n"`` for GRU.

    >>> trained = torch.nn.GRU(4, 64)
    >>> sorted(fit_spectrum_module(trained))
    ['n', 'r', 'z']
    """
    pooled: dict[str, list[torch.Tensor]] = {}
    for block in recurrent_blocks(module):
        matrix = block.matrix().detach().to("cpu", torch.float64)
        pooled.setdefault(block.gate, []).append(torch.linalg.eigvals(matrix))
    return {gate: fit_spectrum(torch.cat(values), quantile=quantile) for gate, values in pooled.items()}
