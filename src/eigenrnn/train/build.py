"""Build a run's model from its config and the shape of its data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from eigenrnn.errors import bad_value
from eigenrnn.models import InputSpec, Seq2Seq, SequenceModel
from eigenrnn.train.config import TrainConfig


@dataclass(frozen=True)
class ModelSpec:
    """What the data fixes about a model: its input, output size and readout (saved in checkpoints)."""

    input_spec: InputSpec
    output_size: int
    readout: str
    seq2seq: bool = False
    specials: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_spec": self.input_spec.to_dict(),
            "output_size": self.output_size,
            "readout": self.readout,
            "seq2seq": self.seq2seq,
            "specials": dict(self.specials),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ModelSpec":
        return cls(
            input_spec=InputSpec(**data["input_spec"]),
            output_size=int(data["output_size"]),
            readout=str(data["readout"]),
            seq2seq=bool(data["seq2seq"]),
            specials={str(k): int(v) for k, v in dict(data["specials"]).items()},
        )


def seeds(seed: int) -> tuple[int, int]:
    """Independent seeds for the initial weights and the data order, derived from ``seed``."""
    model_seed, order_seed = np.random.SeedSequence(seed).generate_state(2, dtype=np.uint32)
    return int(model_seed), int(order_seed)


def decode_init_kwargs(init_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Turn the JSON form of ``init_kwargs`` into :func:`eigenrnn.init.init_rnn` arguments.

    A ``spectrum`` given as a dict of :class:`~eigenrnn.spectrum.Spectrum`
    fields, or as a dict gate -> such a dict, becomes Spectrum objects.
    """
    from eigenrnn.spectrum import Spectrum, SpectrumMixture, spectrum_from_dict

    kwargs = dict(init_kwargs)
    spectrum = kwargs.get("spectrum")
    if isinstance(spectrum, Mapping):
        fields = {"radius", "distribution", "max_phase", "real_fraction"}
        if set(spectrum) <= fields or "mixture" in spectrum:
            kwargs["spectrum"] = spectrum_from_dict(dict(spectrum))
        else:
            per_gate = {}
            for gate, value in spectrum.items():
                if isinstance(value, (Spectrum, SpectrumMixture)):
                    per_gate[gate] = value
                elif isinstance(value, Mapping):
                    per_gate[gate] = spectrum_from_dict(dict(value))
                else:
                    raise ValueError(bad_value(f"init_kwargs.spectrum[{gate!r}]", value, "a dict of Spectrum fields"))
            kwargs["spectrum"] = per_gate
    return kwargs


def build_model(config: TrainConfig, spec: ModelSpec, generator: torch.Generator | None = None) -> nn.Module:
    """The model of ``config`` for data described by ``spec``, initialized from ``generator``.

    Without a generator the weights come from ``seeds(config.seed)[0]``, as in
    the trainer, so the same config always builds the same initial model.
    """
    if generator is None:
        generator = torch.Generator().manual_seed(seeds(config.seed)[0])
    common = dict(
        cell=config.cell,
        hidden=config.hidden,
        layers=config.layers,
        nonlinearity=config.nonlinearity,
        init=config.init,
        init_kwargs=decode_init_kwargs(config.init_kwargs),
        embedding_dim=config.embedding_dim,
        generator=generator,
    )
    if spec.seq2seq:
        s = spec.specials
        return Seq2Seq(spec.input_spec.size, s["pad"], s["bos"], s["eos"], **common)
    return SequenceModel(spec.input_spec, spec.output_size, readout=spec.readout, **common)
