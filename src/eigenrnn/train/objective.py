"""Loss and metric of a task, computed as sums so that batches of any size add up exactly."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from eigenrnn.tasks.base import Batch, SequenceDataset, Task


class Objective:
    """How a model is run on a batch of ``task`` and scored.

    :meth:`stats` returns a detached float tensor ``[loss_sum, loss_count,
    metric_sum, metric_count]`` (plus the differentiable loss sum and count):
    the mean loss is ``loss_sum / loss_count`` and the metric ``metric_sum /
    metric_count`` (accuracy: correct / scored targets; MSE: squared error /
    scalars).  Keeping sums on the device means no per-step host sync.
    Seq2seq batches have no per-batch metric (``metric_count = 0``); their
    BLEU comes from decoding (:meth:`decoded_metric`).

    Args:
        task: the task.
        pad_id: the target pad id (seq2seq), ignored by the loss.
    """

    def __init__(self, task: Task, pad_id: int | None = None) -> None:
        self.task = task
        self.pad_id = pad_id

    def outputs(self, model: nn.Module, batch: Batch) -> Tensor:
        if self.task.seq2seq:
            return model(batch.x, batch.lengths, batch.y[:-1])
        return model(batch.x, batch.lengths)

    def stats(self, out: Tensor, batch: Batch) -> tuple[Tensor, Tensor, Tensor]:
        """``(stats vector, loss_sum, loss_count)`` of model outputs ``out`` on ``batch``."""
        task, y = self.task, batch.y
        out = out.float()  # losses in float32 under autocast too
        if task.seq2seq:
            gold = y[1:]
            loss = F.cross_entropy(out.flatten(0, 1), gold.flatten(), ignore_index=self.pad_id, reduction="sum")
            count = (gold != self.pad_id).sum()
            zero = loss.new_zeros(())
            return torch.stack([loss.detach(), count.to(loss.dtype), zero, zero]), loss, count
        if task.loss == "mse":
            se = (out - y).pow(2).sum()
            n = out.new_tensor(float(y.numel()))
            return torch.stack([se.detach(), n, se.detach(), n]), se, n
        logits = out.flatten(0, -2)
        loss = F.cross_entropy(logits, y.flatten(), reduction="sum")
        n = out.new_tensor(float(y.numel()))
        if task.score_last is not None:
            scored_out, scored_y = out[-task.score_last :], y[-task.score_last :]
        else:
            scored_out, scored_y = out, y
        correct = (scored_out.argmax(-1) == scored_y).sum().to(loss.dtype)
        return torch.stack([loss.detach(), n, correct, out.new_tensor(float(scored_y.numel()))]), loss, n

    def loss_and_stats(self, model: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
        """The mean loss to back-propagate and the detached :meth:`stats` vector."""
        stats, loss_sum, count = self.stats(self.outputs(model, batch), batch)
        return loss_sum / count.clamp(min=1), stats

    @torch.no_grad()
    def decoded_metric(self, model: nn.Module, data: SequenceDataset, tokenizer: Any, batch_size: int, beam_size: int,
                       max_len: int | None, *, progress: bool = False, desc: str = "decoding") -> float:
        """The task's metric of decoded outputs (Multi30k: corpus BLEU) against the raw references of ``data``.

        Greedy decoding when ``beam_size`` is 1, else beam search; ``progress``
        shows a tqdm bar over the sentences (decoding with a beam takes a while).
        """
        from tqdm.auto import tqdm

        hyps: list[Any] = []
        device = data.x.device
        bar = tqdm(total=len(data), desc=desc, unit="sentence", disable=not progress, leave=False, dynamic_ncols=True)
        for start in range(0, len(data), batch_size):
            index = torch.arange(start, min(start + batch_size, len(data)), device=device)
            batch = data.batch(index)
            if beam_size == 1:
                ids = model.greedy(batch.x, batch.lengths, max_len=max_len)
            else:
                ids = model.beam_search(batch.x, batch.lengths, beam_size=beam_size, max_len=max_len)
            hyps.extend(ids)
            bar.update(len(ids))
        bar.close()
        return self.task.decoded_metric(tokenizer, hyps, list(data.refs))
