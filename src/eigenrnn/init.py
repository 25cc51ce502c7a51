"""Recurrent-weight initializers, in the style of :mod:`torch.nn.init`, and :func:`init_rnn`.

Every ``*_`` function fills a square 2-D tensor in place under
``torch.no_grad()``, draws all randomness from ``generator``, keeps the
tensor's dtype and device, and returns the tensor.  Xavier, Kaiming and
orthogonal initialization are taken from :mod:`torch.nn.init` unchanged.

:func:`init_rnn` applies a named scheme to ``nn.RNN``/``nn.LSTM``/``nn.GRU``
(any ``num_layers``, ``bidirectional``, LSTM ``proj_size``) and to their cells,
one square hidden-to-hidden gate block at a time.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

from eigenrnn.calibration import CalibrationResult, calibrate_
from eigenrnn.errors import bad_value, check_int
# RecurrentBlock and recurrent_blocks are defined in eigenrnn.rnn and re-exported here for existing imports.
from eigenrnn.rnn import CLASSES, GATES, RecurrentBlock, cell_of, recurrent_blocks, weight_slots
from eigenrnn.spectrum import (
    Spectrum,
    SpectrumMixture,
    check_generator,
    default_preset,
    preset_spectrum,
    spectral_matrix,
)

__all__ = [
    "CalibrationResult",
    "RecurrentBlock",
    "calibrate_",
    "horizon_spectrum",
    "chain_",
    "eigen_",
    "init_rnn",
    "irnn_",
    "recurrent_blocks",
    "rescaled_glorot_",
    "schemes",
    "sp_",
]



def _check_square(tensor: torch.Tensor, argument: str = "tensor") -> int:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(bad_value(argument, type(tensor).__name__, "a torch.Tensor"))
    if tensor.dim() != 2 or tensor.shape[0] != tensor.shape[1]:
        raise ValueError(bad_value(f"{argument}.shape", tuple(tensor.shape), "a square 2-D shape (n, n)"))
    if not tensor.is_floating_point():
        raise TypeError(bad_value(f"{argument}.dtype", tensor.dtype, "a floating dtype"))
    return tensor.shape[0]


def _check_spectrum_or_preset(spectrum, preset) -> None:
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
    _check_spectrum_or_preset(spectrum, preset)
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


# --------------------------------------------------------------------------
# Schemes: name -> (hidden-block initializer, allowed keyword arguments)
# --------------------------------------------------------------------------

HiddenInit = Callable[..., torch.Tensor]


def _xavier(t, generator, **kw):
    return nn.init.xavier_uniform_(t, generator=generator, **kw)


def _kaiming(t, generator, **kw):
    return nn.init.kaiming_normal_(t, generator=generator, **kw)


def _orthogonal(t, generator, **kw):
    return nn.init.orthogonal_(t, generator=generator, **kw)


def _pytorch(t, generator, *, hidden_size):
    bound = 1.0 / math.sqrt(hidden_size)
    return nn.init.uniform_(t, -bound, bound, generator=generator)


GateKwargs = Callable[[nn.Module, str, dict, "int | None"], dict[str, dict]]


def _same_for_every_gate(module: nn.Module, cell: str, kwargs: dict, horizon: int | None) -> dict[str, dict]:
    return {gate: kwargs for gate in GATES[cell]}


def _pytorch_kwargs(module: nn.Module, cell: str, kwargs: dict, horizon: int | None) -> dict[str, dict]:
    return {gate: {**kwargs, "hidden_size": module.hidden_size} for gate in GATES[cell]}


def _eigen_kwargs(module: nn.Module, cell: str, kwargs: dict, horizon: int | None) -> dict[str, dict]:
    """Each gate's spectrum: the given one, else the preset's (or its horizon spectrum)."""
    spectrum, preset = kwargs.pop("spectrum", None), kwargs.pop("preset", None)
    _check_spectrum_or_preset(spectrum, preset)
    defaults = preset_spectrum(default_preset() if preset is None else preset, cell)
    if horizon is not None and spectrum is None:
        defaults = {gate: horizon_spectrum(horizon, base) for gate, base in defaults.items()}
    spectra = _resolve_spectra(spectrum, defaults)
    return {gate: {**kwargs, "spectrum": spectra[gate]} for gate in GATES[cell]}


@dataclass(frozen=True)
class _Scheme:
    """A named scheme of :func:`init_rnn`.

    Attributes:
        hidden: ``hidden(block, generator, **gate_kwargs)`` fills one square loop block in place.
        kwargs: the keyword arguments :func:`init_rnn` accepts for it.
        input_default: the default ``input_scheme``.
        gate_kwargs: ``(module, cell, kwargs, horizon) -> {gate: kwargs of hidden}``, run once
            before anything is written (so its errors leave the module untouched).
        pytorch_layout: PyTorch's own default: ``weight_hr`` and the biases are drawn
            ``U(-1/sqrt(H), 1/sqrt(H))`` like the blocks, with no orthonormal projection.
    """

    hidden: HiddenInit
    kwargs: tuple[str, ...]
    input_default: str
    gate_kwargs: GateKwargs = _same_for_every_gate
    pytorch_layout: bool = False


_SCHEMES: dict[str, _Scheme] = {
    "pytorch": _Scheme(_pytorch, (), "pytorch", _pytorch_kwargs, pytorch_layout=True),
    "xavier": _Scheme(_xavier, ("gain",), "xavier"),
    "kaiming": _Scheme(_kaiming, ("a", "mode", "nonlinearity"), "kaiming"),
    "orthogonal": _Scheme(_orthogonal, ("gain",), "xavier"),
    "irnn": _Scheme(lambda t, generator, **kw: irnn_(t, **kw), ("gain",), "xavier"),
    "sp": _Scheme(lambda t, generator, **kw: sp_(t, generator=generator, **kw), ("radius",), "xavier"),
    "eigen": _Scheme(lambda t, generator, **kw: eigen_(t, generator=generator, **kw), ("spectrum", "preset", "nonnormality"), "xavier", _eigen_kwargs),
    "chain": _Scheme(lambda t, generator, **kw: chain_(t, **kw), ("alpha",), "xavier"),
    "rescaled-glorot": _Scheme(lambda t, generator, **kw: rescaled_glorot_(t, generator, **kw), ("quantile",), "xavier"),
}

_INPUT_SCHEMES = ("pytorch", "xavier", "kaiming", "orthogonal", "zeros")


def schemes() -> tuple[str, ...]:
    """Names accepted by :func:`init_rnn`.

    >>> schemes()[:3]
    ('pytorch', 'xavier', 'kaiming')
    """
    return tuple(_SCHEMES)


# --------------------------------------------------------------------------
# init_rnn
# --------------------------------------------------------------------------


def _resolve_spectra(spectrum, defaults: Mapping[str, Spectrum]) -> dict[str, Spectrum]:
    """Per-gate spectra: one Spectrum for all gates, or a mapping whose missing gates take ``defaults``."""
    gates = tuple(defaults)
    if spectrum is None:
        return dict(defaults)
    if isinstance(spectrum, (Spectrum, SpectrumMixture)):
        return {g: spectrum for g in gates}
    if isinstance(spectrum, Mapping):
        unknown = set(spectrum) - set(gates)
        if unknown:
            raise ValueError(bad_value("spectrum gates", sorted(unknown), f"gate names among {gates}"))
        for gate, value in spectrum.items():
            if not isinstance(value, (Spectrum, SpectrumMixture)):
                raise TypeError(bad_value(f"spectrum[{gate!r}]", type(value).__name__, "a Spectrum or SpectrumMixture"))
        return {**defaults, **spectrum}
    raise TypeError(bad_value("spectrum", type(spectrum).__name__, "a Spectrum, a mapping gate -> Spectrum, or None"))


#: ``tau_min`` of :func:`horizon_spectrum`, in steps.
HORIZON_TAU_MIN = 1.0


def horizon_spectrum(horizon: int, base: Spectrum | None = None) -> Spectrum:
    r"""The timescale spectrum ``init_rnn(m, "eigen", horizon=T)`` uses: :math:`\tau \sim \mathrm{LogUniform}[1, T]`.

    Rule: :math:`\tau_{max} = T` and :math:`\tau_{min} = 1`
    (:data:`HORIZON_TAU_MIN`), with ``|lambda| = exp(-1/tau)``.  Why: a mode of
    time constant ``tau`` keeps ``exp(-s/tau)`` of an input ``s`` steps back,
    so the slowest modes keep about ``1/e`` of the first input of a length-``T``
    sequence at its end: memory reaches the whole horizon, while every mode
    stays strictly inside the unit circle (nothing grows in the linear
    system).  ``tau_min = 1`` (``|lambda| ~ 0.37``) gives fast modes for the
    local structure, and the log-uniform law spends as many modes on each
    octave of lags (1-2, 2-4, ...) as on any other, since a task's
    dependencies have no preferred scale.  The phase law and real fraction are
    those of ``base`` (the preset's, in :func:`init_rnn`).

    Args:
        horizon: the task's sequence length ``T >= 2``.
        base: where ``max_phase`` and ``real_fraction`` come from (default: all phases, no real eigenvalues).

    >>> round(horizon_spectrum(196).tau[1], 6)
    196.0
    """
    horizon = _check_horizon(horizon)
    base = Spectrum() if base is None else base
    return Spectrum.timescales((HORIZON_TAU_MIN, float(horizon)), max_phase=base.max_phase, real_fraction=base.real_fraction)


def _check_horizon(horizon) -> int:
    # Above ~1e16 steps exp(-1/T) rounds to 1 in float64: no finite time constant is left.
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 2 <= horizon <= 10**15:
        raise ValueError(bad_value("horizon", horizon, "the task's sequence length, an int from 2 to 10**15"))
    return horizon


def chrono_bias(count: int, horizon: int, generator: torch.Generator | None = None, *, dtype=torch.float64, device=None) -> torch.Tensor:
    r"""Chrono gate biases :math:`b = \log u,\ u \sim U(1, T_{max} - 1)`, Tallec & Ollivier (2018).

    "Can recurrent neural networks warp time?": a leaky unit
    :math:`h' = \sigma(b) h + (1 - \sigma(b)) \tilde h` has characteristic
    time :math:`1 / (1 - \sigma(b)) = 1 + e^{b} = 1 + u`, so drawing ``u``
    uniformly on ``[1, T_max - 1]`` spreads the gates' memory over ``[2, T_max]``.

    Args:
        count: number of biases.
        horizon: ``T_max >= 2``.
        generator: source of randomness.

    >>> b = chrono_bias(1000, 100, torch.Generator().manual_seed(0))
    >>> 0.0 <= float(b.min()) and float(b.max()) <= math.log(99)
    True
    """
    horizon = _check_horizon(horizon)
    u = torch.rand(count, generator=generator, dtype=torch.float64, device=device)
    return torch.log1p(u * (horizon - 2)).to(dtype)


def _init_input(weight: torch.Tensor, scheme: str, hidden_size: int, generator) -> None:
    if scheme == "pytorch":
        _pytorch(weight, generator, hidden_size=hidden_size)
    elif scheme == "xavier":
        _xavier(weight, generator)
    elif scheme == "kaiming":
        _kaiming(weight, generator)
    elif scheme == "orthogonal":
        _orthogonal(weight, generator)
    else:  # zeros
        nn.init.zeros_(weight)


def _check_chrono_args(module, cell, scheme, bias, forget_bias, horizon, scheme_kwargs) -> None:
    """Refuse ``bias``/``horizon`` combinations that would be ignored or meaningless, before anything is written."""
    if horizon is not None:
        _check_horizon(horizon)
    if isinstance(bias, str):
        if bias != "chrono":
            raise ValueError(bad_value("bias", bias, "a finite number, 'chrono' or None"))
        if cell == "rnn":
            raise ValueError(bad_value("bias", bias, "a number or None for a vanilla RNN ('chrono' needs the gates of an LSTM or GRU)"))
        if horizon is None:
            raise ValueError(bad_value("horizon", None, "the task's sequence length T_max (an int >= 2) with bias='chrono'"))
        if forget_bias is not None:
            raise ValueError(bad_value("forget_bias", forget_bias, "None with bias='chrono' (chrono sets the forget gate)"))
        if not module.bias:
            raise ValueError(bad_value("bias", bias, "None for a module built with bias=False"))
    elif horizon is not None and scheme != "eigen":
        raise ValueError(bad_value("horizon", horizon, f"None for scheme {scheme!r} without bias='chrono' (only 'eigen' and chrono use it)"))
    if horizon is not None and scheme == "eigen" and scheme_kwargs.get("spectrum") is not None and not isinstance(bias, str):
        raise ValueError(bad_value("horizon", horizon, "None when a spectrum is given (horizon builds the spectrum)"))


def init_rnn(
    module: nn.Module,
    scheme: str,
    *,
    input_scheme: str | None = None,
    bias: str | float | None = None,
    forget_bias: float | None = None,
    horizon: int | None = None,
    generator: torch.Generator | None = None,
    **scheme_kwargs,
) -> nn.Module:
    """Initialize a recurrent module in place with a named scheme, one gate block at a time.

    Every hidden-to-hidden gate block (LSTM i, f, g, o; GRU r, z, n; RNN h) of
    every layer and direction gets its own draw of ``scheme``.  With LSTM
    ``proj_size = P`` each layer/direction draws one ``H x P`` matrix ``Q``
    with orthonormal columns, sets ``W_hr = Q^T`` and ``W_g = Q B_g`` where
    ``B_g`` is a ``P x P`` draw of the scheme, so the loop matrix
    ``W_hr W_g = B_g`` has exactly the scheme's spectrum.

    Args:
        module: ``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` or one of their cells.
        scheme: one of :func:`schemes`.  ``"pytorch"`` reproduces PyTorch's own
            default, ``U(-1/sqrt(H), 1/sqrt(H))`` for every weight and bias,
            drawn from ``generator``.
        input_scheme: ``"pytorch"``, ``"xavier"`` (uniform), ``"kaiming"``
            (normal), ``"orthogonal"`` or ``"zeros"`` for the input-to-hidden
            blocks.  Default: the scheme itself for pytorch, xavier and
            kaiming; Xavier-uniform for the recurrent-only schemes.
        bias: value of the total bias ``b_ih + b_hh`` of every gate (set as
            ``b_ih = bias, b_hh = 0``).  Default ``None``: PyTorch's uniform
            biases for ``"pytorch"``, zero for every other scheme.
            ``"chrono"`` (LSTM and GRU, with ``horizon``): chrono biases of
            Tallec & Ollivier (2018), see :func:`chrono_bias`: per unit
            ``b = log u, u ~ U(1, horizon - 1)`` on the LSTM forget gate, with
            the input gate at ``-b``; on the GRU update gate ``z`` with ``+b``,
            because PyTorch's GRU is ``h' = (1 - z) n + z h`` so a large ``z``
            keeps the state (``z`` plays the forget gate's role).  Every other
            gate bias is zero, for any scheme.
        forget_bias: LSTM only; the total bias of the forget gate.
        horizon: the task's sequence length ``T >= 2``.  For ``"eigen"``
            (without ``spectrum``) every gate gets :func:`horizon_spectrum`:
            time constants log-uniform on ``[1, T]`` with the preset's phase
            law and real fraction; for ``bias="chrono"`` it is ``T_max``.
            Refused where neither uses it.
        generator: source of all randomness, on the module's device type.
        **scheme_kwargs: passed to the scheme: ``gain`` (xavier, orthogonal,
            irnn), ``a``/``mode``/``nonlinearity`` (kaiming), ``spectrum``
            (a Spectrum, or a mapping gate -> Spectrum whose missing gates
            take the default preset's), ``preset`` (the per-gate spectra
            measured on well-trained networks of this cell, see
            :func:`eigenrnn.spectrum.preset_names`; default
            ``"classification"``, see :func:`eigen_`) and ``nonnormality`` (eigen), ``alpha`` (chain), ``radius`` (sp), ``quantile`` (rescaled-glorot).

    Returns:
        ``module``.

    >>> lstm = torch.nn.LSTM(4, 16, num_layers=2)
    >>> _ = init_rnn(lstm, "eigen", forget_bias=1.0, generator=torch.Generator().manual_seed(0))
    """
    if not isinstance(scheme, str) or scheme not in _SCHEMES:
        raise ValueError(bad_value("scheme", scheme, f"one of {', '.join(_SCHEMES)}"))
    cell = cell_of(module)
    spec = _SCHEMES[scheme]
    unknown = set(scheme_kwargs) - set(spec.kwargs)
    if unknown:
        allowed = ", ".join(spec.kwargs) if spec.kwargs else "none"
        raise TypeError(bad_value(f"keyword arguments for scheme {scheme!r}", sorted(unknown), f"only: {allowed}"))
    input_scheme = spec.input_default if input_scheme is None else input_scheme
    if input_scheme not in _INPUT_SCHEMES:
        raise ValueError(bad_value("input_scheme", input_scheme, f"one of {', '.join(_INPUT_SCHEMES)}"))
    if forget_bias is not None and cell != "lstm":
        raise ValueError(bad_value("forget_bias", forget_bias, f"None for a {CLASSES[cell].__name__} module (it applies to LSTM only)"))
    chrono = isinstance(bias, str)
    _check_chrono_args(module, cell, scheme, bias, forget_bias, horizon, scheme_kwargs)
    for name, value in (("bias", None if chrono else bias), ("forget_bias", forget_bias)):
        if value is not None and not math.isfinite(float(value)):
            raise ValueError(bad_value(name, value, "a finite number or None"))
    if not getattr(module, "bias", True) and (bias is not None or forget_bias is not None):
        raise ValueError(bad_value("bias/forget_bias", (bias, forget_bias), "None for a module built with bias=False"))
    for name in ("gain", "a", "alpha", "quantile", "nonnormality"):
        value = scheme_kwargs.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)):
            raise ValueError(bad_value(name, value, "a finite number"))
    first = next(module.parameters())
    check_generator(generator, first.device)

    gate_kwargs = spec.gate_kwargs(module, cell, dict(scheme_kwargs), horizon)

    # A scheme may still refuse a block midway (e.g. rescaled-glorot at a small size): the
    # module is then restored, so an error never leaves it half initialized.
    saved = {name: p.detach().clone() for name, p in module.named_parameters()}
    try:
        _init_blocks(module, spec, gate_kwargs, input_scheme, bias, forget_bias, generator, horizon)
    except BaseException:
        with torch.no_grad():
            for name, p in module.named_parameters():
                p.copy_(saved[name])
        raise
    return module


def _init_blocks(module, spec, gate_kwargs, input_scheme, bias, forget_bias, generator, horizon=None) -> None:
    """The body of :func:`init_rnn`, after its arguments are checked."""
    cell = cell_of(module)
    chrono = isinstance(bias, str)
    gates = GATES[cell]
    hidden = module.hidden_size
    proj = getattr(module, "proj_size", 0) or 0
    loop = proj or hidden

    def draw_loop_block(target: torch.Tensor, gate: str) -> None:
        spec.hidden(target, generator, **gate_kwargs[gate])

    with torch.no_grad():
        for layer, direction, suffix in weight_slots(module):
            w_hh = getattr(module, f"weight_hh{suffix}")
            w_ih = getattr(module, f"weight_ih{suffix}")
            if proj and not spec.pytorch_layout:
                q = torch.empty(hidden, proj, dtype=w_hh.dtype, device=w_hh.device)
                nn.init.orthogonal_(q, generator=generator)
                getattr(module, f"weight_hr{suffix}").copy_(q.T)
            elif proj:
                _pytorch(getattr(module, f"weight_hr{suffix}"), generator, hidden_size=hidden)
            for index, gate in enumerate(gates):
                rows = slice(index * hidden, (index + 1) * hidden)
                if proj and not spec.pytorch_layout:
                    b = torch.empty(loop, loop, dtype=w_hh.dtype, device=w_hh.device)
                    draw_loop_block(b, gate)
                    w_hh[rows].copy_(q @ b)
                else:
                    draw_loop_block(w_hh[rows], gate)
                _init_input(w_ih[rows], input_scheme, hidden, generator)
            b_ih = getattr(module, f"bias_ih{suffix}", None)
            b_hh = getattr(module, f"bias_hh{suffix}", None)
            if b_ih is None:
                if bias is not None or forget_bias is not None:
                    raise ValueError(bad_value("bias/forget_bias", (bias, forget_bias), "None for a module built with bias=False"))
                continue
            if chrono:
                # Slot 1 is the LSTM forget gate (i, f, g, o) and the GRU update gate (r, z, n).
                b_ih.zero_()
                b_hh.zero_()
                b = chrono_bias(hidden, horizon, generator, dtype=b_ih.dtype, device=b_ih.device)
                b_ih[hidden : 2 * hidden] = b
                if cell == "lstm":
                    b_ih[:hidden] = -b
                continue
            if bias is None and spec.pytorch_layout:
                _pytorch(b_ih.unsqueeze(0), generator, hidden_size=hidden)
                _pytorch(b_hh.unsqueeze(0), generator, hidden_size=hidden)
            else:
                b_ih.fill_(0.0 if bias is None else float(bias))
                b_hh.zero_()
            if forget_bias is not None:
                b_ih[hidden : 2 * hidden] = float(forget_bias)
                b_hh[hidden : 2 * hidden] = 0.0

