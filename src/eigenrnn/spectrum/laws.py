"""Eigenvalue laws: :class:`Spectrum` (one distribution) and :class:`SpectrumMixture` (exact shares of several)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from eigenrnn.errors import bad_value, check_int

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
        n = check_size(n)
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


def check_spectrum(spectrum) -> None:
    """Raise TypeError unless ``spectrum`` is a :class:`Spectrum` or :class:`SpectrumMixture`."""
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


def check_size(n: int) -> int:
    """``n`` if it is a matrix size (an int >= 1), else the error of :func:`eigenrnn.errors.check_int`."""
    check_int("n", n)
    return n

