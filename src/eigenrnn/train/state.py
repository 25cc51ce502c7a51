"""The state of one run that outlives a process: run id, bookkeeping, checkpoint and best payloads.

:class:`RunState` is everything :mod:`eigenrnn.train.trainer` must save to
resume bit for bit besides the weights, optimizer, scheduler and RNG states;
:func:`prepare_run_dir` checks a run directory (fresh start or resume) and
:func:`checkpoint_payload`/:func:`load_state` write and read the checkpoints
described in :mod:`eigenrnn.train.checkpoint`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from eigenrnn.errors import CheckpointError, EigenRNNError
from eigenrnn.io import atomic_write_text, check_output
from eigenrnn.train.checkpoint import read_payload, rng_state, save_checkpoint, set_rng_state
from eigenrnn.train.config import RESUMABLE_CHANGES, TrainConfig
from eigenrnn.train.setup import Setup

#: Files a run writes through eigenrnn.io.atomic_path; their temporary files are swept on the next start.
RUN_FILES = ("checkpoint.pt", "best.pt", "config.json", "metrics.jsonl", "summary.json", "tokenizer.json", "spectra.npz")


@dataclass
class EpochState:
    """Position inside the current epoch, saved so a run interrupted mid-epoch resumes exactly."""

    perm: Tensor
    batch: int
    sums: Tensor
    elapsed: float = 0.0


@dataclass
class RunState:
    """The bookkeeping of a run: position, best epoch, target, history and clocks.

    ``t0`` and ``epoch_t0`` are ``time.perf_counter()`` values of this process
    (start of the run and of the current epoch); ``wall_offset`` is the wall
    time of earlier processes of a resumed run.
    """

    run_id: str | None
    step: int = 0
    epoch: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, Tensor] | None = None
    bad_epochs: int = 0
    target_hit: dict[str, int] | None = None
    stop_reason: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_offset: float = 0.0
    epoch_state: EpochState | None = None
    initial_loss: float | None = None
    calibration: dict[str, Any] | None = None
    t0: float = field(default_factory=time.perf_counter)
    epoch_t0: float = 0.0

    def __post_init__(self) -> None:
        self.epoch_t0 = self.epoch_t0 or self.t0

    @classmethod
    def start(cls, payload: dict[str, Any] | None) -> "RunState":
        """A fresh state; its run id ties checkpoint.pt and best.pt together (None for runs written before run ids)."""
        return cls(run_id=uuid.uuid4().hex if payload is None else payload.get("run_id"))

    def wall(self) -> float:
        return self.wall_offset + time.perf_counter() - self.t0

    def epoch_elapsed(self) -> float:
        """Seconds spent in the current epoch, in this and earlier processes."""
        return self.epoch_state.elapsed + time.perf_counter() - self.epoch_t0

    def to_dict(self) -> dict[str, Any]:
        """The ``trainer`` entry of ``checkpoint.pt``."""
        es = self.epoch_state
        return {
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "target_hit": self.target_hit,
            "stop_reason": self.stop_reason,
            "history": self.history,
            "initial_loss": self.initial_loss,
            "wall_time_s": self.wall(),
            "calibration": self.calibration,
            "epoch_state": None if es is None else {
                "perm": es.perm, "batch": es.batch, "sums": es.sums.cpu(), "elapsed": self.epoch_elapsed(),
            },
        }


def check_run_dir(run_dir: Path) -> None:
    """Refuse an output path that is not a run directory (marked, or an older one holding a run's files) or new/empty."""
    check_output(run_dir, "train", argument="out", mode="resume", legacy=("checkpoint.pt", "summary.json"))


def prepare_run_dir(run_dir: Path, config: TrainConfig, resume: bool) -> dict[str, Any] | None:
    """Check ``run_dir`` for a fresh start (``None``) or a resume (the checkpoint's payload)."""
    ckpt_path = run_dir / "checkpoint.pt"
    check_run_dir(run_dir)
    if not resume:
        for name in ("checkpoint.pt", "summary.json"):
            if (run_dir / name).exists():
                raise EigenRNNError(f"{run_dir}: already holds a run ({name}); resume it or choose another output directory")
        return None
    if not ckpt_path.is_file():
        raise CheckpointError(f"{ckpt_path}: no checkpoint to resume from")
    payload = read_payload(ckpt_path)
    saved = TrainConfig.from_dict(payload["config"])
    differ = [
        name for name in TrainConfig.field_names()
        if name not in RESUMABLE_CHANGES and getattr(saved, name) != getattr(config, name)
    ]
    if differ:
        details = ", ".join(f"{n}: {getattr(saved, n)!r} -> {getattr(config, n)!r}" for n in differ)
        raise ValueError(f"resume: the config differs from the checkpoint's in {details}")
    if "trainer" not in payload:
        raise CheckpointError(f"{ckpt_path}: holds weights only, not a resumable training state")
    _check_best_belongs(run_dir, payload)
    return payload


def _check_best_belongs(run_dir: Path, payload: dict[str, Any]) -> None:
    """Refuse a ``best.pt`` that another run wrote (another run id, else another config)."""
    best = run_dir / "best.pt"
    if payload["trainer"].get("best_epoch") is None or not best.is_file():
        return  # a missing best.pt is reported by load_state
    theirs = read_payload(best)
    run_id = payload.get("run_id")
    if run_id is not None:
        if theirs.get("run_id") != run_id:
            raise CheckpointError(
                f"{best}: belongs to another run (run id {theirs.get('run_id')!r}, this run's checkpoint.pt has "
                f"{run_id!r}); restore this run's own best.pt or start a new --out"
            )
    elif theirs.get("config") != payload["config"]:
        raise CheckpointError(f"{best}: was written with another config than {run_dir / 'checkpoint.pt'}; "
                              "restore this run's own best.pt or start a new --out")


def checkpoint_payload(config: TrainConfig, setup: Setup, state: RunState, *, full: bool) -> dict[str, Any]:
    """The payload of ``checkpoint.pt`` (``full``) or, with ``best_state`` as model, of ``best.pt``."""
    payload: dict[str, Any] = {
        "config": config.to_dict(),
        "model_spec": setup.spec.to_dict(),
        "model": {k: v.detach().cpu() for k, v in setup.model.state_dict().items()},
        "tokenizer": setup.tokenizer_text,
        "run_id": state.run_id,
        "epoch": state.epoch,
        "step": state.step,
    }
    if full:
        payload.update(
            optimizer=setup.optimizer.state_dict(),
            scheduler=None if setup.scheduler is None else setup.scheduler.state_dict(),
            scaler=None if setup.scaler is None else setup.scaler.state_dict(),
            rng=rng_state(setup.data_generator),
            trainer=state.to_dict(),
        )
    return payload


def save_run(run_dir: Path, config: TrainConfig, setup: Setup, state: RunState) -> None:
    """Write the resumable ``checkpoint.pt``."""
    save_checkpoint(checkpoint_payload(config, setup, state, full=True), run_dir / "checkpoint.pt")


def save_best(run_dir: Path, config: TrainConfig, setup: Setup, state: RunState) -> None:
    """Write ``best.pt`` with the weights of the best epoch."""
    best = checkpoint_payload(config, setup, state, full=False)
    best["model"] = state.best_state
    save_checkpoint(best, run_dir / "best.pt")


def load_state(run_dir: Path, config: TrainConfig, setup: Setup, state: RunState, payload: dict[str, Any]) -> None:
    """Restore weights, optimizer, scheduler, scaler, RNGs and ``state`` from a ``checkpoint.pt`` payload."""
    setup.model.load_state_dict(payload["model"])
    setup.optimizer.load_state_dict(payload["optimizer"])
    if setup.scheduler is not None:
        setup.scheduler.load_state_dict(payload["scheduler"])
        if isinstance(setup.scheduler, torch.optim.lr_scheduler.CosineAnnealingLR):
            setup.scheduler.T_max = config.epochs  # a resume may extend the run
    if setup.scaler is not None and payload.get("scaler"):
        setup.scaler.load_state_dict(payload["scaler"])
    set_rng_state(payload["rng"], setup.data_generator)
    state.step, state.epoch = int(payload["step"]), int(payload["epoch"])
    t = payload["trainer"]
    state.best_metric, state.best_epoch = t["best_metric"], t["best_epoch"]
    state.bad_epochs, state.target_hit, state.history = t["bad_epochs"], t["target_hit"], list(t["history"])
    state.stop_reason = t["stop_reason"]
    state.initial_loss = t.get("initial_loss")
    state.wall_offset = float(t["wall_time_s"])
    es = t["epoch_state"]
    if es is not None:
        state.epoch_state = EpochState(es["perm"], int(es["batch"]), es["sums"].to(setup.device), float(es["elapsed"]))
    if state.best_epoch is not None:
        state.best_state = _read_best(run_dir, setup)


def _read_best(run_dir: Path, setup: Setup) -> dict[str, Tensor]:
    best = run_dir / "best.pt"
    if not best.is_file():
        raise CheckpointError(f"{best}: missing, but {run_dir / 'checkpoint.pt'} refers to it")
    weights = read_payload(best)["model"]
    own = setup.model.state_dict()
    if {k: tuple(v.shape) for k, v in weights.items()} != {k: tuple(v.shape) for k, v in own.items()}:
        raise CheckpointError(f"{best}: its weights do not have the shapes of this run's model; "
                              "restore this run's own best.pt or start a new --out")
    return weights


def rewrite_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Keep exactly the lines of the epochs in the checkpoint (a crash may have left one more)."""
    lines = "".join(json.dumps(r, sort_keys=True, default=float) + "\n" for r in history)
    atomic_write_text(run_dir / "metrics.jsonl", lines)
