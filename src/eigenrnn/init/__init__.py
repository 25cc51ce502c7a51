"""Recurrent-weight initializers, in the style of :mod:`torch.nn.init`, and :func:`init_rnn`.

Every ``*_`` function fills a square 2-D tensor in place under
``torch.no_grad()``, draws all randomness from ``generator``, keeps the
tensor's dtype and device, and returns the tensor.  Xavier, Kaiming and
orthogonal initialization are taken from :mod:`torch.nn.init` unchanged.

:func:`init_rnn` applies a named scheme to ``nn.RNN``/``nn.LSTM``/``nn.GRU``
(any ``num_layers``, ``bidirectional``, LSTM ``proj_size``) and to their cells,
one square hidden-to-hidden gate block at a time.

The package's modules: :mod:`~eigenrnn.init.tensors` (the ``*_`` functions),
:mod:`~eigenrnn.init.horizon` (the horizon spectrum and chrono biases),
:mod:`~eigenrnn.init.table` (the scheme table) and
:mod:`~eigenrnn.init.modules` (:func:`init_rnn`).  Every public name is
importable from ``eigenrnn.init``.
"""

from __future__ import annotations

from eigenrnn.calibration import CalibrationResult, calibrate_
from eigenrnn.init.horizon import HORIZON_TAU_MIN, chrono_bias, horizon_spectrum
from eigenrnn.init.modules import init_rnn
from eigenrnn.init.table import schemes
from eigenrnn.init.tensors import chain_, eigen_, irnn_, rescaled_glorot_, rescaled_glorot_scale, sp_
# RecurrentBlock and recurrent_blocks are defined in eigenrnn.rnn and re-exported here for existing imports.
from eigenrnn.rnn import RecurrentBlock, recurrent_blocks

__all__ = [
    "HORIZON_TAU_MIN",
    "CalibrationResult",
    "RecurrentBlock",
    "calibrate_",
    "chain_",
    "chrono_bias",
    "eigen_",
    "horizon_spectrum",
    "init_rnn",
    "irnn_",
    "recurrent_blocks",
    "rescaled_glorot_",
    "rescaled_glorot_scale",
    "schemes",
    "sp_",
]
