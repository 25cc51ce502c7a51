"""Prescribed eigen-spectra and real matrices that have exactly them.

A :class:`Spectrum` describes a distribution of eigenvalues in the complex unit
disk: moduli in ``[r_min, r_max]`` (uniform in radius, or uniform in area over
the annulus as in the LRU of Orvieto et al. 2023), phases in
``[-max_phase, max_phase]``, and a fraction of purely real eigenvalues.
The moduli may instead be given by time constants (:meth:`Spectrum.timescales`:
``tau`` log-uniform, ``|lambda| = exp(-1/tau)``), and a :class:`SpectrumMixture`
takes exact shares of the modes from several spectra.
:func:`spectral_matrix` builds a real ``n x n`` matrix ``W = V D V^{-1}`` whose
eigenvalues are exactly a sample from it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from eigenrnn.errors import bad_value, check_int
from eigenrnn.rnn import recurrent_blocks

Distribution = Literal["uniform", "ring", "timescale"]
_DISTRIBUTIONS = ("uniform", "ring", "timescale")


@dataclass(frozen=True)
class Spectrum:
    """A distribution of eigenvalues inside (or on) a disk of the complex plane.

    Args:
        radius: ``(r_min, r_max)`` bounds on the modulus, ``0 <= r_min <= r_max``.
        distribution: ``"uniform"`` draws the modulus uniformly in
            ``[r_min, r_max]``; ``"ring"`` draws uniformly in *area* over the
            annulus, ``r = sqrt(U (r_max^2 - r_min^2) + r_min^2)`` (Orvieto et al.
            2023, "Resurrecting Recurrent Neural Networks for Long Sequences");
            ``"timescale"`` draws the time constant ``tau = -1/ln r``
            log-uniformly on ``[tau_min, tau_max] = [-1/ln r_min, -1/ln r_max]``
            and sets ``r = exp(-1/tau)`` (needs ``0 < r_min <= r_max < 1``;
            build it with :meth:`timescales`).  Log-uniform time constants put
            the same number of modes in every octave of memory length.
        max_phase: complex eigenvalues have ``|arg lambda| <= max_phase`` with
            the phase uniform in ``(0, max_phase]`` for the upper member of each
            conjugate pair; must lie in ``[0, pi]``.
        real_fraction: share of the ``n`` eigenvalues that are real, in
            ``[0, 1]``.  Real eigenvalues are positive unless ``max_phase == pi``,
            in which case their sign is random (a negative real has phase pi).

    >>> Spectrum(radius=(0.5, 1.0), distribution="ring", max_phase=math.pi / 2)
    Spectrum(radius=(0.5, 1.0), distribution='ring', max_phase=1.5707963267948966, real_fraction=0.0)
    """

    radius: tuple[float, float] = (0.0, 1.0)
    distribution: Distribution = "uniform"
    max_phase: float = math.pi
    real_fraction: float = 0.0

    def __post_init__(self) -> None:
        radius = self.radius
        r_min, r_max = _real_pair("Spectrum.radius", radius, "(r_min, r_max)")
        if not (math.isfinite(r_min) and math.isfinite(r_max)):
            raise ValueError(bad_value("Spectrum.radius", radius, "finite numbers"))
        if r_min < 0 or r_max < 0:
            raise ValueError(bad_value("Spectrum.radius", radius, "non-negative radii"))
        if r_min > r_max:
            raise ValueError(bad_value("Spectrum.radius", radius, "r_min <= r_max"))
        object.__setattr__(self, "radius", (r_min, r_max))
        if self.distribution not in _DISTRIBUTIONS:
            raise ValueError(bad_value("Spectrum.distribution", self.distribution, f"one of {_DISTRIBUTIONS}"))
        max_phase = float(self.max_phase)
        if not (0.0 <= max_phase <= math.pi + 1e-12):
            raise ValueError(bad_value("Spectrum.max_phase", self.max_phase, "a number in [0, pi]"))
        object.__setattr__(self, "max_phase", min(max_phase, math.pi))
        real_fraction = float(self.real_fraction)
        if not (0.0 <= real_fraction <= 1.0):
            raise ValueError(bad_value("Spectrum.real_fraction", self.real_fraction, "a number in [0, 1]"))
        object.__setattr__(self, "real_fraction", real_fraction)
        if self.distribution == "timescale" and not (0.0 < r_min and r_max < 1.0):
            raise ValueError(
                bad_value("Spectrum.radius", radius, "0 < r_min <= r_max < 1 for distribution 'timescale' (finite time constants)")
            )

    @classmethod
    def timescales(
        cls, tau: tuple[float, float], *, max_phase: float = math.pi, real_fraction: float = 0.0
    ) -> "Spectrum":
        r"""A spectrum given by time constants: :math:`\tau \sim \mathrm{LogUniform}[\tau_{min}, \tau_{max}]`, :math:`|\lambda| = e^{-1/\tau}`.

        A mode of modulus ``r`` keeps ``r^s = exp(-s/tau)`` of an input ``s``
        steps back, so ``tau`` is its memory length in steps.

        Args:
            tau: ``(tau_min, tau_max)``, finite, ``0 < tau_min <= tau_max``.
            max_phase, real_fraction: as in :class:`Spectrum`.

        >>> s = Spectrum.timescales((1.0, 100.0))
        >>> s.distribution, [round(t, 6) for t in s.tau]
        ('timescale', [1.0, 100.0])
        """
        t_min, t_max = _real_pair("tau", tau, "(tau_min, tau_max)")
        if not (math.isfinite(t_min) and math.isfinite(t_max) and 0.0 < t_min <= t_max):
            raise ValueError(bad_value("tau", tau, "finite numbers with 0 < tau_min <= tau_max"))
        radius = (math.exp(-1.0 / t_min), math.exp(-1.0 / t_max))
        if radius[1] >= 1.0:
            raise ValueError(bad_value("tau", tau, "tau_max small enough that exp(-1/tau_max) < 1 in float64 (below about 1e16)"))
        return cls(radius=radius, distribution="timescale", max_phase=max_phase, real_fraction=real_fraction)

    @property
    def tau(self) -> tuple[float, float]:
        """``(tau_min, tau_max) = (-1/ln r_min, -1/ln r_max)`` in steps (``inf`` for ``r = 1``, ``0`` for ``r = 0``)."""

        def tau_of(r: float) -> float:
            if r >= 1.0:
                return math.inf
            return 0.0 if r <= 0.0 else -1.0 / math.log(r)

        return tau_of(self.r_min), tau_of(self.r_max)

    @property
    def r_min(self) -> float:
        return self.radius[0]

    @property
    def r_max(self) -> float:
        return self.radius[1]

    def to_dict(self) -> dict:
        return {
            "radius": list(self.radius),
            "distribution": self.distribution,
            "max_phase": self.max_phase,
            "real_fraction": self.real_fraction,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Spectrum":
        unknown = set(data) - {"radius", "distribution", "max_phase", "real_fraction"}
        if unknown:
            raise ValueError(bad_value("Spectrum keys", sorted(unknown), "radius, distribution, max_phase, real_fraction"))
        kwargs = dict(data)
        if "radius" in kwargs:
            kwargs["radius"] = tuple(kwargs["radius"])
        return cls(**kwargs)


@dataclass(frozen=True)
class SpectrumMixture:
    """Exact shares of the ``n`` eigenvalues drawn from several :class:`Spectrum` laws.

    Component ``k`` contributes exactly ``counts(n)[k]`` eigenvalues: the
    quotas ``share_k * n`` are rounded by the largest-remainder rule (floors
    first; the leftover modes go to the largest fractional parts, ties to the
    earlier component), so the counts always sum to ``n`` and differ from the
    quotas by less than one, deterministically.  Within a component the real
    fraction is applied as for a single spectrum (an odd count needs one real
    eigenvalue).

    Args:
        components: ``((share, Spectrum), ...)``; shares finite and ``> 0``,
            summing to 1 (within 1e-9).

    >>> mix = SpectrumMixture(((0.25, Spectrum(radius=(1.0, 1.0))), (0.75, Spectrum(radius=(0.0, 0.9)))))
    >>> mix.counts(10)
    (3, 7)
    """

    components: tuple[tuple[float, Spectrum], ...]

    def __post_init__(self) -> None:
        comps = self.components
        if not isinstance(comps, (tuple, list)) or not comps:
            raise ValueError(bad_value("SpectrumMixture.components", comps, "a non-empty sequence of (share, Spectrum) pairs"))
        out = []
        for item in comps:
            if not (isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[1], Spectrum)):
                raise ValueError(bad_value("SpectrumMixture component", item, "a pair (share, Spectrum)"))
            share = item[0]
            if isinstance(share, bool) or not isinstance(share, (int, float)) or not (math.isfinite(share) and share > 0):
                raise ValueError(bad_value("SpectrumMixture share", share, "a finite number > 0"))
            out.append((float(share), item[1]))
        total = sum(share for share, _ in out)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(bad_value("SpectrumMixture shares", [share for share, _ in out], "shares summing to 1"))
        object.__setattr__(self, "components", tuple(out))

    def counts(self, n: int) -> tuple[int, ...]:
        """Number of eigenvalues of each component in an ``n x n`` matrix (largest-remainder rounding)."""
        n = _check_size(n)
        # Rounded first so that e.g. 0.1 * 30 counts as exactly 3.
        quotas = [round(share * n, 9) for share, _ in self.components]
        counts = [int(math.floor(q)) for q in quotas]
        order = sorted(range(len(quotas)), key=lambda k: (-(quotas[k] - counts[k]), k))
        for k in order[: n - sum(counts)]:
            counts[k] += 1
        return tuple(counts)

    def to_dict(self) -> dict:
        return {"mixture": [{"share": share, "spectrum": spec.to_dict()} for share, spec in self.components]}

    @classmethod
    def from_dict(cls, data: dict) -> "SpectrumMixture":
        if set(data) != {"mixture"} or not isinstance(data["mixture"], list):
            raise ValueError(bad_value("SpectrumMixture keys", sorted(data), "exactly 'mixture' (a list of {share, spectrum})"))
        comps = []
        for item in data["mixture"]:
            if not isinstance(item, dict) or set(item) != {"share", "spectrum"}:
                raise ValueError(bad_value("SpectrumMixture entry", item, "a dict with keys 'share' and 'spectrum'"))
            comps.append((item["share"], Spectrum.from_dict(item["spectrum"])))
        return cls(tuple(comps))


AnySpectrum = Spectrum | SpectrumMixture


def spectrum_from_dict(data: dict) -> AnySpectrum:
    """A :class:`Spectrum` or :class:`SpectrumMixture` from its ``to_dict()`` form."""
    if isinstance(data, dict) and "mixture" in data:
        return SpectrumMixture.from_dict(data)
    return Spectrum.from_dict(data)


def _check_spectrum(spectrum) -> None:
    if not isinstance(spectrum, (Spectrum, SpectrumMixture)):
        raise TypeError(bad_value("spectrum", type(spectrum).__name__, "a Spectrum or SpectrumMixture"))


def _real_pair(name: str, value: object, pair: str) -> tuple[float, float]:
    """``value`` as two floats, or a ValueError naming ``name``; ``pair`` names the two, e.g. ``"(r_min, r_max)"``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(bad_value(name, value, f"a pair {pair}"))
    try:
        return float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ValueError(bad_value(name, value, "two real numbers")) from None


def _check_size(n: int) -> int:
    check_int("n", n)
    return n


def check_generator(generator: torch.Generator | None, device: torch.device | str, argument: str = "generator") -> None:
    """Raise ValueError if ``generator`` lives on another device type than ``device``."""
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(bad_value(argument, type(generator).__name__, "a torch.Generator or None"))
    target = torch.device(device)
    if generator.device.type != target.type:
        raise ValueError(
            bad_value(argument, f"a generator on {generator.device}", f"a generator on the tensor's device type '{target.type}'")
        )


def _count_real(n: int, real_fraction: float) -> int:
    """Number of real eigenvalues: round(real_fraction * n), nudged so n - k is even."""
    n_real = int(round(real_fraction * n))
    if (n - n_real) % 2:
        n_real = n_real + 1 if n_real < n else n_real - 1
    return n_real


def _sample_moduli(count: int, spectrum: Spectrum, generator, device) -> torch.Tensor:
    u = torch.rand(count, generator=generator, dtype=torch.float64, device=device)
    r_min, r_max = spectrum.radius
    if spectrum.distribution == "ring":
        return torch.sqrt(u * (r_max**2 - r_min**2) + r_min**2)
    if spectrum.distribution == "timescale":
        t_min, t_max = spectrum.tau
        tau = t_min * (t_max / t_min) ** u  # log-uniform
        return torch.exp(-1.0 / tau)
    return r_min + u * (r_max - r_min)


def _sample_parts(n: int, spectrum: AnySpectrum, generator, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sample (real eigenvalues, pair moduli, pair phases) in float64; a mixture's components in order."""
    if isinstance(spectrum, SpectrumMixture):
        parts = [
            _sample_parts(count, spec, generator, device)
            for count, (_, spec) in zip(spectrum.counts(n), spectrum.components)
            if count
        ]
        return tuple(torch.cat([p[i] for p in parts]) for i in range(3))  # type: ignore[return-value]
    n_real = _count_real(n, spectrum.real_fraction)
    n_pairs = (n - n_real) // 2
    real_values = _sample_moduli(n_real, spectrum, generator, device)
    if spectrum.max_phase >= math.pi and n_real:
        signs = torch.randint(0, 2, (n_real,), generator=generator, device=device).to(torch.float64) * 2 - 1
        real_values = real_values * signs
    pair_moduli = _sample_moduli(n_pairs, spectrum, generator, device)
    pair_phases = torch.rand(n_pairs, generator=generator, dtype=torch.float64, device=device) * spectrum.max_phase
    return real_values, pair_moduli, pair_phases


def _eigenvalues_from_parts(real_values, pair_moduli, pair_phases) -> torch.Tensor:
    upper = torch.polar(pair_moduli, pair_phases)
    pairs = torch.stack([upper, upper.conj()], dim=1).reshape(-1)
    return torch.cat([real_values.to(torch.complex128), pairs])


def sample_eigenvalues(
    n: int,
    spectrum: AnySpectrum,
    generator: torch.Generator | None = None,
    *,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Sample the ``n`` eigenvalues that :func:`spectral_matrix` would place.

    With the same generator state, ``spectral_matrix(n, spectrum, generator=g)``
    has exactly these eigenvalues: real ones first, then conjugate pairs
    ``(r e^{i theta}, r e^{-i theta})``.

    Args:
        n: matrix size.
        spectrum: the :class:`Spectrum` (or :class:`SpectrumMixture`) to sample from.
        generator: source of randomness (defaults to torch's global RNG).
        device: where to sample (defaults to the generator's device, else CPU).

    Returns:
        complex128 tensor of shape ``(n,)``.

    >>> lam = sample_eigenvalues(6, Spectrum(radius=(0.9, 0.9)), torch.Generator().manual_seed(0))
    >>> bool(torch.allclose(lam.abs(), torch.full((6,), 0.9, dtype=torch.float64)))
    True
    """
    n = _check_size(n)
    _check_spectrum(spectrum)
    device = torch.device(device) if device is not None else (generator.device if generator is not None else torch.device("cpu"))
    check_generator(generator, device)
    return _eigenvalues_from_parts(*_sample_parts(n, spectrum, generator, device))


def _random_orthogonal(n: int, generator, dtype, device) -> torch.Tensor:
    """Haar-distributed orthogonal matrix (QR of a Gaussian with sign correction)."""
    a = torch.randn(n, n, generator=generator, dtype=dtype, device=device)
    q, r = torch.linalg.qr(a)
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


def _right_multiply_block_diagonal(v: torch.Tensor, real_values, pair_moduli, pair_phases) -> torch.Tensor:
    """Return ``V @ D`` for the real block-diagonal D in O(n^2), without forming D."""
    n_real = real_values.numel()
    dtype = v.dtype
    out = torch.empty_like(v)
    out[:, :n_real] = v[:, :n_real] * real_values.to(dtype)
    # Block [[a, -b], [b, a]] with a = r cos(theta), b = r sin(theta): its
    # eigenvalues are r e^{+-i theta}.
    a = (pair_moduli * torch.cos(pair_phases)).to(dtype)
    b = (pair_moduli * torch.sin(pair_phases)).to(dtype)
    first = v[:, n_real::2]
    second = v[:, n_real + 1 :: 2]
    out[:, n_real::2] = first * a + second * b
    out[:, n_real + 1 :: 2] = -first * b + second * a
    return out


def spectral_matrix(
    n: int,
    spectrum: AnySpectrum,
    *,
    nonnormality: float = 0.0,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    r"""Return a real ``n x n`` matrix whose eigenvalues are exactly a sample of ``spectrum``.

    .. math::
        W = V D V^{-1}, \qquad D = \mathrm{blockdiag}(\lambda_1, \dots, \lambda_k,
        R_1, \dots, R_m), \quad R_j = r_j \begin{pmatrix}\cos\theta_j & -\sin\theta_j\\
        \sin\theta_j & \cos\theta_j\end{pmatrix}

    ``D`` is real block-diagonal (1x1 real eigenvalues, 2x2 rotation-scaling
    blocks for conjugate pairs).  ``V = Q`` is Haar-orthogonal, so ``W`` is
    normal; with ``nonnormality = eps > 0``, ``V = Q (I + eps U)`` where ``U`` is
    strictly upper-triangular with i.i.d. ``N(0, 1/n)`` entries (the ``1/n``
    keeps ``eps`` comparable across sizes).  That keeps the spectrum and adds a
    controlled departure from normality (transient amplification).

    Args:
        n: matrix size.
        spectrum: the :class:`Spectrum` (or :class:`SpectrumMixture`) to sample eigenvalues from.
        nonnormality: ``eps >= 0``.
        generator: source of randomness; must be on ``device``.
        dtype: floating dtype of the result (default: torch's default dtype).
            Sampling and the orthogonal factor are computed in this dtype, so a
            float32 result has eigenvalues accurate to about 1e-5.
        device: device of the result (default: the generator's, else CPU).

    Returns:
        Tensor of shape ``(n, n)``; its eigenvalues are
        ``sample_eigenvalues(n, spectrum, generator)`` drawn from the same
        generator state.

    >>> g = torch.Generator().manual_seed(0)
    >>> W = spectral_matrix(64, Spectrum(radius=(0.5, 0.9)), generator=g, dtype=torch.float64)
    >>> float(torch.linalg.eigvals(W).abs().max()) <= 0.9 + 1e-9
    True
    """
    n = _check_size(n)
    _check_spectrum(spectrum)
    nonnormality = float(nonnormality)
    if not (nonnormality >= 0.0 and math.isfinite(nonnormality)):
        raise ValueError(bad_value("nonnormality", nonnormality, "a finite number >= 0"))
    dtype = dtype or torch.get_default_dtype()
    if not dtype.is_floating_point:
        raise TypeError(bad_value("dtype", dtype, "a real floating dtype"))
    device = torch.device(device) if device is not None else (generator.device if generator is not None else torch.device("cpu"))
    check_generator(generator, device)

    parts = _sample_parts(n, spectrum, generator, device)
    compute_dtype = dtype if dtype in (torch.float32, torch.float64) else torch.float32
    q = _random_orthogonal(n, generator, compute_dtype, device)
    if nonnormality == 0.0:
        w = _right_multiply_block_diagonal(q, *parts) @ q.T
    else:
        u = torch.randn(n, n, generator=generator, dtype=compute_dtype, device=device).triu(1) / math.sqrt(n)
        v = q @ (torch.eye(n, dtype=compute_dtype, device=device) + nonnormality * u)
        vd = _right_multiply_block_diagonal(v, *parts)
        # W = V D V^{-1}  <=>  W V = V D  <=>  V^T W^T = (V D)^T
        w = torch.linalg.solve(v.T, vd.T).T
    if not bool(torch.isfinite(w).all()):
        # V = Q (I + eps U) is too ill-conditioned to invert in this dtype.
        raise ValueError(bad_value("nonnormality", nonnormality, f"a smaller value: V D V^-1 is not finite in {compute_dtype} at n={n}"))
    return w.to(dtype)


# --------------------------------------------------------------------------
# Fitting a Spectrum to observed eigenvalues
# --------------------------------------------------------------------------

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

    >>> g = torch.Generator().manual_seed(0)
    >>> lam = sample_eigenvalues(400, Spectrum(radius=(0.5, 0.9), max_phase=1.0), g)
    >>> fit = fit_spectrum(lam)
    >>> abs(fit.r_max - 0.9) < 0.05 and abs(fit.max_phase - 1.0) < 0.15
    True
    """
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
    if not (0.0 <= quantile < 0.25):
        raise ValueError(bad_value("quantile", quantile, "a number in [0, 0.25)"))

    moduli = lam.abs()
    scale = float(moduli.max())
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
    else:  # all moduli (nearly) equal
        distribution, radius = "uniform", (float(moduli.min()), float(moduli.max()))

    is_real = lam.imag.abs() <= real_tol * max(scale, 1e-300)
    real_fraction = float(is_real.double().mean())
    upper = lam[(~is_real) & (lam.imag > 0)].angle()
    if upper.numel() >= 2:
        max_phase = float(torch.quantile(upper, 1 - quantile)) / (1 - quantile)
    elif upper.numel() == 1:
        max_phase = float(upper[0])
    else:
        negative = lam[is_real].real < 0
        max_phase = math.pi if bool(negative.any()) else 0.0
    return Spectrum(
        radius=(radius[0], radius[1]),
        distribution=distribution,
        max_phase=min(max(max_phase, 0.0), math.pi),
        real_fraction=real_fraction,
    )


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


# --------------------------------------------------------------------------
# Presets derived from trained networks
# --------------------------------------------------------------------------

#: Written by ``scripts/derive_presets.py`` from ``eigenrnn study spectra``.
PRESETS_PATH = Path(__file__).resolve().parent / "data" / "presets.json"


def load_presets(path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read the preset file: ``{"default": name, "source": {...}, "presets": {name: {...}}}``.

    Each preset maps ``"all"`` (the fit of every gate of every cell pooled) and
    ``"rnn"``/``"lstm"``/``"gru"`` (per gate) to :class:`Spectrum` fields.
    """
    path = Path(path) if path is not None else PRESETS_PATH
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: preset file not found; regenerate it with scripts/derive_presets.py") from None


def preset_names() -> tuple[str, ...]:
    return tuple(load_presets()["presets"])


def default_preset() -> str:
    return load_presets()["default"]


def preset_spectrum(name: str, cell: str | None = None) -> Spectrum | dict[str, Spectrum]:
    """The Spectrum of preset ``name``: pooled over gates (``cell=None``), or ``{gate: Spectrum}`` for a cell.

    Args:
        name: a preset name (see :func:`preset_names`), e.g. ``"classification"``.
        cell: ``None``, ``"rnn"``, ``"lstm"`` or ``"gru"``.

    >>> isinstance(preset_spectrum(default_preset()), Spectrum)
    True
    """
    presets = load_presets()["presets"]
    if name not in presets:
        raise ValueError(bad_value("preset", name, f"one of {', '.join(presets)}"))
    entry = presets[name]
    if cell is None:
        return Spectrum.from_dict(entry["all"])
    if cell not in entry:
        raise ValueError(bad_value("cell", cell, f"one of {', '.join(k for k in entry if k != 'all')}"))
    return {gate: Spectrum.from_dict(fields) for gate, fields in entry[cell].items()}
