"""Sequence classification and regression: :class:`InputSpec` and :class:`SequenceModel`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Mapping

import torch
from torch import Tensor, nn

from eigenrnn.errors import bad_value, check_int
from eigenrnn.models.layers import build_rnn, resolve_generator, seeded_embedding, seeded_linear

READOUTS = ("last", "every")


@dataclass(frozen=True)
class InputSpec:
    """What a model reads at each time step.

    Args:
        kind: ``"tokens"`` (integer ids, fed through an embedding) or
            ``"features"`` (float vectors fed straight to the recurrent layer,
            whose input weights act as the linear input layer).
        size: vocabulary size for tokens, feature size for features.
        padding_idx: the pad token id (tokens only), whose embedding stays zero.

    >>> InputSpec("tokens", 4, padding_idx=2)
    InputSpec(kind='tokens', size=4, padding_idx=2)
    """

    kind: Literal["tokens", "features"]
    size: int
    padding_idx: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("tokens", "features"):
            raise ValueError(bad_value("InputSpec.kind", self.kind, "'tokens' or 'features'"))
        check_int("InputSpec.size", self.size)
        if self.padding_idx is not None:
            if self.kind != "tokens":
                raise ValueError(bad_value("InputSpec.padding_idx", self.padding_idx, "None for features"))
            if not 0 <= self.padding_idx < self.size:
                raise ValueError(bad_value("InputSpec.padding_idx", self.padding_idx, f"an id in [0, {self.size})"))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": self.size, "padding_idx": self.padding_idx}


class SequenceModel(nn.Module):
    """Input layer, a recurrent core and a linear readout.

    ``tokens -> nn.Embedding`` (or float features fed directly), then
    ``rnn = nn.RNN/LSTM/GRU(hidden, layers)`` initialized with
    :func:`eigenrnn.init.init_rnn`, then ``nn.Linear(hidden, output_size)``
    applied to the top layer's output at the last step (``readout="last"``; with
    ``lengths`` the last *true* step of each padded sequence) or at every step
    (``readout="every"``).

    Args:
        input_spec: an :class:`InputSpec` (or its dict form).
        output_size: number of classes or regression outputs.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        hidden: hidden size ``H``.
        layers: number of stacked recurrent layers.
        nonlinearity: ``"tanh"`` or ``"relu"`` (``"rnn"`` only).
        readout: ``"last"`` or ``"every"``.
        init: initialization scheme name (see :func:`eigenrnn.init.schemes`).
        init_kwargs: keyword arguments for :func:`eigenrnn.init.init_rnn`.
        embedding_dim: embedding size for token inputs (default ``hidden``).
        seed: seed of a fresh generator for all initial weights.
        generator: the generator for all initial weights (at most one of
            ``seed``/``generator``; with neither, PyTorch's global RNG is used).

    Shape:
        - x: ``(T, B)`` long tokens or ``(T, B, F)`` float features.
        - lengths: optional ``(B,)`` true lengths (``readout="last"``).
        - output: ``(B, output_size)`` for ``"last"``, ``(T, B, output_size)`` for ``"every"``.

    >>> m = SequenceModel(InputSpec("features", 2), 1, cell="gru", hidden=8, seed=0)
    >>> m(torch.zeros(5, 3, 2)).shape
    torch.Size([3, 1])
    """

    def __init__(
        self,
        input_spec: InputSpec | Mapping[str, Any],
        output_size: int,
        cell: str = "gru",
        hidden: int = 128,
        layers: int = 1,
        nonlinearity: str = "tanh",
        readout: str = "last",
        init: str = "xavier",
        init_kwargs: Mapping[str, Any] | None = None,
        embedding_dim: int | None = None,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if isinstance(input_spec, Mapping):
            input_spec = InputSpec(**input_spec)
        if not isinstance(input_spec, InputSpec):
            raise TypeError(bad_value("input_spec", input_spec, "an InputSpec or its dict form"))
        check_int("output_size", output_size)
        if readout not in READOUTS:
            raise ValueError(bad_value("readout", readout, f"one of {READOUTS}"))
        if embedding_dim is not None:
            if input_spec.kind != "tokens":
                raise ValueError(bad_value("embedding_dim", embedding_dim, "None for feature inputs"))
            check_int("embedding_dim", embedding_dim)
        g = resolve_generator(seed, generator)
        self.input_spec = input_spec
        self.readout = readout
        self.cell = cell
        if input_spec.kind == "tokens":
            dim = embedding_dim or hidden
            self.embedding: nn.Embedding | None = seeded_embedding(input_spec.size, dim, input_spec.padding_idx, g)
            rnn_input = dim
        else:
            self.embedding = None
            rnn_input = input_spec.size
        self.rnn = build_rnn(cell, rnn_input, hidden, layers, nonlinearity, init, init_kwargs, g)
        self.head = seeded_linear(hidden, output_size, True, g)

    def rnn_inputs(self, x: Tensor) -> Tensor:
        """The ``(T, B, input_size)`` tensor fed to :attr:`rnn` for model input ``x``."""
        if self.embedding is not None:
            if x.dtype not in (torch.int64, torch.int32):
                raise TypeError(bad_value("x.dtype", x.dtype, "integer token ids (T, B)"))
            return self.embedding(x)
        if x.dim() != 3:
            raise ValueError(bad_value("x.shape", tuple(x.shape), "(T, B, F)"))
        return x

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _ = self.rnn(self.rnn_inputs(x))
        if self.readout == "every":
            return self.head(out)
        if lengths is None:
            last = out[-1]
        else:
            # The state at each sequence's own last symbol; padding after it
            # cannot influence earlier states, so no packing is needed.
            idx = (lengths.to(out.device).long() - 1).clamp(min=0)
            last = out.gather(0, idx.view(1, -1, 1).expand(1, -1, out.size(2))).squeeze(0)
        return self.head(last)
