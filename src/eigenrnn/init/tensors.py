"""In-place initializers of one square recurrent matrix, in the style of :mod:`torch.nn.init`.

Every ``*_`` function fills a square 2-D tensor in place under
``torch.no_grad()``, draws all randomness from ``generator``, keeps the
tensor's dtype and device, and returns the tensor.
"""

from __future__ import annotations

import math
import numbers

import torch

from eigenrnn.errors import bad_value, check_int
from eigenrnn.spectrum import (
    Spectrum,
    SpectrumMixture,
    check_generator,
    default_preset,
    preset_spectrum,
    spectral_matrix,
)


def _check_square(tensor: torch.Tensor, argument: str = "tensor") -> int:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(bad_value(argument, type(tensor).__name__, "a torch.Tensor"))
    if tensor.dim() != 2 or tensor.shape[0] != tensor.shape[1]:
        raise ValueError(bad_value(f"{argument}.shape", tuple(tensor.shape), "a square 2-D shape (n, n)"))
    if not tensor.is_floating_point():
        raise TypeError(bad_value(f"{argument}.dtype", tensor.dtype, "a floating dtype"))
    return tensor.shape[0]


def check_spectrum_or_preset(spectrum, preset) -> None:
    if spectrum is not None and preset is not None:
        raise ValueError(bad_value("preset", preset, "None when a spectrum is given (pass one of the two)"))


def eigen_(
    tensor: torch.Tensor,
    spectrum: Spectrum | SpectrumMixture | None = None,
    *,
    preset: str | None = None,
    nonnormality: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Fill a square tensor with a real matrix of prescribed eigen-spectrum.

    The eigen initializer of eigenrnn, after Dou & Principe (2023), "Dynamic
    Analysis and an Eigen Initializer for Recurrent Neural Networks": the
    recurrent matrix is built from its eigendecomposition,

    .. math:: W = V \Lambda V^{-1},\quad \lambda_k \sim \text{spectrum},

    so that in the linear state-space view ``h_t = W h_{t-1} + U x_t`` mode
    ``k`` keeps an input from ``s`` steps back scaled by ``lambda_k^s``.  See
    :func:`eigenrnn.spectrum.spectral_matrix` for the construction.

    Args:
        tensor: an ``(n, n)`` floating tensor, filled in place.
        spectrum: the eigenvalue distribution.
        preset: instead of ``spectrum``, the name of a spectrum measured on
            well-trained networks (:func:`eigenrnn.spectrum.preset_names`:
            ``"classification"``, ``"regression"``); its fit pooled over cells
            and gates is used.  With neither, the default preset applies
            (:func:`eigenrnn.spectrum.default_preset`, ``"classification"``).

    Why ``"classification"`` is the default: both presets come from our study
    of networks trained from PyTorch's and Xavier's initialization
    (``docs/SPECTRA.md``).  Their fits are nearly the same (moduli uniform on
    about [0.1, 1.16], all phases, 12 % real), and in a fixed comparison
    (``scripts/compare_presets.py``: Tomita 5 and adding, RNN and GRU, 3
    seeds) neither was better beyond one standard deviation.  The
    classification preset is fitted on more well-trained runs (19 against 14),
    so it is the better-determined of the two.
        nonnormality: ``eps >= 0``; ``0`` gives a normal matrix.
        generator: source of randomness, on the tensor's device type.

    Returns:
        ``tensor``.

    >>> w = torch.empty(32, 32)
    >>> _ = eigen_(w, Spectrum(radius=(0.9, 0.9)), generator=torch.Generator().manual_seed(0))
    >>> round(float(torch.linalg.eigvals(w).abs().max()), 4)
    0.9
    """
    n = _check_square(tensor)
    check_spectrum_or_preset(spectrum, preset)
    if spectrum is None:
        spectrum = preset_spectrum(default_preset() if preset is None else preset)
    if not isinstance(spectrum, (Spectrum, SpectrumMixture)):
        raise TypeError(bad_value("spectrum", type(spectrum).__name__, "a Spectrum, a SpectrumMixture or None"))
    check_generator(generator, tensor.device)
    with torch.no_grad():
        compute = tensor.dtype if tensor.dtype in (torch.float32, torch.float64) else torch.float32
        w = spectral_matrix(n, spectrum, nonnormality=nonnormality, generator=generator, dtype=compute, device=tensor.device)
        tensor.copy_(w)
    return tensor


def irnn_(tensor: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    r"""Fill a square tensor with a scaled identity, ``W = gain * I``.

    IRNN of Le, Jaitly & Hinton (2015), "A Simple Way to Initialize Recurrent
    Networks of Rectified Linear Units".  Deterministic, so no generator.

    Args:
        tensor: an ``(n, n)`` floating tensor, filled in place.
        gain: the diagonal value.

    >>> irnn_(torch.empty(3, 3), gain=0.5).diagonal().tolist()
    [0.5, 0.5, 0.5]
    """
    n = _check_square(tensor)
    if not math.isfinite(float(gain)):
        raise ValueError(bad_value("gain", gain, "a finite number"))
    with torch.no_grad():
        tensor.copy_(torch.eye(n, dtype=tensor.dtype, device=tensor.device) * gain)
    return tensor


def sp_(tensor: torch.Tensor, generator: torch.Generator | None = None, radius: float = 1.0) -> torch.Tensor:
    r"""Fill a square tensor with the semi-positive-definite "sp-RNN" matrix.

    Talathi & Vartak (2015), "Improving performance of recurrent neural network
    with relu nonlinearity" (np-RNN):

    .. math:: A = I + \tfrac{1}{n} R^\top R,\quad R_{ij} \sim N(0, 1),\qquad
              W = A / \lambda_{\max}(A)

    so ``W`` is symmetric positive definite with spectral radius exactly 1
    (times ``radius``).

    Args:
        tensor: an ``(n, n)`` floating tensor, filled in place.
        generator: source of randomness, on the tensor's device type.
        radius: the spectral radius of ``W`` (default 1, the paper's), a finite number > 0.

    >>> w = sp_(torch.empty(16, 16), generator=torch.Generator().manual_seed(0))
    >>> round(float(torch.linalg.eigvalsh(w.double()).max()), 6)
    1.0
    """
    n = _check_square(tensor)
    check_generator(generator, tensor.device)
    if isinstance(radius, bool) or not isinstance(radius, numbers.Real) or not (math.isfinite(radius) and radius > 0):
        raise ValueError(bad_value("radius", radius, "a finite number > 0"))
    with torch.no_grad():
        r = torch.randn(n, n, generator=generator, dtype=torch.float64, device=tensor.device)
        a = torch.eye(n, dtype=torch.float64, device=tensor.device) + r.T @ r / n
        tensor.copy_(radius * a / torch.linalg.eigvalsh(a)[-1])
    return tensor


def chain_(tensor: torch.Tensor, alpha: float = 1.02) -> torch.Tensor:
    r"""Fill a square tensor with the non-normal chain ``W = alpha * S`` (S: shift).

    Orhan & Pitkow (2019), "Improved memory in recurrent neural networks with
    sequential non-normal dynamics": ``W[i, i+1] = alpha`` on the first
    superdiagonal and zero elsewhere, a feed-forward chain whose eigenvalues
    are all zero but which propagates signals for ``n`` steps.  Deterministic,
    so, like :func:`torch.nn.init.eye_`, it takes no generator.

    Args:
        tensor: an ``(n, n)`` floating tensor, filled in place.
        alpha: the superdiagonal value.

    >>> chain_(torch.empty(3, 3), alpha=2.0).tolist()
    [[0.0, 2.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]
    """
    n = _check_square(tensor)
    if not math.isfinite(float(alpha)):
        raise ValueError(bad_value("alpha", alpha, "a finite number"))
    with torch.no_grad():
        tensor.copy_(torch.diag(torch.full((n - 1,), float(alpha), dtype=tensor.dtype, device=tensor.device), 1))
    return tensor


def rescaled_glorot_scale(n: int, quantile: float = 0.95) -> float:
    r"""Variance factor ``c_n`` of the rescaled Glorot initializer (``W ~ N(0, c_n / n)``).

    For ``W`` with i.i.d. ``N(0, 1/n)`` entries the spectral radius satisfies
    (Rider 2003) ``rho = 1 + sqrt(gamma_n / 4n) + G / sqrt(4 n gamma_n)`` with
    ``gamma_n = ln(n / 2 pi) - 2 ln ln n`` and ``G`` standard Gumbel.  Following
    Bar et al. (2025), "Revisiting Glorot Initialization for Long-Range Linear
    Recurrences", the variance is rescaled so that the spectral edge lies at or
    below one with probability ``quantile``:

    .. math:: c_n = \Big(1 + \sqrt{\gamma_n / 4n} + g_q / \sqrt{4 n \gamma_n}\Big)^{-2},
              \quad g_q = -\ln(-\ln q).

    This is our reading of their dimension-aware rescaling; the paper's exact
    calibration constant was not available to us.  ``gamma_n <= 0`` (n below
    164) leaves ``c_n`` undefined and raises ValueError.
    """
    check_int("n", n, minimum=2)
    if not (0.0 < quantile < 1.0):
        raise ValueError(bad_value("quantile", quantile, "a number in (0, 1)"))
    gamma = math.log(n / (2 * math.pi)) - 2 * math.log(math.log(n))
    if gamma <= 0:
        raise ValueError(
            bad_value(
                "n", n, "a size with gamma_n = ln(n/2pi) - 2 ln ln n > 0 (n >= 164); "
                f"rescaled Glorot's c_n is undefined here (gamma_n = {gamma:.3f})"
            )
        )
    g_q = -math.log(-math.log(quantile))
    edge = 1.0 + math.sqrt(gamma / (4 * n)) + g_q / math.sqrt(4 * n * gamma)
    return edge**-2


def rescaled_glorot_(tensor: torch.Tensor, generator: torch.Generator | None = None, *, quantile: float = 0.95) -> torch.Tensor:
    r"""Fill a square tensor from ``N(0, c_n / n)``, Glorot rescaled to keep the spectral edge below one.

    Bar et al. (2025); see :func:`rescaled_glorot_scale` for ``c_n``.

    Args:
        tensor: an ``(n, n)`` floating tensor, ``n >= 164``, filled in place.
        generator: source of randomness, on the tensor's device type.
        quantile: probability that the spectral radius is at most one.

    >>> w = rescaled_glorot_(torch.empty(256, 256), generator=torch.Generator().manual_seed(0))
    >>> float(torch.linalg.eigvals(w).abs().max()) < 1.0
    True
    """
    n = _check_square(tensor)
    check_generator(generator, tensor.device)
    std = math.sqrt(rescaled_glorot_scale(n, quantile) / n)
    with torch.no_grad():
        return torch.nn.init.normal_(tensor, 0.0, std, generator=generator)
