"""Layers built from an explicit generator: ``nn.Linear``, ``nn.Embedding`` and the recurrent core.

Every builder draws its weights from the given :class:`torch.Generator` and
leaves PyTorch's global RNG untouched, so a model's weights depend on its
seed only.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import nn

from eigenrnn.errors import bad_value, check_int
from eigenrnn.rnn import CELLS, CLASSES, NONLINEARITIES


def resolve_generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator | None:
    """The generator of a model's initial weights: a fresh one seeded with ``seed``, or ``generator`` (at most one of them)."""
    if seed is not None and generator is not None:
        raise ValueError("seed and generator: pass at most one of them")
    if seed is not None:
        check_int("seed", seed, minimum=None)
        return torch.Generator().manual_seed(seed)
    return generator


def construct(cls: type[nn.Module], *args: Any, **kwargs: Any) -> nn.Module:
    """Build a module without touching the global RNG (its own init is overwritten right after)."""
    # fork_rng restores the CPU RNG state afterwards; building on the "meta"
    # device would avoid the draw too, but costs a multi-second import.
    with torch.random.fork_rng(devices=[]):
        return cls(*args, **kwargs)


def seeded_linear(in_features: int, out_features: int, bias: bool, generator: torch.Generator | None) -> nn.Linear:
    """``nn.Linear`` with PyTorch's default initialization drawn from ``generator``."""
    layer = construct(nn.Linear, in_features, out_features, bias=bias)
    # Same distributions as nn.Linear.reset_parameters, but from our generator.
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    if layer.bias is not None:
        bound = 1.0 / math.sqrt(in_features)
        nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


def seeded_embedding(num: int, dim: int, padding_idx: int | None, generator: torch.Generator | None) -> nn.Embedding:
    """``nn.Embedding`` with PyTorch's default N(0, 1) initialization drawn from ``generator``."""
    layer = construct(nn.Embedding, num, dim, padding_idx=padding_idx)
    nn.init.normal_(layer.weight, generator=generator)
    if padding_idx is not None:
        with torch.no_grad():
            layer.weight[padding_idx].zero_()
    return layer


def build_rnn(
    cell: str,
    input_size: int,
    hidden: int,
    layers: int,
    nonlinearity: str,
    init: str,
    init_kwargs: Mapping[str, Any] | None,
    generator: torch.Generator | None,
) -> nn.RNNBase:
    """Construct a time-first ``nn.RNN``/``nn.LSTM``/``nn.GRU`` and initialize it with ``init_rnn``.

    Args:
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        nonlinearity: ``"tanh"`` or ``"relu"`` for ``"rnn"``; LSTM and GRU only
            have ``"tanh"``.
        init: a scheme name of :func:`eigenrnn.init.schemes`.
        init_kwargs: forwarded to :func:`eigenrnn.init.init_rnn` (``input_scheme``,
            ``bias``, ``forget_bias`` and scheme keyword arguments).
    """
    from eigenrnn.init import init_rnn

    if cell not in CELLS:
        raise ValueError(bad_value("cell", cell, f"one of {CELLS}"))
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(bad_value("nonlinearity", nonlinearity, f"one of {NONLINEARITIES}"))
    if cell != "rnn" and nonlinearity != "tanh":
        raise ValueError(bad_value("nonlinearity", nonlinearity, f"'tanh' for cell {cell!r} (only 'rnn' takes 'relu')"))
    check_int("hidden", hidden)
    check_int("layers", layers)
    kwargs: dict[str, Any] = {"num_layers": layers, "batch_first": False}
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity
    rnn = construct(CLASSES[cell], input_size, hidden, **kwargs)
    init_rnn(rnn, init, generator=generator, **dict(init_kwargs or {}))
    return rnn
