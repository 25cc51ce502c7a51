"""The training loop: one run of a :class:`~eigenrnn.train.config.TrainConfig` in its run directory.

A run directory holds ``config.json`` (the resolved config), ``metrics.jsonl``
(one line per epoch), ``checkpoint.pt`` (latest, written atomically at every
epoch end and on Ctrl-C), ``best.pt`` (best validation metric),
``tokenizer.json`` (Multi30k), ``spectra.npz`` (with spectrum tracking) and,
written last, ``summary.json``, whose presence means the run finished.

>>> result = train({"task": "tomita4", "hidden": 8, "epochs": 1, "out": "runs/x"})  # doctest: +SKIP
>>> result.status, result.metric_name  # doctest: +SKIP
('finished', 'accuracy')
"""

from __future__ import annotations

import copy
import json
import math
import os
import random
import signal
import sys
import threading
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import numpy as np
import torch
from torch import Tensor, nn

from eigenrnn.errors import CheckpointError, EigenRNNError, TrainingDiverged, bad_value
from eigenrnn.io import append_jsonl, atomic_write_json, atomic_write_text, check_output, mark_output, sweep_stale_tmp
from eigenrnn.tasks import get_task
from eigenrnn.tasks.registry import TaskData
from eigenrnn.train.build import ModelSpec, build_model, seeds
from eigenrnn.train.callbacks import CallbackList
from eigenrnn.train.checkpoint import (
    read_payload,
    rng_state,
    save_checkpoint,
    set_rng_state,
    tokenizer_from_text,
    tokenizer_to_text,
)
from eigenrnn.train.config import RESUMABLE_CHANGES, TrainConfig
from eigenrnn.train.objective import Objective

#: Divergence rule (docs/TRAINING.md, "Divergence"): a run has diverged when a loss is NaN or
#: infinite, when an epoch's training or validation loss exceeds DIVERGED_LOSS_RATIO times
#: max(loss of the first training batch, 1), or when a weight's magnitude exceeds DIVERGED_WEIGHT.
DIVERGED_LOSS_RATIO = 1e3
DIVERGED_WEIGHT = 1e6

#: Files a run writes through eigenrnn.io.atomic_path; their temporary files are swept on the next start.
RUN_FILES = ("checkpoint.pt", "best.pt", "config.json", "metrics.jsonl", "summary.json", "tokenizer.json", "spectra.npz")

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

    @classmethod
    def from_run_dir(cls, run_dir: str | os.PathLike) -> "TrainResult":
        """Read a finished run's ``summary.json`` (and ``metrics.jsonl``)."""
        run_dir = Path(run_dir)
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        return cls(run_dir=run_dir, history=_read_history(run_dir / "metrics.jsonl"), **{k: summary[k] for k in SUMMARY_KEYS})


def train(
    config: TrainConfig | Mapping[str, Any],
    *,
    callbacks: Iterable[Any] = (),
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train one run and return its result (see :class:`Trainer`).

    Args:
        config: a :class:`TrainConfig` or its dict form.
        callbacks: objects with any of the hooks of :mod:`eigenrnn.train.callbacks`.
        resume: continue from ``<out>/checkpoint.pt`` (same config, except
            :data:`~eigenrnn.train.config.RESUMABLE_CHANGES` such as ``epochs``).
        progress: show tqdm progress bars (only on a terminal) and epoch lines on stderr.

    Raises:
        TrainingDiverged: the loss became NaN or infinite (``summary.json`` then
            says ``"status": "diverged"`` and ``checkpoint.pt`` holds the last
            good epoch).
        KeyboardInterrupt: after saving a resumable ``checkpoint.pt``.
    """
    return Trainer(config, callbacks=callbacks, progress=progress).fit(resume=resume)


class _Diverged(Exception):
    pass


@dataclass
class _EpochState:
    """Position inside the current epoch, saved so a run interrupted mid-epoch resumes exactly."""

    perm: Tensor
    batch: int
    sums: Tensor
    elapsed: float = 0.0


class Trainer:
    """Runs the training loop of one config; exposes ``model``, ``config``, ``run_dir``, ``step``, ``epoch``.

    The config is resolved on construction; data, model and optimizer are
    built by :meth:`fit`.  Python, NumPy and PyTorch are seeded once from
    ``config.seed``; the initial weights and the data order come from their
    own generators derived from it, so a CPU run is reproducible bit for bit,
    also across a resume.
    """

    def __init__(self, config: TrainConfig | Mapping[str, Any], *, callbacks: Iterable[Any] = (), progress: bool = True) -> None:
        if isinstance(config, Mapping):
            config = TrainConfig.from_dict(config)
        if not isinstance(config, TrainConfig):
            raise TypeError(bad_value("config", type(config).__name__, "a TrainConfig or a dict"))
        self.config = config.resolve()
        options = dict(self.config.task_options)
        if self.config.task == "multi30k":
            options["vocab_size"] = self.config.vocab_size
        self.task = get_task(self.config.task, **options)
        self.run_dir = Path(self.config.out)
        self.callbacks = CallbackList(callbacks)
        self.progress = progress
        self.device = torch.device(self.config.device)
        self.step = 0
        self.epoch = 0
        self.model: nn.Module | None = None
        self.data: TaskData | None = None
        self._interrupt = False
        self._consistent = True

    # ------------------------------------------------------------------ setup

    def _prepare_run_dir(self, resume: bool) -> dict[str, Any] | None:
        ckpt_path = self.run_dir / "checkpoint.pt"
        # Only a run directory (marked, or an older one holding a run's files) or a new/empty one.
        check_output(self.run_dir, "train", argument="out", mode="resume", legacy=("checkpoint.pt", "summary.json"))
        if not resume:
            for name in ("checkpoint.pt", "summary.json"):
                if (self.run_dir / name).exists():
                    raise EigenRNNError(
                        f"{self.run_dir}: already holds a run ({name}); resume it or choose another output directory"
                    )
            return None
        if not ckpt_path.is_file():
            raise CheckpointError(f"{ckpt_path}: no checkpoint to resume from")
        payload = read_payload(ckpt_path)
        saved = TrainConfig.from_dict(payload["config"])
        differ = [
            name for name in TrainConfig.field_names()
            if name not in RESUMABLE_CHANGES and getattr(saved, name) != getattr(self.config, name)
        ]
        if differ:
            details = ", ".join(f"{n}: {getattr(saved, n)!r} -> {getattr(self.config, n)!r}" for n in differ)
            raise ValueError(f"resume: the config differs from the checkpoint's in {details}")
        if "trainer" not in payload:
            raise CheckpointError(f"{ckpt_path}: holds weights only, not a resumable training state")
        self._check_best_belongs(payload)
        return payload

    def _check_best_belongs(self, payload: dict[str, Any]) -> None:
        """Refuse a ``best.pt`` that another run wrote (another run id, else another config)."""
        best = self.run_dir / "best.pt"
        if payload["trainer"].get("best_epoch") is None or not best.is_file():
            return  # a missing best.pt is reported by _load_state
        theirs = read_payload(best)
        run_id = payload.get("run_id")
        if run_id is not None:
            if theirs.get("run_id") != run_id:
                raise CheckpointError(
                    f"{best}: belongs to another run (run id {theirs.get('run_id')!r}, this run's checkpoint.pt has "
                    f"{run_id!r}); restore this run's own best.pt or start a new --out"
                )
        elif theirs.get("config") != payload["config"]:
            raise CheckpointError(f"{best}: was written with another config than {self.run_dir / 'checkpoint.pt'}; "
                                  "restore this run's own best.pt or start a new --out")

    def _build(self, payload: dict[str, Any] | None) -> None:
        cfg = self.config
        tokenizer = None
        if payload is not None and payload.get("tokenizer"):
            tokenizer = tokenizer_from_text(payload["tokenizer"])
        self.data = self._build_data(tokenizer)
        specials = self.data.specials
        self.spec = ModelSpec(self.data.input_spec, self.data.output_size, self.task.readout, self.task.kind == "seq2seq", specials)
        model_seed, order_seed = seeds(cfg.seed)
        self.model = build_model(cfg, self.spec, torch.Generator().manual_seed(model_seed)).to(self.device)
        self.data_generator = torch.Generator().manual_seed(order_seed)
        self.splits = {name: split.to(self.device) for name, split in self.data.splits.items()}
        self.objective = Objective(self.task, specials.get("pad"))
        self.optimizer = self._make_optimizer()
        self.scheduler = self._make_scheduler()
        self.scaler = torch.amp.GradScaler("cuda") if cfg.amp else None

    def _build_data(self, tokenizer: Any) -> TaskData:
        cfg = self.config
        sizes = dict(train_size=cfg.train_size, val_size=cfg.val_size, test_size=cfg.test_size)
        if tokenizer is not None:  # resuming Multi30k: encode with the saved tokenizer
            sizes["tokenizer"] = tokenizer
        return self.task.build(cfg.data_seed, **sizes)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = self.model.parameters()
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)

    def _make_scheduler(self) -> Any:
        cfg, opt = self.config, self.optimizer
        if cfg.lr_schedule == "cosine":
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs)
        if cfg.lr_schedule == "step":
            return torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_step_size, gamma=cfg.lr_gamma)
        if cfg.lr_schedule == "plateau":
            mode = "max" if self.task.higher_is_better else "min"
            return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=cfg.lr_gamma, patience=cfg.lr_patience)
        return None

    def _seed_everything(self) -> None:
        seed = self.config.seed
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)  # also seeds every CUDA device

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        self.step = 0
        self.epoch = 0
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.best_state: dict[str, Tensor] | None = None
        self.bad_epochs = 0
        self.target_hit: dict[str, int] | None = None
        self.stop_reason: str | None = None
        self.history: list[dict[str, Any]] = []
        self.wall_offset = 0.0
        self.epoch_state: _EpochState | None = None
        self.initial_loss: float | None = None

    def _trainer_state(self) -> dict[str, Any]:
        es = self.epoch_state
        return {
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "target_hit": self.target_hit,
            "stop_reason": self.stop_reason,
            "history": self.history,
            "initial_loss": self.initial_loss,
            "wall_time_s": self._wall(),
            "calibration": self.calibration,
            "epoch_state": None if es is None else {
                "perm": es.perm, "batch": es.batch, "sums": es.sums.cpu(), "elapsed": es.elapsed + time.perf_counter() - self._epoch_t0,
            },
        }

    def _load_state(self, payload: dict[str, Any]) -> None:
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
            if isinstance(self.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
                self.scheduler.T_max = self.config.epochs  # a resume may extend the run
        if self.scaler is not None and payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        set_rng_state(payload["rng"], self.data_generator)
        self.step, self.epoch = int(payload["step"]), int(payload["epoch"])
        t = payload["trainer"]
        self.best_metric, self.best_epoch = t["best_metric"], t["best_epoch"]
        self.bad_epochs, self.target_hit, self.history = t["bad_epochs"], t["target_hit"], list(t["history"])
        self.stop_reason = t["stop_reason"]
        self.initial_loss = t.get("initial_loss")
        self.wall_offset = float(t["wall_time_s"])
        es = t["epoch_state"]
        if es is not None:
            self.epoch_state = _EpochState(es["perm"], int(es["batch"]), es["sums"].to(self.device), float(es["elapsed"]))
        best = self.run_dir / "best.pt"
        if self.best_epoch is not None:
            self.best_state = read_payload(best)["model"] if best.is_file() else None
            if self.best_state is None:
                raise CheckpointError(f"{best}: missing, but {self.run_dir / 'checkpoint.pt'} refers to it")
            own = self.model.state_dict()
            if {k: tuple(v.shape) for k, v in self.best_state.items()} != {k: tuple(v.shape) for k, v in own.items()}:
                raise CheckpointError(f"{best}: its weights do not have the shapes of this run's model; "
                                      "restore this run's own best.pt or start a new --out")

    def _checkpoint_payload(self, full: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "config": self.config.to_dict(),
            "model_spec": self.spec.to_dict(),
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "tokenizer": self._tokenizer_text,
            "run_id": self.run_id,
            "epoch": self.epoch,
            "step": self.step,
        }
        if full:
            payload.update(
                optimizer=self.optimizer.state_dict(),
                scheduler=None if self.scheduler is None else self.scheduler.state_dict(),
                scaler=None if self.scaler is None else self.scaler.state_dict(),
                rng=rng_state(self.data_generator),
                trainer=self._trainer_state(),
            )
        return payload

    def _save_checkpoint(self) -> None:
        save_checkpoint(self._checkpoint_payload(full=True), self.run_dir / "checkpoint.pt")

    def _wall(self) -> float:
        return self.wall_offset + time.perf_counter() - self._t0

    # ------------------------------------------------------------------ loop

    def fit(self, resume: bool = False) -> TrainResult:
        """Train (or resume) the run and write its summary; see :func:`train`."""
        payload = self._prepare_run_dir(resume)
        self._seed_everything()
        self._build(payload)
        self._reset_state()
        self._t0 = self._epoch_t0 = time.perf_counter()
        # Ties checkpoint.pt and best.pt to this run; None for runs written before run ids.
        self.run_id = uuid.uuid4().hex if payload is None else payload.get("run_id")
        if payload is not None:
            self._load_state(payload)
        self.calibration = self._calibration_record(payload)
        mark_output(self.run_dir, "train")
        sweep_stale_tmp(self.run_dir, RUN_FILES)  # left by a kill during an atomic write
        (self.run_dir / "summary.json").unlink(missing_ok=True)
        self._tokenizer_text = None
        if self.data.tokenizer is not None:
            self._tokenizer_text = tokenizer_to_text(self.data.tokenizer)
            atomic_write_text(self.run_dir / "tokenizer.json", self._tokenizer_text)
        atomic_write_json(self.run_dir / "config.json", self.config.to_dict())
        self._rewrite_metrics()
        if self.config.track_spectrum_every > 0:
            self._attach_spectrum_tracker()
        self.callbacks.on_train_start(self)
        try:
            with self._sigint_guard():
                while self.epoch < self.config.epochs and self.stop_reason is None:
                    self._run_epoch()
        except _Diverged as exc:
            self._write_summary(self._result(status="diverged", test=None, generalisation=None))
            raise TrainingDiverged(str(exc)) from None
        except KeyboardInterrupt:
            if self._consistent:
                self._save_checkpoint()
                self._say(f"interrupted; resumable checkpoint saved to {self.run_dir / 'checkpoint.pt'}")
            raise
        test, generalisation = self._final_evaluation()
        result = self._result(status="finished", test=test, generalisation=generalisation)
        self.callbacks.on_train_end(self)
        self._write_summary(result)
        return result

    def _calibration_record(self, payload: dict[str, Any] | None) -> dict[str, Any] | None:
        """Calibrate at a fresh start (``config.calibrate``); on resume, the record the checkpoint kept."""
        if self.config.calibrate is None:
            return None
        if payload is not None:
            return payload["trainer"].get("calibration")
        from eigenrnn.calibration import calibrate_on_split

        record = calibrate_on_split(self.model, self.splits["train"], self.config.calibrate)
        self._say(f"calibrated {record['quantity']} -> {record['target']}: achieved {record['achieved']}, "
                  f"scales {record['scales']}, {record['evaluations']} evaluations, converged {record['converged']}")
        return record

    def _attach_spectrum_tracker(self) -> None:
        try:
            from eigenrnn.analysis import SpectrumTracker
        except ImportError as exc:  # pragma: no cover - depends on the analysis package being present
            raise EigenRNNError(f"track_spectrum_every needs eigenrnn.analysis.SpectrumTracker ({exc})") from None
        self.callbacks.append(SpectrumTracker(self.model, every=self.config.track_spectrum_every))

    @contextmanager
    def _sigint_guard(self) -> Iterator[None]:
        """First Ctrl-C: finish the current step, checkpoint, raise KeyboardInterrupt.  Second: raise at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum, frame):
            self._interrupt = True
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)
            self._interrupt = False

    def _show_bar(self) -> bool:
        return self.progress and sys.stderr.isatty()

    def _say(self, message: str) -> None:
        if self.progress:
            from tqdm import tqdm

            tqdm.write(message, file=sys.stderr)

    def _autocast(self):
        if self.config.amp:
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return nullcontext()

    def _train_step(self, index: Tensor) -> Tensor:
        batch = self.splits["train"].batch(index)
        with self._autocast():
            loss, stats = self.objective.loss_and_stats(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        clip = self.config.clip
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
        return stats

    def _run_epoch(self) -> None:
        from tqdm import tqdm

        cfg = self.config
        train = self.splits["train"]
        n = len(train)
        if self.epoch_state is None:
            perm = torch.randperm(n, generator=self.data_generator)
            self.epoch_state = _EpochState(perm, 0, torch.zeros(4, dtype=torch.float32, device=self.device))
        es = self.epoch_state
        self._epoch_t0 = time.perf_counter()
        batches = math.ceil(n / cfg.batch_size)
        perm = es.perm.to(self.device)
        # On CPU reading the running loss costs nothing; on CUDA it synchronizes, so check less often.
        check_every = 1 if self.device.type == "cpu" else cfg.log_every
        self.model.train()
        bar = tqdm(
            total=batches, initial=es.batch, desc=f"epoch {self.epoch + 1}/{cfg.epochs}", unit="batch",
            disable=not self._show_bar(), leave=False, dynamic_ncols=True, file=sys.stderr,
        )
        with bar:
            for b in range(es.batch, batches):
                self._consistent = False
                stats = self._train_step(perm[b * cfg.batch_size : (b + 1) * cfg.batch_size])
                if self.initial_loss is None:
                    self.initial_loss = float(stats[0] / max(float(stats[1]), 1.0))
                es.sums += stats
                es.batch = b + 1
                self.step += 1
                self._consistent = True
                if self.step % check_every == 0:
                    self._check_finite(es.sums)
                self.callbacks.on_step_end(self, self.step)
                if cfg.eval_every and self.step % cfg.eval_every == 0:
                    self._check_target_midway()
                if self._interrupt:
                    raise KeyboardInterrupt
                if self.stop_reason is not None:
                    break  # target reached mid-epoch with stop_at_target
                if self.step % cfg.log_every == 0 or b + 1 == batches:
                    bar.update(b + 1 - bar.n)
                    if not bar.disable:
                        bar.set_postfix(self._running(es.sums), refresh=False)
        self._check_finite(es.sums)
        self._end_epoch()

    def _running(self, sums: Tensor) -> dict[str, str]:
        loss_sum, loss_n, metric_sum, metric_n = sums.tolist()
        shown = {"loss": f"{loss_sum / max(loss_n, 1):.4g}"}
        if metric_n:
            shown[self.task.metric] = f"{metric_sum / metric_n:.4g}"
        return shown

    def _check_finite(self, sums: Tensor) -> None:
        # The running loss sum is finite exactly when every step's loss was.
        if not bool(torch.isfinite(sums[0])):
            self._raise_diverged(float(sums[0]))

    def _check_blow_up(self, train_loss: float, val_loss: float) -> None:
        """The divergence rule beyond NaN (see DIVERGED_LOSS_RATIO, DIVERGED_WEIGHT)."""
        with torch.no_grad():
            largest = max((float(p.detach().abs().max()) for p in self.model.parameters() if p.numel()), default=0.0)
        if not largest <= DIVERGED_WEIGHT:
            self._raise_diverged(largest, f"a weight reached magnitude {largest:.4g}, over {DIVERGED_WEIGHT:g}")
        if self.initial_loss is not None and math.isfinite(self.initial_loss):
            limit = DIVERGED_LOSS_RATIO * max(self.initial_loss, 1.0)
            for name, value in (("training", train_loss), ("validation", val_loss)):
                if value > limit:
                    self._raise_diverged(value, f"the {name} loss became {value:.4g}, over {DIVERGED_LOSS_RATIO:g} x "
                                                f"max(initial loss {self.initial_loss:.4g}, 1)")

    def _raise_diverged(self, value: float, what: str | None = None) -> None:
        raise _Diverged(
            f"training diverged: {what or f'the loss became {value}'} in epoch {self.epoch + 1} (step {self.step}) "
            f"with {self.config.optimizer} lr={self.config.lr}; "
            + (
                f"the last good checkpoint is kept at {checkpoint}"
                if (checkpoint := self.run_dir / "checkpoint.pt").is_file()
                else "no epoch had finished, so there is no checkpoint"
            )
            + "; to retry with a lower --lr or stronger clipping, use a new --out"
        )

    @torch.no_grad()
    def evaluate(self, split: str, model: nn.Module | None = None, *, beam_size: int = 1) -> tuple[float, float | None]:
        """Mean loss and metric of ``model`` (default: the trained one) on ``split``.

        For seq2seq the metric is BLEU of decoded output (greedy unless ``beam_size > 1``).
        """
        model = self.model if model is None else model
        data = self.splits[split]
        was_training = model.training
        model.eval()
        sums = torch.zeros(4, dtype=torch.float32, device=self.device)
        bs = self.config.eval_batch_size
        with self._autocast():
            for start in range(0, len(data), bs):
                batch = data.batch(torch.arange(start, min(start + bs, len(data)), device=self.device))
                sums += self.objective.stats(self.objective.outputs(model, batch), batch)[0]
            loss_sum, loss_n, metric_sum, metric_n = sums.tolist()
            if self.task.kind == "seq2seq":
                metric = self.objective.bleu(
                    model, data, self.data.tokenizer, bs, beam_size, self.task.options["max_len"]
                )
            else:
                metric = metric_sum / metric_n if metric_n else None
        model.train(was_training)
        return loss_sum / max(loss_n, 1), metric

    def _target_metric(self, record: Mapping[str, Any]) -> float | None:
        return record["train_metric"] if self.task.target_split == "train" else record["val_metric"]

    def _target_value(self) -> float:
        return self.task.target if self.config.target is None else self.config.target

    def _reached(self, value: float | None) -> bool:
        if value is None or not math.isfinite(value):
            return False
        target = self._target_value()
        return value >= target if self.task.higher_is_better else value <= target

    def _check_target_midway(self) -> None:
        if self.target_hit is not None:
            return
        _, value = self.evaluate(self.task.target_split)
        if self._reached(value):
            self.target_hit = {"epoch": self.epoch + 1, "step": self.step}
            if self.config.stop_at_target:
                self.stop_reason = "target"

    def _end_epoch(self) -> None:
        cfg, es = self.config, self.epoch_state
        loss_sum, loss_n, metric_sum, metric_n = es.sums.tolist()
        running_metric = metric_sum / metric_n if metric_n else None
        train_metric = self.evaluate("train")[1] if self.task.target_split == "train" else running_metric
        val_loss, val_metric = self.evaluate("val")
        if not math.isfinite(val_loss):
            self._raise_diverged(val_loss)
        self._check_blow_up(loss_sum / max(loss_n, 1), val_loss)
        epoch = self.epoch + 1
        record = {
            "epoch": epoch,
            "step": self.step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": loss_sum / max(loss_n, 1),
            "train_metric": train_metric,
            "val_loss": val_loss,
            "val_metric": val_metric,
            "metric": self.task.metric,
            "time_s": es.elapsed + time.perf_counter() - self._epoch_t0,
        }
        improved = self.best_metric is None or (
            val_metric > self.best_metric if self.task.higher_is_better else val_metric < self.best_metric
        )
        # From here to the epoch count the state is half-updated: a (second)
        # Ctrl-C must not checkpoint it.
        self._consistent = False
        if improved:
            self.best_metric, self.best_epoch, self.bad_epochs = val_metric, epoch, 0
            self.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        else:
            self.bad_epochs += 1
        if self.target_hit is None and self._reached(self._target_metric(record)):
            self.target_hit = {"epoch": epoch, "step": self.step}
        if self.scheduler is not None:
            if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                self.scheduler.step(val_metric)
            else:
                self.scheduler.step()
        if cfg.stop_at_target and self.target_hit is not None:
            self.stop_reason = "target"
        elif cfg.early_stopping_patience and self.bad_epochs >= cfg.early_stopping_patience:
            self.stop_reason = "early_stopping"
        self.epoch = epoch
        self.epoch_state = None
        self.history.append(record)
        self._consistent = True
        append_jsonl(self.run_dir / "metrics.jsonl", record)
        if improved:
            best = self._checkpoint_payload(full=False)
            best["model"] = self.best_state
            save_checkpoint(best, self.run_dir / "best.pt")
        self._save_checkpoint()
        self._say(self._epoch_line(record))
        self.callbacks.on_epoch_end(self, epoch, record)
        if self._interrupt:
            raise KeyboardInterrupt

    def _epoch_line(self, r: Mapping[str, Any]) -> str:
        fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
        return (
            f"epoch {r['epoch']}/{self.config.epochs}  step {r['step']}  train_loss {fmt(r['train_loss'])}  "
            f"train_{r['metric']} {fmt(r['train_metric'])}  val_loss {fmt(r['val_loss'])}  val_{r['metric']} {fmt(r['val_metric'])}"
        )

    def _rewrite_metrics(self) -> None:
        """Keep exactly the lines of the epochs in the checkpoint (a crash may have left one more)."""
        path = self.run_dir / "metrics.jsonl"
        lines = "".join(json.dumps(r, sort_keys=True, default=float) + "\n" for r in self.history)
        atomic_write_text(path, lines)

    # ------------------------------------------------------------------ end

    def _final_evaluation(self) -> tuple[float | None, float | None]:
        if self.best_state is None:
            return None, None
        best = copy.deepcopy(self.model)
        best.load_state_dict(self.best_state)
        beam = self.config.beam_size or 1
        _, test = self.evaluate("test", best, beam_size=beam)
        generalisation = self.evaluate("generalisation", best)[1] if "generalisation" in self.splits else None
        return test, generalisation

    def _result(self, *, status: str, test: float | None, generalisation: float | None) -> TrainResult:
        best_record = self.history[self.best_epoch - 1] if self.best_epoch else None
        hit = self.target_hit
        device = str(self.device)
        if self.device.type == "cuda":
            device = f"cuda ({torch.cuda.get_device_name(self.device)})"
        return TrainResult(
            run_dir=self.run_dir,
            task=self.config.task,
            cell=self.config.cell,
            init=self.config.init,
            seed=self.config.seed,
            status=status,
            metric_name=self.task.metric,
            higher_is_better=self.task.higher_is_better,
            test_metric=test,
            best_val_metric=self.best_metric,
            generalisation_metric=generalisation,
            train_metric=None if best_record is None else best_record["train_metric"],
            target={"metric": self.task.metric, "value": self._target_value(), "split": self.task.target_split},
            epochs_to_target=None if hit is None else hit["epoch"],
            steps_to_target=None if hit is None else hit["step"],
            epochs=self.epoch,
            steps=self.step,
            wall_time_s=round(self._wall(), 3),
            diverged=status == "diverged",
            device=device,
            stop_reason="diverged" if status == "diverged" else (self.stop_reason or "epochs"),
            best_epoch=self.best_epoch,
            history=list(self.history),
        )

    def _write_summary(self, result: TrainResult) -> None:
        summary = result.summary()
        if self.calibration is not None:
            summary["calibration"] = self.calibration
        atomic_write_json(self.run_dir / "summary.json", summary)


def _read_history(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
