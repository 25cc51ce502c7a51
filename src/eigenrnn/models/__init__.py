"""Sequence models whose recurrent core is a plain ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU``.

Both models build every layer from an explicit :class:`torch.Generator` and call
:func:`eigenrnn.init.init_rnn` on each recurrent module right after
construction; nothing re-initializes the weights afterwards.  The recurrent
modules are kept as attributes (``SequenceModel.rnn``, ``Seq2Seq.encoder.rnn``,
``Seq2Seq.decoder.rnn``) so that the analysis finds them by walking
``named_modules()``.  Sequences are time-first, ``(T, B, ...)``.

The package's modules, one per model family: :mod:`~eigenrnn.models.sequence`
(:class:`SequenceModel`, classification and regression),
:mod:`~eigenrnn.models.seq2seq` (:class:`Seq2Seq`, translation), and the
seeded layer builders they share, :mod:`~eigenrnn.models.layers`.  Every
public name is importable from ``eigenrnn.models``.
"""

from __future__ import annotations

from eigenrnn.models.layers import build_rnn
from eigenrnn.models.seq2seq import Decoder, Encoder, Seq2Seq
from eigenrnn.models.sequence import READOUTS, InputSpec, SequenceModel
from eigenrnn.rnn import CELLS, CLASSES, NONLINEARITIES

__all__ = [
    "CELLS",
    "CLASSES",
    "NONLINEARITIES",
    "READOUTS",
    "Decoder",
    "Encoder",
    "InputSpec",
    "Seq2Seq",
    "SequenceModel",
    "build_rnn",
]
