"""The schemes of :func:`eigenrnn.init.init_rnn`: name -> hidden-block initializer, its keyword arguments, defaults.

Adding a scheme is one :class:`Scheme` entry in :data:`SCHEMES`; the input
blocks have their own short table, :data:`INPUT_SCHEMES`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
from torch import nn

from eigenrnn.errors import bad_value
from eigenrnn.init.horizon import horizon_spectrum
from eigenrnn.init.tensors import chain_, check_spectrum_or_preset, eigen_, irnn_, rescaled_glorot_, sp_
from eigenrnn.rnn import GATES
from eigenrnn.spectrum import Spectrum, SpectrumMixture, default_preset, preset_gate_spectra

HiddenInit = Callable[..., torch.Tensor]


def _xavier(t, generator, **kw):
    return nn.init.xavier_uniform_(t, generator=generator, **kw)


def _kaiming(t, generator, **kw):
    return nn.init.kaiming_normal_(t, generator=generator, **kw)


def _orthogonal(t, generator, **kw):
    return nn.init.orthogonal_(t, generator=generator, **kw)


def pytorch_uniform(t, generator, *, hidden_size):
    """PyTorch's own default for every weight and bias of an RNN: ``U(-1/sqrt(H), 1/sqrt(H))``."""
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
    check_spectrum_or_preset(spectrum, preset)
    defaults = preset_gate_spectra(default_preset() if preset is None else preset, cell)
    if horizon is not None and spectrum is None:
        defaults = {gate: horizon_spectrum(horizon, base) for gate, base in defaults.items()}
    spectra = _resolve_spectra(spectrum, defaults)
    return {gate: {**kwargs, "spectrum": spectra[gate]} for gate in GATES[cell]}


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


@dataclass(frozen=True)
class Scheme:
    """A named scheme of :func:`~eigenrnn.init.init_rnn`.

    Attributes:
        hidden: ``hidden(block, generator, **gate_kwargs)`` fills one square loop block in place.
        kwargs: the keyword arguments :func:`~eigenrnn.init.init_rnn` accepts for it.
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


SCHEMES: dict[str, Scheme] = {
    "pytorch": Scheme(pytorch_uniform, (), "pytorch", _pytorch_kwargs, pytorch_layout=True),
    "xavier": Scheme(_xavier, ("gain",), "xavier"),
    "kaiming": Scheme(_kaiming, ("a", "mode", "nonlinearity"), "kaiming"),
    "orthogonal": Scheme(_orthogonal, ("gain",), "xavier"),
    "irnn": Scheme(lambda t, generator, **kw: irnn_(t, **kw), ("gain",), "xavier"),
    "sp": Scheme(lambda t, generator, **kw: sp_(t, generator=generator, **kw), ("radius",), "xavier"),
    "eigen": Scheme(lambda t, generator, **kw: eigen_(t, generator=generator, **kw), ("spectrum", "preset", "nonnormality"), "xavier", _eigen_kwargs),
    "chain": Scheme(lambda t, generator, **kw: chain_(t, **kw), ("alpha",), "xavier"),
    "rescaled-glorot": Scheme(lambda t, generator, **kw: rescaled_glorot_(t, generator, **kw), ("quantile",), "xavier"),
}

#: ``input_scheme`` name -> ``fill(weight, generator, hidden_size)`` for one input-to-hidden block.
INPUT_SCHEMES: dict[str, Callable[[torch.Tensor, torch.Generator | None, int], torch.Tensor]] = {
    "pytorch": lambda w, generator, hidden_size: pytorch_uniform(w, generator, hidden_size=hidden_size),
    "xavier": lambda w, generator, hidden_size: _xavier(w, generator),
    "kaiming": lambda w, generator, hidden_size: _kaiming(w, generator),
    "orthogonal": lambda w, generator, hidden_size: _orthogonal(w, generator),
    "zeros": lambda w, generator, hidden_size: nn.init.zeros_(w),
}


def schemes() -> tuple[str, ...]:
    """Names accepted by :func:`~eigenrnn.init.init_rnn`.

    >>> schemes()[:3]
    ('pytorch', 'xavier', 'kaiming')
    """
    return tuple(SCHEMES)


def init_input(weight: torch.Tensor, scheme: str, hidden_size: int, generator: torch.Generator | None) -> None:
    """Fill one ``(H, input_size)`` input block in place with input scheme ``scheme`` (a key of :data:`INPUT_SCHEMES`)."""
    INPUT_SCHEMES[scheme](weight, generator, hidden_size)
