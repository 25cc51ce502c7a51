"""Record the eigenvalues of every recurrent block while a model trains."""

from __future__ import annotations

import operator
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eigenrnn.analysis.decomposition import sorted_eigenvalues
from eigenrnn.errors import EigenRNNError, bad_value
from eigenrnn.io import atomic_path
from eigenrnn.rnn import recurrent_blocks

__all__ = ["SpectrumTracker", "TrackedSpectra"]

_FORMAT = "eigenrnn-spectra-v1"


@dataclass(frozen=True, eq=False)
class TrackedSpectra:
    """Eigenvalue snapshots loaded from a ``spectra.npz``.

    Attributes:
        steps: int64 ``(N,)`` optimizer steps of the snapshots, increasing.
        spectra: ``{block key: complex64 (N, n)}``, each row sorted by modulus descending.
    """

    steps: np.ndarray
    spectra: dict[str, np.ndarray]

    @property
    def blocks(self) -> list[str]:
        return list(self.spectra)

    def at(self, step: int) -> dict[str, np.ndarray]:
        """Spectra of the snapshot taken at ``step``, ``{block: (n,)}``."""
        hits = np.nonzero(self.steps == step)[0]
        if not hits.size:
            raise ValueError(bad_value("step", step, f"one of the recorded steps {self.steps.tolist()}"))
        return {key: values[hits[-1]] for key, values in self.spectra.items()}


class SpectrumTracker:
    """Trainer callback that snapshots the eigenvalues of every recurrent block.

    A snapshot is taken at the start of training (step 0, or the resumed step),
    every ``every`` optimizer steps and at the end; the history is written
    atomically to ``path`` (default ``<run_dir>/spectra.npz``) after each of
    these snapshots and at the end of each epoch.  On a resumed run an existing file is read and
    extended: snapshots from before the resumed step are kept, later ones (taken
    after the checkpoint that was resumed) are dropped.  Eigenvalues are
    stored as complex64, one ``(N, n)`` array per block.

    Also usable without a trainer: :meth:`snapshot`, :meth:`save`, :meth:`load`.

    Args:
        model: the module whose recurrent blocks are tracked
            (see :func:`eigenrnn.init.recurrent_blocks`); ``None`` takes
            ``trainer.model`` at ``on_train_start``, so a tracker can be passed
            to :func:`eigenrnn.train.train` before the model exists.
        every: snapshot period in optimizer steps, ``>= 1``.
        path: output file; ``None`` means ``<trainer.run_dir>/spectra.npz``.

    >>> tracker = SpectrumTracker(torch.nn.GRU(2, 3), every=10)
    >>> tracker.snapshot(0); sorted(tracker.spectra()[1])
    ['l0.fwd.n', 'l0.fwd.r', 'l0.fwd.z']
    """

    def __init__(self, model: nn.Module | None = None, every: int = 100, path: str | os.PathLike | None = None) -> None:
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(bad_value("model", type(model).__name__, "a torch.nn.Module or None"))
        try:
            every = operator.index(every)
        except TypeError:
            raise TypeError(bad_value("every", every, "a positive int")) from None
        if every < 1:
            raise ValueError(bad_value("every", every, "a positive int"))
        self.every = every
        self.path = None if path is None else Path(path)
        self._steps: list[int] = []
        self._blocks: list = []
        self._values: dict[str, list[np.ndarray]] = {}
        self.model: nn.Module | None = None
        if model is not None:
            self._attach(model)

    def _attach(self, model: nn.Module) -> None:
        self.model = model
        self._blocks = recurrent_blocks(model)
        self._values = {block.key: [] for block in self._blocks}

    # -- recording ---------------------------------------------------------

    def snapshot(self, step: int) -> None:
        """Record the current eigenvalues of every block under ``step`` (replacing a snapshot of that step)."""
        if self.model is None:
            raise ValueError(bad_value("model", None, "a model: pass one to SpectrumTracker or use it as a trainer callback"))
        step = operator.index(step)
        if self._steps and step <= self._steps[-1]:
            self._truncate(step)
        with torch.no_grad():
            for block in self._blocks:
                matrix = block.matrix().detach().to("cpu", torch.float64)
                if not bool(torch.isfinite(matrix).all()):
                    values = np.full(matrix.shape[0], np.nan + 1j * np.nan, dtype=np.complex64)
                else:
                    values = sorted_eigenvalues(matrix).numpy().astype(np.complex64)
                self._values[block.key].append(values)
        self._steps.append(step)

    def _truncate(self, step: int) -> None:
        """Drop snapshots at or after ``step``."""
        keep = sum(1 for s in self._steps if s < step)
        del self._steps[keep:]
        for values in self._values.values():
            del values[keep:]

    def spectra(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(steps (N,), {block: complex64 (N, n)})`` recorded so far."""
        steps = np.asarray(self._steps, dtype=np.int64)
        return steps, {
            key: (np.stack(values) if values else np.zeros((0, 0), dtype=np.complex64)) for key, values in self._values.items()
        }

    def save(self, path: str | os.PathLike | None = None) -> Path:
        """Write the history atomically (``.npz``) to ``path`` or the tracker's path; return the path."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("SpectrumTracker.save: no path given and the tracker has none (pass path= or run it in a trainer)")
        steps, spectra = self.spectra()
        arrays: dict[str, Any] = {"format": np.array(_FORMAT), "steps": steps, "blocks": np.array(list(spectra), dtype=str)}
        for i, values in enumerate(spectra.values()):
            arrays[f"block_{i}"] = values
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        return target

    @staticmethod
    def load(path: str | os.PathLike) -> TrackedSpectra:
        """Read a file written by :meth:`save`.

        Raises:
            FileNotFoundError: no such file.
            EigenRNNError: the file is not a spectra file of this format.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"spectra file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                if "format" not in data.files or str(data["format"]) != _FORMAT:
                    raise EigenRNNError(f"{path}: not an eigenrnn spectra file (format {_FORMAT})")
                steps = data["steps"].astype(np.int64)
                blocks = [str(b) for b in data["blocks"]]
                spectra = {key: data[f"block_{i}"] for i, key in enumerate(blocks)}
        except EigenRNNError:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise EigenRNNError(f"{path}: cannot read spectra ({type(exc).__name__}: {exc})") from exc
        for key, values in spectra.items():
            if values.ndim != 2 or values.shape[0] != steps.shape[0]:
                raise EigenRNNError(f"{path}: block {key!r} has shape {values.shape}, expected ({steps.shape[0]}, n)")
        return TrackedSpectra(steps=steps, spectra=spectra)

    def _restore(self, history: TrackedSpectra, before: int) -> None:
        sizes = {block.key: block.matrix().shape[0] for block in self._blocks}
        found = {key: values.shape[1] for key, values in history.spectra.items()}
        if found != sizes:
            raise EigenRNNError(
                f"{self.path}: recorded blocks {found} do not match the model's {sizes}; "
                "move the file away or train in a fresh run directory"
            )
        keep = history.steps < before
        self._steps = history.steps[keep].tolist()
        self._values = {key: list(values[keep]) for key, values in history.spectra.items()}

    # -- trainer callback --------------------------------------------------

    def on_train_start(self, trainer: Any) -> None:
        if self.model is None:
            self._attach(trainer.model)
        if self.path is None:
            self.path = Path(trainer.run_dir) / "spectra.npz"
        step = int(trainer.step)
        # A fresh run (step 0) starts a new history even if an old file is there.
        if step > 0 and self.path.is_file() and not self._steps:
            self._restore(self.load(self.path), before=step)
        self.snapshot(step)
        self.save()

    def on_step_end(self, trainer: Any, step: int) -> None:
        if step % self.every == 0:
            self.snapshot(step)
            # Saved at once so that a run interrupted mid-epoch keeps its history on resume.
            self.save()

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: Any) -> None:
        self.save()

    def on_train_end(self, trainer: Any) -> None:
        step = int(trainer.step)
        if not self._steps or self._steps[-1] != step:
            self.snapshot(step)
        self.save()
