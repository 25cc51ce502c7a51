"""Checkpoints of training runs: atomic writes, validated reads, model rebuilding.

A checkpoint is a ``torch.save`` of a dict with ``"format": "eigenrnn-checkpoint"``
holding plain Python values and tensors only, so it is read with
``torch.load(weights_only=True)`` (no arbitrary code runs on load).  Its keys:

* ``config`` (resolved :class:`~eigenrnn.train.config.TrainConfig` as a dict),
  ``model_spec`` (:class:`~eigenrnn.train.build.ModelSpec` as a dict),
  ``model`` (state dict), ``tokenizer`` (Multi30k tokenizer JSON, else ``None``);
* in ``checkpoint.pt`` also ``optimizer``, ``scheduler``, ``scaler``, ``rng``,
  ``epoch``, ``step``, ``epoch_state`` (the position inside an interrupted
  epoch, else ``None``) and the bookkeeping needed to resume (``trainer``).
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eigenrnn.errors import CheckpointError
from eigenrnn.io import atomic_torch_save
from eigenrnn.train.build import ModelSpec, build_model
from eigenrnn.train.config import TrainConfig

FORMAT = "eigenrnn-checkpoint"
VERSION = 1
_REQUIRED = ("config", "model_spec", "model")


@dataclass
class LoadedCheckpoint:
    """A checkpoint read back: the run's config, its rebuilt model (eval mode) and the raw payload.

    ``tokenizer`` is the Multi30k tokenizer saved with the run, else ``None``.
    """

    config: TrainConfig
    model: nn.Module
    payload: dict[str, Any]
    spec: ModelSpec
    tokenizer: Any = None
    path: Path | None = None


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> None:
    """Write ``payload`` (see the module docstring) atomically to ``path``."""
    atomic_torch_save({"format": FORMAT, "version": VERSION, **payload}, path)


def read_payload(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint's payload without building the model.

    Raises:
        CheckpointError: the file is missing, unreadable, truncated or not an
            eigenrnn checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for junk (pickle, zip, EOF, runtime)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable eigenrnn checkpoint ({type(exc).__name__}: {reason[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an eigenrnn checkpoint (no '{FORMAT}' marker)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {payload.get('version')!r}; this eigenrnn reads {VERSION}")
    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: incomplete eigenrnn checkpoint (missing {', '.join(missing)})")
    return payload


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Rebuild a run's model from a checkpoint (``checkpoint.pt`` or ``best.pt``).

    The model is built from the saved config and model spec, its weights are
    loaded, and it is put in eval mode on ``map_location``.

    Raises:
        CheckpointError: for anything that is not a readable eigenrnn checkpoint,
            or whose weights do not fit the model its config describes.

    >>> ckpt = load_checkpoint("runs/demo/best.pt")  # doctest: +SKIP
    >>> ckpt.config.task, type(ckpt.model).__name__  # doctest: +SKIP
    ('tomita4', 'SequenceModel')
    """
    payload = read_payload(path, map_location)
    try:
        config = TrainConfig.from_dict(payload["config"])
        spec = ModelSpec.from_dict(payload["model_spec"])
        # Any generator will do: the weights are overwritten right away.
        model = build_model(config, spec, torch.Generator().manual_seed(0))
        model.load_state_dict(payload["model"])
    except (ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: inconsistent eigenrnn checkpoint ({exc})") from None
    tokenizer = tokenizer_from_text(payload["tokenizer"]) if payload.get("tokenizer") else None
    model.to(map_location).eval()
    return LoadedCheckpoint(config, model, payload, spec, tokenizer, Path(path))


def tokenizer_to_text(tokenizer: Any) -> str:
    """Serialize a Multi30k tokenizer (a ``tokenizers.Tokenizer``) to the JSON stored in checkpoints."""
    return tokenizer.to_str()


def tokenizer_from_text(text: str) -> Any:
    """Inverse of :func:`tokenizer_to_text`, checked by :func:`eigenrnn.tasks.multi30k.load_tokenizer`."""
    from eigenrnn.tasks import multi30k

    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "tokenizer.json"
        file.write_text(text, encoding="utf-8")
        return multi30k.load_tokenizer(file)


# ---------------------------------------------------------------------------
# RNG states as plain values (torch.load(weights_only=True) accepts them)
# ---------------------------------------------------------------------------

def rng_state(data_generator: torch.Generator) -> dict[str, Any]:
    """Python, NumPy, PyTorch (CPU and CUDA) and data-order RNG states."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "data": data_generator.get_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def set_rng_state(state: dict[str, Any], data_generator: torch.Generator) -> None:
    """Restore what :func:`rng_state` saved."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    data_generator.set_state(state["data"].cpu())
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
