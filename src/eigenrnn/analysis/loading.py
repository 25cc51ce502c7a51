"""Rebuild a plain nn.RNN/LSTM/GRU (or cell) from a saved ``state_dict``, checking every shape."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eigenrnn.errors import CheckpointError, EigenRNNError, bad_value, check_int
from eigenrnn.rnn import CELL_CLASSES, CELLS, CLASSES, GATES, NONLINEARITIES

__all__ = ["CELLS", "NONLINEARITIES", "load_plain_rnn", "check_finite"]

_LAYER_KEY = re.compile(r"^weight_ih_l(\d+)$")


def _read(path: Path) -> Mapping[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint: {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for junk files (pickle, zip, EOF, runtime)
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise CheckpointError(f"{path}: not a PyTorch state_dict file ({type(exc).__name__}: {reason})") from None
    if isinstance(obj, Mapping) and obj.get("format") == "eigenrnn-checkpoint":
        raise CheckpointError(f"{path}: is an eigenrnn checkpoint, not a plain state_dict; load it with eigenrnn.train.checkpoint.load_checkpoint")
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{path}: not a state_dict (expected a mapping of parameter names to tensors, got {type(obj).__name__})")
    return obj


def _float_dtype(path: Path, key: str, tensor: torch.Tensor) -> torch.dtype:
    if not tensor.is_floating_point():
        raise CheckpointError(f"{path}: {key} has dtype {tensor.dtype}, expected floating point")
    return tensor.dtype


def _check_description(cell: str, hidden: int, nonlinearity: str | None) -> None:
    if cell not in CELLS:
        raise ValueError(bad_value("cell", cell, f"one of {', '.join(CELLS)}"))
    check_int("hidden", hidden)
    if nonlinearity is not None and cell != "rnn":
        raise ValueError(bad_value("nonlinearity", nonlinearity, f"nothing for cell {cell!r} (vanilla rnn only)"))
    if nonlinearity is not None and nonlinearity not in NONLINEARITIES:
        raise ValueError(bad_value("nonlinearity", nonlinearity, f"one of {', '.join(NONLINEARITIES)}"))


def _input_size(path: Path, state: Mapping[str, torch.Tensor], key: str, cell: str, hidden: int, input_size: int | None) -> int:
    """Input size read from ``state[key]`` (``weight_ih`` or ``weight_ih_l0``), checked against the description."""
    w_ih = state[key]
    gates = len(GATES[cell])
    if w_ih.ndim != 2 or w_ih.shape[0] != gates * hidden:
        raise CheckpointError(
            f"{path}: {key} has shape {tuple(w_ih.shape)}; cell={cell!r}, hidden={hidden} expects ({gates * hidden}, input_size)"
        )
    found = w_ih.shape[1]
    if input_size is not None and input_size != found:
        raise CheckpointError(f"{path}: {key} has input size {found}, but input_size={input_size} was given")
    return found


def _cell_module(
    path: Path, state: Mapping[str, torch.Tensor], cell: str, hidden: int, *,
    input_size: int | None, layers: int | None, nonlinearity: str | None,
) -> nn.Module:
    """An empty nn.RNNCell/LSTMCell/GRUCell shaped like ``state`` (keys ``weight_ih``, ...).

    ``input_size``, ``layers``, ``nonlinearity``: as given to :func:`load_plain_rnn`.
    """
    if layers not in (None, 1):
        raise CheckpointError(f"{path}: holds a single cell (keys 'weight_ih', ...), but layers={layers} was given")
    found_input = _input_size(path, state, "weight_ih", cell, hidden, input_size)
    kwargs: dict[str, Any] = {"bias": "bias_ih" in state}
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity or "tanh"
    return CELL_CLASSES[cell](found_input, hidden, **kwargs, dtype=_float_dtype(path, "weight_ih", state["weight_ih"]))


def _stacked_module(
    path: Path, state: Mapping[str, torch.Tensor], cell: str, hidden: int, *,
    input_size: int | None, layers: int | None, nonlinearity: str | None,
) -> nn.Module:
    """An empty nn.RNN/LSTM/GRU shaped like ``state`` (keys ``weight_ih_l0``, ...): layers, directions, bias, projection.

    ``input_size``, ``layers``, ``nonlinearity``: as given to :func:`load_plain_rnn`.
    """
    indices = sorted(int(m.group(1)) for k in state if (m := _LAYER_KEY.match(k)))
    if not indices:
        raise CheckpointError(
            f"{path}: no 'weight_ih_l0' (or 'weight_ih') key; found {sorted(state)[:6]}; "
            f"expected the state_dict of an nn.{cell.upper()} or its cell"
        )
    found_layers = indices[-1] + 1
    if layers is not None and layers != found_layers:
        raise CheckpointError(f"{path}: holds {found_layers} layer(s), but layers={layers} was given")
    found_input = _input_size(path, state, "weight_ih_l0", cell, hidden, input_size)
    kwargs = {"num_layers": found_layers, "bias": "bias_ih_l0" in state, "bidirectional": "weight_ih_l0_reverse" in state}
    if cell == "rnn":
        kwargs["nonlinearity"] = nonlinearity or "tanh"
    if cell == "lstm" and "weight_hr_l0" in state:
        kwargs["proj_size"] = state["weight_hr_l0"].shape[0]
    try:
        return CLASSES[cell](found_input, hidden, **kwargs, dtype=_float_dtype(path, "weight_ih_l0", state["weight_ih_l0"]))
    except ValueError as exc:
        raise CheckpointError(f"{path}: tensors describe an impossible nn.{cell.upper()} ({exc})") from None


def _check_tensors(path: Path, state: Mapping[str, torch.Tensor], module: nn.Module, cell: str, hidden: int) -> None:
    """Every key of ``module`` present in ``state`` and no other, each with its shape and a float dtype."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: keys do not match {type(module).__name__}(hidden={hidden}): "
            f"missing {missing[:4]}, unexpected {unexpected[:4]}"
        )
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: {key} has shape {tuple(state[key].shape)}, expected {tuple(tensor.shape)} for cell={cell!r}, hidden={hidden}"
            )
        if not state[key].is_floating_point():
            raise CheckpointError(f"{path}: {key} has dtype {state[key].dtype}, expected floating point")


def load_plain_rnn(
    path: str | os.PathLike,
    cell: str,
    hidden: int,
    *,
    input_size: int | None = None,
    layers: int | None = None,
    nonlinearity: str | None = None,
) -> nn.Module:
    """Load a ``torch.save``'d state_dict of nn.RNN/LSTM/GRU (or nn.RNNCell/LSTMCell/GRUCell).

    ``input_size``, ``layers``, ``bidirectional``, ``bias`` and LSTM ``proj_size``
    are read from the tensors; ``input_size``/``layers`` given here must agree.
    Keys without a ``_l0`` suffix (``weight_ih``, ``weight_hh``, ...) mean a cell.
    Read with ``weights_only=True``: no code in the file runs.

    Args:
        path: the file.
        cell: ``"rnn"``, ``"lstm"`` or ``"gru"``.
        hidden: hidden size ``H``.
        input_size, layers: optional checks.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``, vanilla RNN only.

    Raises:
        ValueError: bad ``cell``/``hidden``/``nonlinearity``.
        FileNotFoundError: no such file.
        CheckpointError: unreadable file, or tensors that do not fit the description
            (the message names the parameter, its shape and the expected shape).
    """
    _check_description(cell, hidden, nonlinearity)
    path = Path(path)
    state = _read(path)
    build = _cell_module if "weight_ih" in state else _stacked_module
    module = build(path, state, cell, hidden, input_size=input_size, layers=layers, nonlinearity=nonlinearity)
    _check_tensors(path, state, module, cell, hidden)
    expected = module.state_dict()
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    return module.eval()


def check_finite(model: nn.Module, source: str) -> None:
    """Raise :class:`EigenRNNError` naming the first parameter of ``model`` holding NaN or inf."""
    for name, param in model.named_parameters():
        if not bool(torch.isfinite(param).all()):
            raise EigenRNNError(f"{source}: parameter {name} contains NaN or inf; a diverged model cannot be analysed")
