"""Input batches that drive the trajectories of a model's recurrent modules in an analysis.

What ``eigenrnn analyze`` feeds a trained model: a task's example inputs for the
module a :class:`~eigenrnn.models.SequenceModel` drives (``model.rnn``, after
``model.rnn_inputs``), and seeded Gaussian noise for every other recurrent
module, with one note per module for the report saying where its inputs came from.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from eigenrnn.errors import EigenRNNError, bad_value, check_int

DEFAULT_STEPS = 100

__all__ = ["DEFAULT_STEPS", "model_inputs", "task_inputs"]


def task_inputs(name: str, batch: int, seed: int, checkpoint: Any = None) -> torch.Tensor:
    """``batch`` example inputs of task ``name`` (seeded by ``seed``), as the task's model takes them.

    The task is built with the options of ``checkpoint`` (an
    :class:`eigenrnn.train.checkpoint.Checkpoint`) when it was trained on that task,
    and its tokenizer is used where it has one.
    """
    from eigenrnn.tasks import get_task

    options = dict(checkpoint.config.task_options) if checkpoint is not None and checkpoint.config.task == name else {}
    task = get_task(name, **options)
    x = task.example_inputs(batch, seed, tokenizer=getattr(checkpoint, "tokenizer", None))
    if not isinstance(x, torch.Tensor):
        raise EigenRNNError(f"task {name}: example_inputs returned {type(x).__name__}, not a tensor")
    return x


def _module_path(model: nn.Module, target: nn.Module) -> str:
    return next(name for name, module in model.named_modules() if module is target)


def _task_driven(model: nn.Module, modules: dict[str, nn.Module], task: str, batch: int, seed: int,
                 checkpoint: Any) -> tuple[str, torch.Tensor]:
    """``(path of the module the task drives, its inputs (T, B, input_size))``.

    A plain module (no ``checkpoint``) takes the task's float features directly;
    a :class:`~eigenrnn.models.SequenceModel` drives ``model.rnn`` with
    ``model.rnn_inputs`` of them.
    """
    x = task_inputs(task, batch, seed, checkpoint)
    if checkpoint is None:
        if x.ndim != 3 or not x.is_floating_point():
            raise EigenRNNError(
                f"task {task}: gives {'token ids' if not x.is_floating_point() else 'inputs'} of shape {tuple(x.shape)}; "
                "a plain state_dict needs float features (T, B, input_size); analyse the project checkpoint instead"
            )
        driven, rnn_x = "", x
    else:
        rnn = getattr(model, "rnn", None)
        if not isinstance(rnn, (nn.RNNBase, nn.RNNCellBase)) or not callable(getattr(model, "rnn_inputs", None)):
            raise EigenRNNError(
                f"task drives models with .rnn and .rnn_inputs (SequenceModel); {type(model).__name__} has none; "
                "analyse without a task"
            )
        try:
            with torch.no_grad():
                rnn_x = model.rnn_inputs(x)
        except (ValueError, TypeError) as exc:  # another task's inputs (e.g. floats into an embedding)
            raise EigenRNNError(
                f"task: got {task!r}; expected a task whose inputs fit this model, "
                f"e.g. its own {checkpoint.config.task!r} ({exc})"
            ) from None
        driven = _module_path(model, rnn)
    size = modules[driven].input_size
    if rnn_x.ndim != 3 or rnn_x.shape[-1] != size:
        raise EigenRNNError(f"task {task}: inputs of shape {tuple(rnn_x.shape)} do not fit a recurrent input size of {size}")
    return driven, rnn_x.detach()


def model_inputs(
    model: nn.Module,
    *,
    task: str | None = None,
    batch: int = 8,
    steps: int | None = None,
    seed: int = 0,
    checkpoint: Any = None,
) -> tuple[dict[str, tuple[torch.Tensor, str]], list[str]]:
    """Inputs for every recurrent module of ``model``, and notes for the report on where they came from.

    Args:
        model: a :class:`~eigenrnn.models.SequenceModel`, or a plain nn.RNN/LSTM/GRU (or cell).
        task: drive ``model.rnn`` (or the plain module) with this task's example
            inputs (default: none, random inputs everywhere).
        batch: sequences per batch ``B`` (default 8).
        steps: length ``T`` of random sequences (default: the task's length, else
            :data:`DEFAULT_STEPS`); not with ``task``.
        seed: seed of the task examples and of the random inputs (default 0).
        checkpoint: the checkpoint ``model`` came from, for the task's options and tokenizer.

    Returns:
        ``(inputs, notes)``: module path (``""`` for ``model`` itself) ->
        ``(x, source)`` with ``x`` of shape ``(T, B, input_size)``, and one note per module.

    >>> x, notes = model_inputs(nn.GRU(3, 4), steps=5, batch=2)
    >>> x[""][0].shape, x[""][1]
    (torch.Size([5, 2, 3]), 'random N(0, 1), seed 0')
    """
    from eigenrnn.analysis.overview import recurrent_modules

    check_int("batch", batch)
    if steps is not None:
        check_int("steps", steps)
        if task is not None:
            raise ValueError(bad_value("steps", steps, "nothing with task (the task sets the sequence length)"))
    modules = recurrent_modules(model)
    inputs: dict[str, tuple[torch.Tensor, str]] = {}
    notes: list[str] = []
    if task is not None:
        driven, rnn_x = _task_driven(model, modules, task, batch, seed, checkpoint)
        inputs[driven] = (rnn_x, f"task '{task}' examples (seed {seed})")
        notes.append(f"`{driven or type(model).__name__}` is driven by {batch} example inputs of task '{task}' (seed {seed}).")
    steps = steps or (DEFAULT_STEPS if not inputs else next(iter(inputs.values()))[0].shape[0])
    generator = torch.Generator().manual_seed(seed)
    for name, module in modules.items():
        if name in inputs:
            continue
        dtype = next(module.parameters()).dtype
        x = torch.randn(steps, batch, module.input_size, generator=generator, dtype=dtype)
        inputs[name] = (x, f"random N(0, 1), seed {seed}")
        notes.append(
            f"`{name or type(module).__name__}` is driven by random Gaussian inputs N(0, 1) of shape "
            f"{tuple(x.shape)} (seed {seed}), not by data: trajectory-based results describe that input regime."
        )
    return inputs, notes
