"""Evaluation of a run's model on one of its splits: mean loss and the task's metric."""

from __future__ import annotations

import copy
from contextlib import nullcontext
from typing import Any, Callable

import torch
from torch import nn

from eigenrnn.train.config import TrainConfig
from eigenrnn.train.setup import Setup


def autocast(config: TrainConfig) -> Any:
    """Mixed precision (float16 on CUDA) when ``config.amp``, else a no-op context."""
    if config.amp:
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return nullcontext()


@torch.no_grad()
def evaluate(
    setup: Setup, config: TrainConfig, split: str, model: nn.Module | None = None, *, beam_size: int = 1,
    progress: bool = False,
) -> tuple[float, float | None]:
    """Mean loss and metric of ``model`` (default: the trained one) on ``split``.

    For seq2seq the metric is BLEU of decoded output (greedy unless
    ``beam_size > 1``), with a progress bar when ``progress``.
    """
    model = setup.model if model is None else model
    data = setup.splits[split]
    objective, task = setup.objective, setup.task
    was_training = model.training
    model.eval()
    sums = torch.zeros(4, dtype=torch.float32, device=setup.device)
    bs = config.eval_batch_size
    with autocast(config):
        for start in range(0, len(data), bs):
            batch = data.batch(torch.arange(start, min(start + bs, len(data)), device=setup.device))
            sums += objective.stats(objective.outputs(model, batch), batch)[0]
        loss_sum, loss_n, metric_sum, metric_n = sums.tolist()
        if task.seq2seq:
            # Outputs are at most as long as the task's sequences (its horizon).
            metric = objective.decoded_metric(
                model, data, setup.data.tokenizer, bs, beam_size, task.horizon,
                progress=progress, desc=f"{split} {task.metric.upper()}" + (f" (beam {beam_size})" if beam_size > 1 else ""),
            )
        else:
            metric = metric_sum / metric_n if metric_n else None
    model.train(was_training)
    return loss_sum / max(loss_n, 1), metric


def final_evaluation(
    setup: Setup, config: TrainConfig, best_state: dict[str, Any] | None, *, progress: bool = False,
    say: Callable[[str], None] = lambda message: None,
) -> tuple[float | None, float | None]:
    """Test and generalisation metric (``None`` without that split) of the weights ``best_state``."""
    if best_state is None:
        return None, None
    best = copy.deepcopy(setup.model)
    best.load_state_dict(best_state)
    beam = config.beam_size or 1
    if setup.task.seq2seq:
        say(f"final evaluation: decoding {len(setup.splits['test'])} test sentences"
            + (f" with beam {beam}" if beam > 1 else " (greedy)"))
    _, test = evaluate(setup, config, "test", best, beam_size=beam, progress=progress)
    generalisation = (
        evaluate(setup, config, "generalisation", best, progress=progress)[1] if "generalisation" in setup.splits else None
    )
    return test, generalisation
