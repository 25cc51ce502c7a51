"""Trainer throughput against a minimal hand-written PyTorch loop, side by side.

Target (issue 4): on pixel-by-pixel MNIST (784 steps), GRU-128, batch 128, CPU,
``eigenrnn.train.train`` processes samples within 5% as fast as the plain loop
``forward -> cross-entropy -> backward -> clip_grad_norm_ -> Adam.step`` on the
same model, data and thread count.

    .venv/bin/python benchmarks/bench_trainer.py [--batches 8] [--threads 1]

The two are interleaved batch by batch in one process: a trainer callback runs
one step of the hand-written loop after every trainer step.  A trainer step is
timed from the end of the previous callback to the start of the next, so it
includes everything the trainer does per batch (batch gathering, loss and
metric sums, the NaN check, callbacks, progress bookkeeping); the hand-written
step includes its own batch gathering.  Medians over the batches after the
first are compared.  Uses the MNIST copy found by ``eigenrnn.tasks.mnist``
(falling back to random images of MNIST shape if none is available offline).
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from eigenrnn.errors import DataError
from eigenrnn.train import TrainConfig, train
from eigenrnn.train.build import build_model


class _Interleave:
    """Trainer callback: time the trainer's step, then run and time one hand-written step."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.trainer_times: list[float] = []
        self.hand_times: list[float] = []
        self.mark: float | None = None

    def on_train_start(self, trainer) -> None:
        # The same initial weights and data as the trainer, but an independent model and optimizer.
        self.model = build_model(trainer.config, trainer.spec).to(trainer.device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)
        data = trainer.splits["train"]
        self.x, self.y = data.x, data.y
        self.perm = torch.randperm(self.x.size(1), generator=torch.Generator().manual_seed(1))
        self.mark = time.perf_counter()

    def _hand_step(self, step: int) -> None:
        bs = self.config.batch_size
        idx = self.perm[(step - 1) * bs : step * bs]
        x, y = self.x[:, idx], self.y[idx]
        out, _ = self.model.rnn(x)
        loss = F.cross_entropy(self.model.head(out[-1]), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip)
        self.opt.step()

    def on_step_end(self, trainer, step: int) -> None:
        now = time.perf_counter()
        self.trainer_times.append(now - self.mark)
        start = time.perf_counter()
        self._hand_step(step)
        self.hand_times.append(time.perf_counter() - start)
        self.mark = time.perf_counter()


def _synthetic_mnist(directory: Path) -> Path:
    rng = np.random.default_rng(0)
    split = lambda n: (rng.integers(0, 256, (n, 784)).astype(np.float32) / 256, rng.integers(0, 10, n))  # noqa: E731
    with gzip.open(directory / "mnist.pkl.gz", "wb") as fh:
        pickle.dump((split(2048), split(256), split(256)), fh)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="batches per contender (default 8)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--task", default="mnist", choices=("mnist", "pmnist", "mnist14"))
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both (default 1: stable on a shared machine; 0 keeps PyTorch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        base = dict(task=args.task, cell="gru", init="xavier", hidden=args.hidden, batch_size=args.batch_size,
                    epochs=1, lr=1e-3, clip=1.0, train_size=args.batches * args.batch_size, val_size=args.batch_size,
                    test_size=args.batch_size, device="cpu", out=str(Path(tmp) / "run"))
        try:
            from eigenrnn.tasks import mnist

            mnist.load("test")
            source = "MNIST"
        except DataError:
            base["task_options"] = {"data_dir": str(_synthetic_mnist(Path(tmp)))}
            source = "random images of MNIST shape (no MNIST copy found)"
        config = TrainConfig(**base)
        probe = _Interleave(config)
        start = time.perf_counter()
        train(config, callbacks=[probe], progress=False)
        total = time.perf_counter() - start
    trainer_s = statistics.median(probe.trainer_times[1:])
    hand_s = statistics.median(probe.hand_times[1:])
    steps = {"mnist": 784, "pmnist": 784, "mnist14": 196}[args.task]
    print(f"{args.task} ({steps} steps, {source}), GRU-{args.hidden}, batch {args.batch_size}, CPU, "
          f"{torch.get_num_threads()} threads, {args.batches} batches each, interleaved")
    print(f"  hand-written loop : {args.batch_size / hand_s:8.1f} samples/s  (median {hand_s * 1000:.0f} ms/batch)")
    print(f"  eigenrnn trainer  : {args.batch_size / trainer_s:8.1f} samples/s  (median {trainer_s * 1000:.0f} ms/batch)")
    print(f"  trainer / hand-written throughput: {hand_s / trainer_s:.3f}  (target >= 0.95)")
    print(f"  total wall time {total:.1f} s")


if __name__ == "__main__":
    main()
