"""Training runs: :class:`TrainConfig`, :func:`train`, callbacks and checkpoints.

See :mod:`eigenrnn.train.trainer` for the layout of a run directory.
"""

from __future__ import annotations

from eigenrnn import _lazy

# Loaded on first access (PEP 562): importing eigenrnn.train.config, whose
# names the CLI parser needs, must not import torch through the trainer.
_LAZY = {
    "Callback": "eigenrnn.train.callbacks",
    "LoadedCheckpoint": "eigenrnn.train.checkpoint",
    "load_checkpoint": "eigenrnn.train.checkpoint",
    "TrainConfig": "eigenrnn.train.config",
    "Trainer": "eigenrnn.train.trainer",
    "TrainResult": "eigenrnn.train.result",
    "train": "eigenrnn.train.trainer",
}

__all__ = ["Callback", "LoadedCheckpoint", "TrainConfig", "TrainResult", "Trainer", "load_checkpoint", "train"]


__getattr__ = _lazy.lazy_getattr(__name__, _LAZY, globals())
