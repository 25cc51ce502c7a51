"""Applying a scheme to whole recurrent modules: :func:`init_rnn`, one square gate block at a time."""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from eigenrnn.errors import bad_value
from eigenrnn.init.horizon import check_horizon, chrono_bias
from eigenrnn.init.table import INPUT_SCHEMES, SCHEMES, Scheme, init_input, pytorch_uniform
from eigenrnn.rnn import CLASSES, GATES, cell_of, weight_slots
from eigenrnn.spectrum import check_generator


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
        scheme: one of :func:`~eigenrnn.init.schemes`.  ``"pytorch"`` reproduces PyTorch's own
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
            Tallec & Ollivier (2018), see :func:`~eigenrnn.init.chrono_bias`: per unit
            ``b = log u, u ~ U(1, horizon - 1)`` on the LSTM forget gate, with
            the input gate at ``-b``; on the GRU update gate ``z`` with ``+b``,
            because PyTorch's GRU is ``h' = (1 - z) n + z h`` so a large ``z``
            keeps the state (``z`` plays the forget gate's role).  Every other
            gate bias is zero, for any scheme.
        forget_bias: LSTM only; the total bias of the forget gate.
        horizon: the task's sequence length ``T >= 2``.  For ``"eigen"``
            (without ``spectrum``) every gate gets :func:`~eigenrnn.init.horizon_spectrum`:
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
            ``"classification"``, see :func:`~eigenrnn.init.eigen_`) and ``nonnormality`` (eigen), ``alpha`` (chain), ``radius`` (sp), ``quantile`` (rescaled-glorot).

    Returns:
        ``module``.

    >>> lstm = torch.nn.LSTM(4, 16, num_layers=2)
    >>> _ = init_rnn(lstm, "eigen", forget_bias=1.0, generator=torch.Generator().manual_seed(0))
    """
    cell, spec, input_scheme = _checked_arguments(module, scheme, input_scheme, bias, forget_bias, horizon, generator, scheme_kwargs)
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


def _checked_arguments(module, scheme, input_scheme, bias, forget_bias, horizon, generator, scheme_kwargs) -> tuple[str, Scheme, str]:
    """``(cell, scheme entry, input scheme)`` of an :func:`init_rnn` call, after refusing any argument it would not use as given."""
    if not isinstance(scheme, str) or scheme not in SCHEMES:
        raise ValueError(bad_value("scheme", scheme, f"one of {', '.join(SCHEMES)}"))
    cell = cell_of(module)
    spec = SCHEMES[scheme]
    unknown = set(scheme_kwargs) - set(spec.kwargs)
    if unknown:
        allowed = ", ".join(spec.kwargs) if spec.kwargs else "none"
        raise TypeError(bad_value(f"keyword arguments for scheme {scheme!r}", sorted(unknown), f"only: {allowed}"))
    input_scheme = spec.input_default if input_scheme is None else input_scheme
    if not isinstance(input_scheme, str) or input_scheme not in INPUT_SCHEMES:
        raise ValueError(bad_value("input_scheme", input_scheme, f"one of {', '.join(INPUT_SCHEMES)}"))
    _check_bias_args(module, cell, scheme, bias, forget_bias, horizon, scheme_kwargs)
    for name in ("gain", "a", "alpha", "quantile", "nonnormality"):
        value = scheme_kwargs.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)):
            raise ValueError(bad_value(name, value, "a finite number"))
    check_generator(generator, next(module.parameters()).device)
    return cell, spec, input_scheme


def _check_bias_args(module, cell, scheme, bias, forget_bias, horizon, scheme_kwargs) -> None:
    """Refuse ``bias``/``forget_bias``/``horizon`` values that this module and scheme would ignore or cannot take."""
    if forget_bias is not None and cell != "lstm":
        raise ValueError(bad_value("forget_bias", forget_bias, f"None for a {CLASSES[cell].__name__} module (it applies to LSTM only)"))
    _check_chrono_args(module, cell, scheme, bias, forget_bias, horizon, scheme_kwargs)
    for name, value in (("bias", None if isinstance(bias, str) else bias), ("forget_bias", forget_bias)):
        if value is not None and not math.isfinite(float(value)):
            raise ValueError(bad_value(name, value, "a finite number or None"))
    if not getattr(module, "bias", True) and (bias is not None or forget_bias is not None):
        raise ValueError(bad_value("bias/forget_bias", (bias, forget_bias), "None for a module built with bias=False"))


def _check_chrono_args(module, cell, scheme, bias, forget_bias, horizon, scheme_kwargs) -> None:
    """Refuse ``bias``/``horizon`` combinations that would be ignored or meaningless, before anything is written."""
    if horizon is not None:
        check_horizon(horizon)
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


def _init_blocks(module, spec, gate_kwargs, input_scheme, bias, forget_bias, generator, horizon=None) -> None:
    """The body of :func:`init_rnn`, after its arguments are checked: every layer and direction in order."""
    with torch.no_grad():
        for _layer, _direction, suffix in weight_slots(module):
            _init_slot_weights(module, suffix, spec, gate_kwargs, input_scheme, generator)
            _init_slot_biases(module, suffix, spec, bias, forget_bias, generator, horizon)


def _init_slot_weights(module, suffix: str, spec: Scheme, gate_kwargs, input_scheme: str, generator) -> None:
    """One layer/direction's weights: ``weight_hr`` (LSTM ``proj_size``), then per gate its loop block and input block.

    The draw order (projection first, then hidden and input block gate by
    gate) is part of the seeded contract: the same generator gives the same weights.
    """
    gates = GATES[cell_of(module)]
    hidden = module.hidden_size
    proj = getattr(module, "proj_size", 0) or 0
    loop = proj or hidden
    w_hh = getattr(module, f"weight_hh{suffix}")
    w_ih = getattr(module, f"weight_ih{suffix}")
    if proj and not spec.pytorch_layout:
        q = torch.empty(hidden, proj, dtype=w_hh.dtype, device=w_hh.device)
        nn.init.orthogonal_(q, generator=generator)
        getattr(module, f"weight_hr{suffix}").copy_(q.T)
    elif proj:
        pytorch_uniform(getattr(module, f"weight_hr{suffix}"), generator, hidden_size=hidden)
    for index, gate in enumerate(gates):
        rows = slice(index * hidden, (index + 1) * hidden)
        if proj and not spec.pytorch_layout:
            b = torch.empty(loop, loop, dtype=w_hh.dtype, device=w_hh.device)
            spec.hidden(b, generator, **gate_kwargs[gate])
            w_hh[rows].copy_(q @ b)
        else:
            spec.hidden(w_hh[rows], generator, **gate_kwargs[gate])
        init_input(w_ih[rows], input_scheme, hidden, generator)


def _init_slot_biases(module, suffix: str, spec: Scheme, bias, forget_bias, generator, horizon) -> None:
    """One layer/direction's biases: chrono, PyTorch's uniform draw, or the constant ``bias`` (and ``forget_bias``)."""
    hidden = module.hidden_size
    b_ih = getattr(module, f"bias_ih{suffix}", None)
    b_hh = getattr(module, f"bias_hh{suffix}", None)
    if b_ih is None:
        if bias is not None or forget_bias is not None:
            raise ValueError(bad_value("bias/forget_bias", (bias, forget_bias), "None for a module built with bias=False"))
        return
    if isinstance(bias, str):  # chrono
        # Slot 1 is the LSTM forget gate (i, f, g, o) and the GRU update gate (r, z, n).
        b_ih.zero_()
        b_hh.zero_()
        b = chrono_bias(hidden, horizon, generator, dtype=b_ih.dtype, device=b_ih.device)
        b_ih[hidden : 2 * hidden] = b
        if cell_of(module) == "lstm":
            b_ih[:hidden] = -b
        return
    if bias is None and spec.pytorch_layout:
        pytorch_uniform(b_ih.unsqueeze(0), generator, hidden_size=hidden)
        pytorch_uniform(b_hh.unsqueeze(0), generator, hidden_size=hidden)
    else:
        b_ih.fill_(0.0 if bias is None else float(bias))
        b_hh.zero_()
    if forget_bias is not None:
        b_ih[hidden : 2 * hidden] = float(forget_bias)
        b_hh[hidden : 2 * hidden] = 0.0
