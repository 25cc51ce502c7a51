"""Live training curves and recurrent spectra in TensorBoard.

:class:`TensorBoardLogger` is a trainer callback (:mod:`eigenrnn.train.callbacks`)
writing with :class:`torch.utils.tensorboard.SummaryWriter`.  Scalars, against the
optimizer step:

* ``loss/train``, ``loss/val``, ``metric/train``, ``metric/val`` once per epoch
  (the metric is the task's, e.g. accuracy or MSE, named in the text ``metric``),
* ``optim/lr`` once per epoch, and ``optim/grad_norm`` -- the global 2-norm of
  the gradient before clipping, :math:`\\lVert g \\rVert_2 = (\\sum_p \\lVert
  \\nabla_p L \\rVert_2^2)^{1/2}` -- every ``log_every`` steps.

With spectrum tracking on (``--track-spectrum N``, an
:class:`eigenrnn.analysis.SpectrumTracker` in the callbacks) every snapshot of
every recurrent block also becomes ``spectrum/<block>/radius`` (the spectral
radius :math:`\\max_i |\\lambda_i|`) and the histogram ``spectrum/<block>/modulus``
of :math:`|\\lambda_i|`, so the distributions tab shows the spectrum move.

A resumed run reopens its log with ``purge_step`` just after the checkpoint's
step, so events the interrupted attempt wrote after it are dropped, not doubled.

>>> from eigenrnn.train import TrainConfig, train                  # doctest: +SKIP
>>> train(TrainConfig(task="adding"), callbacks=[TensorBoardLogger("tb/adding")])  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from eigenrnn.errors import EigenRNNError, bad_value, check_int

TENSORBOARD_MISSING = 'TensorBoard logging needs tensorboard: pip install -e ".[tensorboard]" (or pip install "tensorboard>=2.12")'


def check_logdir(logdir: str | os.PathLike, argument: str = "--tensorboard") -> Path:
    """Check, before any work, that ``logdir`` can be a TensorBoard directory; return it as a Path.

    An existing directory is fine (event files accumulate there, one log per
    run); ``''``, a regular file and a path under a regular file are refused,
    so that no run directory is created for a log that cannot be written.
    Nothing is created here.

    Raises:
        EigenRNNError: one line naming ``argument`` and the path.

    >>> check_logdir("")
    Traceback (most recent call last):
    ...
    eigenrnn.errors.EigenRNNError: --tensorboard: got ''; expected a directory name
    """
    text = os.fspath(logdir)
    if not text.strip():
        raise EigenRNNError(bad_value(argument, text, "a directory name"))
    path = Path(os.path.abspath(text))
    for parent in reversed(path.parents):
        if parent.exists() and not parent.is_dir():
            raise EigenRNNError(bad_value(argument, text, f"a directory; {parent} is not a directory"))
    if path.exists() and not path.is_dir():
        raise EigenRNNError(bad_value(argument, text, "a directory; it exists and is not a directory"))
    return Path(text)


def require_tensorboard() -> type:
    """``torch.utils.tensorboard.SummaryWriter``; :class:`EigenRNNError` with the install line if tensorboard is absent."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise EigenRNNError(TENSORBOARD_MISSING) from None
    return SummaryWriter


class TensorBoardLogger:
    """Trainer callback writing losses, metrics, learning rate, gradient norm and spectra to ``logdir``.

    Args:
        logdir: the run's TensorBoard directory (created; event files accumulate there).
        log_every: steps between ``optim/grad_norm`` points (default: the
            run's ``log_every``); each point reads the norm off the device once.
    """

    def __init__(self, logdir: str | os.PathLike, *, log_every: int | None = None) -> None:
        if log_every is not None:
            check_int("log_every", log_every, allowed="a positive int or None")
        self.logdir = check_logdir(logdir, "logdir")
        self.log_every = log_every
        self.writer = None
        self._tracker = None
        self._logged_step = -1

    def on_train_start(self, trainer: Any) -> None:
        from eigenrnn.analysis import SpectrumTracker

        writer_cls = require_tensorboard()
        step = int(trainer.step)
        # Everything up to the checkpoint's step was logged before it was saved.
        self.writer = writer_cls(str(self.logdir), purge_step=step + 1 if step > 0 else None)
        self._every = self.log_every or trainer.config.log_every
        self._tracker = next((cb for cb in trainer.callbacks.callbacks if isinstance(cb, SpectrumTracker)), None)
        self._logged_step = step if step > 0 else -1
        if trainer.step == 0:
            self.writer.add_text("metric", str(trainer.task.metric), 0)

    def on_step_end(self, trainer: Any, step: int) -> None:
        if step % self._every == 0:
            norm = grad_norm(trainer)
            if norm is not None:
                self.writer.add_scalar("optim/grad_norm", norm, step)

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        step = metrics["step"]
        for tag, key in (("loss/train", "train_loss"), ("loss/val", "val_loss"),
                         ("metric/train", "train_metric"), ("metric/val", "val_metric"), ("optim/lr", "lr")):
            if metrics.get(key) is not None:
                self.writer.add_scalar(tag, float(metrics[key]), step)
        self._write_spectra()
        self.writer.flush()

    def on_train_end(self, trainer: Any) -> None:
        self._write_spectra()
        self.writer.close()

    def _write_spectra(self) -> None:
        """Write the tracker's snapshots taken since the last call."""
        if self._tracker is None:
            return
        steps, spectra = self._tracker.spectra()
        for i in np.nonzero(steps > self._logged_step)[0]:
            for block, values in spectra.items():
                moduli = np.abs(values[i]).astype(np.float64)
                moduli = moduli[np.isfinite(moduli)]
                if moduli.size:
                    self.writer.add_histogram(f"spectrum/{block}/modulus", moduli, int(steps[i]))
                    self.writer.add_scalar(f"spectrum/{block}/radius", float(moduli.max()), int(steps[i]))
        if steps.size:
            self._logged_step = max(self._logged_step, int(steps.max()))


def grad_norm(trainer: Any) -> float | None:
    """The global 2-norm of the last step's gradient, before clipping; ``None`` if no parameter has a gradient."""
    if getattr(trainer, "grad_norm", None) is not None:
        return float(trainer.grad_norm)  # clip_grad_norm_ measured it before clipping
    grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
    if not grads:
        return None
    norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.detach().float()) for g in grads]))
    scaler = getattr(trainer, "scaler", None)
    if scaler is not None:  # mixed precision: the gradients are still scaled
        norm = norm / scaler.get_scale()
    return float(norm)


@dataclass(frozen=True)
class TrainWithTensorBoard:
    """A picklable ``train_fn`` for the bench runner: each run logs to ``logdir/<its path under root>``.

    Args:
        logdir: the sweep's TensorBoard directory.
        root: the sweep directory the runs' ``out`` lie under.
        train_fn: the training function, taking ``callbacks=`` like
            :func:`eigenrnn.train.train` (default: that function).
    """

    logdir: str
    root: str
    train_fn: Callable | None = None

    def __call__(self, config: Any, *, resume: bool = False, progress: bool = True) -> Any:
        from eigenrnn.train import train

        out = Path(config.out).resolve()
        try:
            sub = out.relative_to(Path(self.root).resolve())
        except ValueError:
            raise ValueError(bad_value("config.out", str(out), f"a run directory under {self.root}")) from None
        train_fn = self.train_fn or train
        return train_fn(config, resume=resume, progress=progress, callbacks=[TensorBoardLogger(Path(self.logdir) / sub)])
