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

import math
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import torch
from torch import Tensor, nn

from eigenrnn.errors import TrainingDiverged, bad_value
from eigenrnn.io import (
    append_jsonl, atomic_write_json, atomic_write_text, directory_lock, mark_output, sweep_stale_tmp,
)
from eigenrnn.train.callbacks import CallbackList
from eigenrnn.train.config import TrainConfig
from eigenrnn.train.evaluate import autocast, evaluate, final_evaluation
from eigenrnn.train.result import SUMMARY_KEYS, TrainResult, result_of  # noqa: F401  (SUMMARY_KEYS: public here too)
from eigenrnn.train.setup import Setup, setup
from eigenrnn.train.state import (
    RUN_FILES,
    EpochState,
    RunState,
    check_run_dir,
    load_state,
    prepare_run_dir,
    rewrite_metrics,
    save_best,
    save_run,
)

#: Divergence rule (docs/TRAINING.md, "Divergence"): a run has diverged when a loss is NaN or
#: infinite, when an epoch's training or validation loss exceeds DIVERGED_LOSS_RATIO times
#: max(loss of the first training batch, 1), or when a weight's magnitude exceeds DIVERGED_WEIGHT.
DIVERGED_LOSS_RATIO = 1e3
DIVERGED_WEIGHT = 1e6

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


class Trainer:
    """Runs the training loop of one config; exposes ``model``, ``config``, ``run_dir``, ``step``, ``epoch``.

    The config is resolved (and its task built) on construction; :meth:`fit`
    checks the run directory, builds the run's :class:`~eigenrnn.train.setup.Setup`
    and its :class:`~eigenrnn.train.state.RunState`, and runs the epochs.
    Python, NumPy and PyTorch are seeded once from ``config.seed``; the initial
    weights and the data order come from their own generators derived from it,
    so a CPU run is reproducible bit for bit, also across a resume.
    """

    def __init__(self, config: TrainConfig | Mapping[str, Any], *, callbacks: Iterable[Any] = (), progress: bool = True) -> None:
        if isinstance(config, Mapping):
            config = TrainConfig.from_dict(config)
        if not isinstance(config, TrainConfig):
            raise TypeError(bad_value("config", type(config).__name__, "a TrainConfig or a dict"))
        self.config, self.task = config.resolve_with_task()
        self.run_dir = Path(self.config.out)
        self.callbacks = CallbackList(callbacks)
        self.progress = progress
        self.device = torch.device(self.config.device)
        self.setup: Setup | None = None
        self.state = RunState(run_id=None)
        # The pre-clipping gradient norm of the last step, for callbacks (None without clipping: nothing measured it).
        self.grad_norm: Tensor | None = None
        self._interrupt = False
        self._consistent = True

    # The callback protocol: what callbacks read (and the fakes of the tests set).
    step = property(lambda self: self.state.step, lambda self, v: setattr(self.state, "step", v))
    epoch = property(lambda self: self.state.epoch, lambda self, v: setattr(self.state, "epoch", v))
    model = property(lambda self: None if self.setup is None else self.setup.model)
    data = property(lambda self: None if self.setup is None else self.setup.data)
    spec = property(lambda self: self.setup.spec)
    splits = property(lambda self: self.setup.splits)
    optimizer = property(lambda self: self.setup.optimizer)

    # ------------------------------------------------------------------ run

    def fit(self, resume: bool = False) -> TrainResult:
        """Train (or resume) the run and write its summary; see :func:`train`.

        The run directory is locked for the whole run (``.eigenrnn-lock``), so a
        second process given the same ``out`` is refused instead of interleaving
        its writes with this one's.
        """
        check_run_dir(self.run_dir)  # before the lock creates anything
        with directory_lock(self.run_dir, argument="out"):
            return self._fit(resume)

    def _fit(self, resume: bool) -> TrainResult:
        payload = prepare_run_dir(self.run_dir, self.config, resume)
        self.setup = setup(self.config, self.task, payload)
        self.state = RunState.start(payload)
        if payload is not None:
            load_state(self.run_dir, self.config, self.setup, self.state, payload)
        self.state.calibration = self._calibration_record(payload)
        self._write_run_files()
        if self.config.track_spectrum_every > 0:
            from eigenrnn.analysis import SpectrumTracker

            self.callbacks.append(SpectrumTracker(self.model, every=self.config.track_spectrum_every))
        self.callbacks.on_train_start(self)
        try:
            with self._sigint_guard():
                while self.epoch < self.config.epochs and self.state.stop_reason is None:
                    self._run_epoch()
        except _Diverged as exc:
            self._write_summary(self._result(status="diverged", test=None, generalisation=None))
            raise TrainingDiverged(str(exc)) from None
        except KeyboardInterrupt:
            if self._consistent:
                save_run(self.run_dir, self.config, self.setup, self.state)
                self._say(f"interrupted; resumable checkpoint saved to {self.run_dir / 'checkpoint.pt'}")
            raise
        test, generalisation = final_evaluation(
            self.setup, self.config, self.state.best_state, progress=self._show_bar(), say=self._say
        )
        result = self._result(status="finished", test=test, generalisation=generalisation)
        self.callbacks.on_train_end(self)
        self._write_summary(result)
        return result

    def _write_run_files(self) -> None:
        """Mark the run directory, sweep what a kill left, and write what a (re)start knows."""
        mark_output(self.run_dir, "train")
        sweep_stale_tmp(self.run_dir, RUN_FILES)  # left by a kill during an atomic write
        (self.run_dir / "summary.json").unlink(missing_ok=True)
        if self.setup.tokenizer_text is not None:
            atomic_write_text(self.run_dir / "tokenizer.json", self.setup.tokenizer_text)
        atomic_write_json(self.run_dir / "config.json", self.config.to_dict())
        rewrite_metrics(self.run_dir, self.state.history)

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

    # ------------------------------------------------------------------ loop

    def _train_step(self, index: Tensor) -> Tensor:
        s = self.setup
        batch = s.splits["train"].batch(index)
        with autocast(self.config):
            loss, stats = s.objective.loss_and_stats(s.model, batch)
        s.optimizer.zero_grad(set_to_none=True)
        clip = self.config.clip
        self.grad_norm = None
        if s.scaler is not None:
            s.scaler.scale(loss).backward()
            if clip is not None:
                s.scaler.unscale_(s.optimizer)
                self.grad_norm = nn.utils.clip_grad_norm_(s.model.parameters(), clip)
            s.scaler.step(s.optimizer)
            s.scaler.update()
        else:
            loss.backward()
            if clip is not None:
                self.grad_norm = nn.utils.clip_grad_norm_(s.model.parameters(), clip)
            s.optimizer.step()
        return stats

    def _run_epoch(self) -> None:
        from tqdm import tqdm

        cfg, st = self.config, self.state
        n = len(self.splits["train"])
        if st.epoch_state is None:
            perm = torch.randperm(n, generator=self.setup.data_generator)
            st.epoch_state = EpochState(perm, 0, torch.zeros(4, dtype=torch.float32, device=self.device))
        es = st.epoch_state
        st.epoch_t0 = time.perf_counter()
        batches = math.ceil(n / cfg.batch_size)
        perm = es.perm.to(self.device)
        # On CPU reading the running loss costs nothing; on CUDA it synchronizes, so check less often.
        check_every = 1 if self.device.type == "cpu" else cfg.log_every
        self.model.train()
        bar = tqdm(
            total=batches, initial=es.batch, desc=f"epoch {st.epoch + 1}/{cfg.epochs}", unit="batch",
            disable=not self._show_bar(), leave=False, dynamic_ncols=True, file=sys.stderr,
        )
        with bar:
            for b in range(es.batch, batches):
                self._consistent = False
                stats = self._train_step(perm[b * cfg.batch_size : (b + 1) * cfg.batch_size])
                if st.initial_loss is None:
                    st.initial_loss = float(stats[0] / max(float(stats[1]), 1.0))
                es.sums += stats
                es.batch = b + 1
                st.step += 1
                self._consistent = True
                if st.step % check_every == 0:
                    self._check_finite(es.sums)
                self.callbacks.on_step_end(self, st.step)
                if cfg.eval_every and st.step % cfg.eval_every == 0:
                    self._check_target_midway()
                if self._interrupt:
                    raise KeyboardInterrupt
                if st.stop_reason is not None:
                    break  # target reached mid-epoch with stop_at_target
                if st.step % cfg.log_every == 0 or b + 1 == batches:
                    bar.update(b + 1 - bar.n)
                    if not bar.disable:
                        bar.set_postfix({**self._running(es.sums), "run_eta": self._run_eta((b + 1) / batches)},
                                        refresh=False)
        self._check_finite(es.sums)
        self._end_epoch()

    def _run_eta(self, epoch_fraction: float) -> str:
        """Time left for the whole run (all epochs; early stopping may end it sooner), as h:mm:ss.

        Epochs take about as long as the finished ones did (training and
        evaluation); before the first one ends, the current epoch's pace stands in.
        """
        st = self.state
        if st.history:
            per_epoch = sum(r["time_s"] for r in st.history) / len(st.history)
        elif epoch_fraction > 0 and st.epoch_state is not None:
            per_epoch = st.epoch_elapsed() / epoch_fraction
        else:
            return "?"
        return _interval(max(0.0, per_epoch * (self.config.epochs - st.epoch - epoch_fraction)))

    def _running(self, sums: Tensor) -> dict[str, str]:
        loss_sum, loss_n, metric_sum, metric_n = sums.tolist()
        shown = {"loss": f"{loss_sum / max(loss_n, 1):.4g}"}
        if metric_n:
            shown[self.task.metric] = f"{metric_sum / metric_n:.4g}"
        return shown

    # ------------------------------------------------------------------ divergence

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
        initial = self.state.initial_loss
        if initial is not None and math.isfinite(initial):
            limit = DIVERGED_LOSS_RATIO * max(initial, 1.0)
            for name, value in (("training", train_loss), ("validation", val_loss)):
                if value > limit:
                    self._raise_diverged(value, f"the {name} loss became {value:.4g}, over {DIVERGED_LOSS_RATIO:g} x "
                                                f"max(initial loss {initial:.4g}, 1)")

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

    # ------------------------------------------------------------------ evaluation and targets

    def evaluate(self, split: str, model: nn.Module | None = None, *, beam_size: int = 1) -> tuple[float, float | None]:
        """Mean loss and metric of ``model`` (default: the trained one) on ``split``; see :func:`~eigenrnn.train.evaluate.evaluate`."""
        return evaluate(self.setup, self.config, split, model, beam_size=beam_size, progress=self._show_bar())

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
        if self.state.target_hit is not None:
            return
        _, value = self.evaluate(self.task.target_split)
        if self._reached(value):
            self.state.target_hit = {"epoch": self.epoch + 1, "step": self.step}
            if self.config.stop_at_target:
                self.state.stop_reason = "target"

    # ------------------------------------------------------------------ epoch end

    def _epoch_record(self) -> dict[str, Any]:
        """Evaluate the epoch that just ended (raising on divergence) and return its metrics.jsonl line."""
        st = self.state
        loss_sum, loss_n, metric_sum, metric_n = st.epoch_state.sums.tolist()
        running_metric = metric_sum / metric_n if metric_n else None
        train_metric = self.evaluate("train")[1] if self.task.target_split == "train" else running_metric
        val_loss, val_metric = self.evaluate("val")
        if not math.isfinite(val_loss):
            self._raise_diverged(val_loss)
        self._check_blow_up(loss_sum / max(loss_n, 1), val_loss)
        return {
            "epoch": st.epoch + 1,
            "step": st.step,
            "lr": self.optimizer.param_groups[0]["lr"],
            "train_loss": loss_sum / max(loss_n, 1),
            "train_metric": train_metric,
            "val_loss": val_loss,
            "val_metric": val_metric,
            "metric": self.task.metric,
            "time_s": st.epoch_elapsed(),
        }

    def _end_epoch(self) -> None:
        cfg, st, scheduler = self.config, self.state, self.setup.scheduler
        record = self._epoch_record()
        epoch, val_metric = record["epoch"], record["val_metric"]
        improved = st.best_metric is None or (
            val_metric > st.best_metric if self.task.higher_is_better else val_metric < st.best_metric
        )
        # From here to the epoch count the state is half-updated: a (second)
        # Ctrl-C must not checkpoint it.
        self._consistent = False
        if improved:
            st.best_metric, st.best_epoch, st.bad_epochs = val_metric, epoch, 0
            st.best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        else:
            st.bad_epochs += 1
        if st.target_hit is None and self._reached(self._target_metric(record)):
            st.target_hit = {"epoch": epoch, "step": st.step}
        if scheduler is not None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(val_metric)
            else:
                scheduler.step()
        if cfg.stop_at_target and st.target_hit is not None:
            st.stop_reason = "target"
        elif cfg.early_stopping_patience and st.bad_epochs >= cfg.early_stopping_patience:
            st.stop_reason = "early_stopping"
        st.epoch = epoch
        st.epoch_state = None
        st.history.append(record)
        self._consistent = True
        append_jsonl(self.run_dir / "metrics.jsonl", record)
        if improved:
            save_best(self.run_dir, cfg, self.setup, st)
        save_run(self.run_dir, cfg, self.setup, st)
        self._say(self._epoch_line(record))
        self.callbacks.on_epoch_end(self, epoch, record)
        if self._interrupt:
            raise KeyboardInterrupt

    def _epoch_line(self, r: Mapping[str, Any]) -> str:
        fmt = lambda v: "-" if v is None else f"{v:.4g}"  # noqa: E731
        return (
            f"epoch {r['epoch']}/{self.config.epochs}  step {r['step']}  train_loss {fmt(r['train_loss'])}  "
            f"train_{r['metric']} {fmt(r['train_metric'])}  val_loss {fmt(r['val_loss'])}  val_{r['metric']} {fmt(r['val_metric'])}"
            f"  elapsed {_interval(self.state.wall())}  run ETA {self._run_eta(0.0) if self.state.stop_reason is None else '00:00'}"
        )

    # ------------------------------------------------------------------ end

    def _result(self, *, status: str, test: float | None, generalisation: float | None) -> TrainResult:
        return result_of(self.config, self.task, self.state, self.run_dir, self.device,
                         status=status, test=test, generalisation=generalisation)

    def _write_summary(self, result: TrainResult) -> None:
        summary = result.summary()
        if self.state.calibration is not None:
            summary["calibration"] = self.state.calibration
        atomic_write_json(self.run_dir / "summary.json", summary)


def _interval(seconds: float) -> str:
    from tqdm import tqdm

    return tqdm.format_interval(seconds)
