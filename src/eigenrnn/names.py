"""The names of the recurrent cells and their gates, in plain Python (no torch).

The torch side of the vocabulary (classes, the cell of a module, the gate
blocks) is :mod:`eigenrnn.rnn`, which re-exports these names.  They live apart
only so that building the command-line parser, which needs the cell names as
choices, does not import torch (``eigenrnn --help`` must stay fast).

>>> CELLS, GATES["gru"], MAIN_GATE["lstm"]
(('rnn', 'lstm', 'gru'), ('r', 'z', 'n'), 'g')
"""

from __future__ import annotations

__all__ = ["CELLS", "GATES", "MAIN_GATE", "NONLINEARITIES"]

#: Cell names, in the order runs, reports and tables list them.
CELLS = ("rnn", "lstm", "gru")

#: Hidden-to-hidden gate blocks of each cell, in PyTorch's row order of ``weight_hh``.
GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}

#: The block playing the vanilla ``W_hh``'s role: the candidate state (GRU ``n``, LSTM ``g``).
MAIN_GATE = {"rnn": "h", "lstm": "g", "gru": "n"}

#: Nonlinearities of the vanilla ``nn.RNN``.
NONLINEARITIES = ("tanh", "relu")
