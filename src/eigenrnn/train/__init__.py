"""Training runs: :class:`TrainConfig`, :func:`train`, callbacks and checkpoints.

See :mod:`eigenrnn.train.trainer` for the layout of a run directory.
"""

from __future__ import annotations

from eigenrnn.train.callbacks import Callback
from eigenrnn.train.checkpoint import LoadedCheckpoint, load_checkpoint
from eigenrnn.train.config import TrainConfig
from eigenrnn.train.trainer import Trainer, TrainResult, train

__all__ = ["Callback", "LoadedCheckpoint", "TrainConfig", "TrainResult", "Trainer", "load_checkpoint", "train"]
