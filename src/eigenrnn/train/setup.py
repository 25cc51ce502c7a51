"""Everything a run builds before its first step, computed once: :func:`setup` returns a frozen :class:`Setup`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from eigenrnn.tasks.base import SequenceDataset, Task, TaskData
from eigenrnn.train.build import ModelSpec, build_model, seeds
from eigenrnn.train.checkpoint import tokenizer_from_text, tokenizer_to_text
from eigenrnn.train.config import TrainConfig
from eigenrnn.train.objective import Objective


@dataclass(frozen=True)
class Setup:
    """Task, data, model, optimizer, scheduler and objective of one run.

    ``splits`` are the data's splits on ``device``; ``data_generator`` draws
    the data order; ``tokenizer_text`` is the seq2seq tokenizer as saved in
    checkpoints (else ``None``).  The objects inside are mutable (training
    changes the weights); the bundle itself is not reassigned.
    """

    task: Task
    data: TaskData
    spec: ModelSpec
    device: torch.device
    model: nn.Module
    data_generator: torch.Generator
    splits: dict[str, SequenceDataset]
    objective: Objective
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    tokenizer_text: str | None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (every CUDA device too) from ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup(config: TrainConfig, task: Task, payload: dict[str, Any] | None = None) -> Setup:
    """Seed the global RNGs, then build the run of the resolved ``config`` on ``task``.

    Args:
        config: a resolved config (:meth:`TrainConfig.resolve_with_task`).
        task: the task that resolving ``config`` built.
        payload: the ``checkpoint.pt`` payload of a resume, whose (seq2seq)
            tokenizer then encodes the data; ``None`` at a fresh start.
    """
    seed_everything(config.seed)
    tokenizer = None
    if payload is not None and payload.get("tokenizer"):
        tokenizer = tokenizer_from_text(payload["tokenizer"])
    sizes: dict[str, Any] = dict(train_size=config.train_size, val_size=config.val_size, test_size=config.test_size)
    if tokenizer is not None:  # resuming a seq2seq run: encode with the saved tokenizer
        sizes["tokenizer"] = tokenizer
    data = task.build(config.data_seed, **sizes)
    specials = data.specials
    spec = ModelSpec(data.input_spec, data.output_size, task.readout, task.seq2seq, specials)
    device = torch.device(config.device)
    model_seed, order_seed = seeds(config.seed)
    model = build_model(config, spec, torch.Generator().manual_seed(model_seed)).to(device)
    optimizer = make_optimizer(config, model)
    return Setup(
        task=task,
        data=data,
        spec=spec,
        device=device,
        model=model,
        data_generator=torch.Generator().manual_seed(order_seed),
        splits={name: split.to(device) for name, split in data.splits.items()},
        objective=Objective(task, specials.get("pad")),
        optimizer=optimizer,
        scheduler=make_scheduler(config, optimizer, task.higher_is_better),
        scaler=torch.amp.GradScaler("cuda") if config.amp else None,
        tokenizer_text=None if data.tokenizer is None else tokenizer_to_text(data.tokenizer),
    )


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` over the parameters of ``model``."""
    params = model.parameters()
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)


def make_scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, higher_is_better: bool) -> Any:
    """The LR scheduler ``config.lr_schedule`` (``None`` for a constant LR)."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.lr_schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=config.lr_step_size, gamma=config.lr_gamma)
    if config.lr_schedule == "plateau":
        mode = "max" if higher_is_better else "min"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=config.lr_gamma, patience=config.lr_patience)
    return None
