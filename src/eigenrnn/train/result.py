"""The outcome of a run: :class:`TrainResult`, as written to ``summary.json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from eigenrnn.tasks.base import Task
from eigenrnn.train.config import TrainConfig
from eigenrnn.train.state import RunState

SUMMARY_KEYS = (
    "task", "cell", "init", "seed", "status", "metric_name", "higher_is_better", "test_metric",
    "best_val_metric", "generalisation_metric", "train_metric", "target", "epochs_to_target",
    "steps_to_target", "epochs", "steps", "wall_time_s", "diverged", "device", "stop_reason", "best_epoch",
)


@dataclass(frozen=True)
class TrainResult:
    """The outcome of :func:`train`, as written to ``summary.json``.

    Metrics are those of the task (``metric_name``; accuracy, MSE or BLEU).
    ``test_metric`` and ``generalisation_metric`` (Tomita, else ``None``) are
    measured with the weights of the best validation epoch (``best_epoch``),
    ``train_metric`` is that epoch's training metric.  ``target`` is
    ``{"metric", "value", "split"}``; ``epochs_to_target``/``steps_to_target``
    are ``None`` if it was never reached.  ``stop_reason`` is ``"epochs"``,
    ``"early_stopping"``, ``"target"`` or ``"diverged"``.
    """

    run_dir: Path
    task: str
    cell: str
    init: str
    seed: int
    status: str
    metric_name: str
    higher_is_better: bool
    test_metric: float | None
    best_val_metric: float | None
    generalisation_metric: float | None
    train_metric: float | None
    target: dict[str, Any]
    epochs_to_target: int | None
    steps_to_target: int | None
    epochs: int
    steps: int
    wall_time_s: float
    diverged: bool
    device: str
    stop_reason: str
    best_epoch: int | None
    history: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in SUMMARY_KEYS}


def result_of(
    config: TrainConfig, task: Task, state: RunState, run_dir: Path, device: torch.device, *,
    status: str, test: float | None, generalisation: float | None,
) -> TrainResult:
    """The :class:`TrainResult` of a run in ``state``, with its final ``test``/``generalisation`` metrics."""
    best_record = state.history[state.best_epoch - 1] if state.best_epoch else None
    hit = state.target_hit
    shown_device = str(device)
    if device.type == "cuda":
        shown_device = f"cuda ({torch.cuda.get_device_name(device)})"
    return TrainResult(
        run_dir=run_dir,
        task=config.task,
        cell=config.cell,
        init=config.init,
        seed=config.seed,
        status=status,
        metric_name=task.metric,
        higher_is_better=task.higher_is_better,
        test_metric=test,
        best_val_metric=state.best_metric,
        generalisation_metric=generalisation,
        train_metric=None if best_record is None else best_record["train_metric"],
        target={"metric": task.metric, "value": task.target if config.target is None else config.target,
                "split": task.target_split},
        epochs_to_target=None if hit is None else hit["epoch"],
        steps_to_target=None if hit is None else hit["step"],
        epochs=state.epoch,
        steps=state.step,
        wall_time_s=round(state.wall(), 3),
        diverged=status == "diverged",
        device=shown_device,
        stop_reason="diverged" if status == "diverged" else (state.stop_reason or "epochs"),
        best_epoch=state.best_epoch,
        history=list(state.history),
    )
