"""The one vocabulary of recurrent modules: cells, gates, classes, the cell of a module, and gate blocks.

Every other module asks this one what a cell is: its name (:data:`CELLS`), its
gate blocks in ``weight_hh`` row order (:data:`GATES`), its ``torch.nn``
classes (:data:`CLASSES`), the cell of a given module (:func:`cell_of`) and
every square hidden-to-hidden block of a model (:func:`recurrent_blocks`),
named by a :class:`BlockKey`.  The torch-free names live in
:mod:`eigenrnn.names` (the CLI parser needs them without torch) and are
re-exported here.

>>> [b.key for b in recurrent_blocks(torch.nn.LSTM(2, 3))]
['l0.fwd.i', 'l0.fwd.f', 'l0.fwd.g', 'l0.fwd.o']
>>> parse_block_key("encoder.rnn.l1.bwd.z")
BlockKey(module_name='encoder.rnn', layer=1, direction=1, gate='z')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from eigenrnn.errors import bad_value
from eigenrnn.names import CELLS, GATES, MAIN_GATE, NONLINEARITIES

__all__ = [
    "BlockKey",
    "CELLS",
    "CLASSES",
    "CELL_CLASSES",
    "GATES",
    "MAIN_GATE",
    "NONLINEARITIES",
    "RECURRENT_TYPES",
    "RecurrentBlock",
    "cell_of",
    "module_kind",
    "parse_block_key",
    "recurrent_blocks",
    "weight_slots",
]

#: Cell name -> the stacked ``torch.nn`` module.
CLASSES: dict[str, type[nn.RNNBase]] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
#: Cell name -> the single-step ``torch.nn`` cell.
CELL_CLASSES: dict[str, type[nn.RNNCellBase]] = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}
#: Base classes of every module :func:`recurrent_blocks` walks.
RECURRENT_TYPES = (nn.RNNBase, nn.RNNCellBase)


def cell_of(module: nn.Module) -> str:
    """The cell name (one of :data:`CELLS`) of an nn.RNN/LSTM/GRU or one of their cells.

    Raises:
        TypeError: for any other module.

    >>> cell_of(torch.nn.GRUCell(2, 3)), cell_of(torch.nn.RNN(2, 3))
    ('gru', 'rnn')
    """
    for cell in CELLS:
        if isinstance(module, (CLASSES[cell], CELL_CLASSES[cell])):
            return cell
    raise TypeError(
        bad_value("module", type(module).__name__, "nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, nn.LSTMCell or nn.GRUCell")
    )


def module_kind(module: nn.Module) -> str:
    """The step map of ``module``: its cell name, with the vanilla RNN named by its nonlinearity.

    ``"tanh"``, ``"relu"``, ``"lstm"`` or ``"gru"``; the kind of
    :class:`eigenrnn.analysis.cells.CellParams`.

    >>> module_kind(torch.nn.RNN(2, 3, nonlinearity="relu")), module_kind(torch.nn.LSTM(2, 3))
    ('relu', 'lstm')
    """
    cell = cell_of(module)
    return module.nonlinearity if cell == "rnn" else cell


@dataclass(frozen=True)
class BlockKey:
    """The parts of a block key such as ``"encoder.rnn.l0.fwd.f"``; :func:`parse_block_key` reads one.

    Attributes:
        module_name: path of the recurrent module inside the root (``""`` for the root).
        layer, direction: position in a stacked / bidirectional module (direction 1 is ``bwd``).
        gate: one of the cell's :data:`GATES`.

    >>> str(BlockKey("rnn", 0, 1, "h"))
    'rnn.l0.bwd.h'
    """

    module_name: str
    layer: int
    direction: int
    gate: str

    def __str__(self) -> str:
        prefix = f"{self.module_name}." if self.module_name else ""
        return f"{prefix}l{self.layer}.{'bwd' if self.direction else 'fwd'}.{self.gate}"


_KEY = re.compile(r"^(?:(?P<module>.+)\.)?l(?P<layer>\d+)\.(?P<dir>fwd|bwd)\.(?P<gate>\w+)$")


def parse_block_key(key: str) -> BlockKey:
    """Read a block key written by :attr:`RecurrentBlock.key`.

    Raises:
        ValueError: if ``key`` is not of the form ``[module.]l<layer>.<fwd|bwd>.<gate>``.

    >>> parse_block_key("l0.fwd.n").gate
    'n'
    """
    match = _KEY.match(key) if isinstance(key, str) else None
    if match is None:
        raise ValueError(bad_value("block key", key, "'[module.]l<layer>.<fwd|bwd>.<gate>', e.g. 'rnn.l0.fwd.n'"))
    return BlockKey(match["module"] or "", int(match["layer"]), int(match["dir"] == "bwd"), match["gate"])


def weight_slots(module: nn.Module) -> Iterator[tuple[int, int, str]]:
    """Yield ``(layer, direction, suffix)`` for every weight set; ``weight_hh{suffix}`` names its parameter.

    >>> list(weight_slots(torch.nn.GRU(2, 3, bidirectional=True)))
    [(0, 0, '_l0'), (0, 1, '_l0_reverse')]
    """
    if isinstance(module, nn.RNNCellBase):
        yield 0, 0, ""
        return
    directions = 2 if module.bidirectional else 1
    for layer in range(module.num_layers):
        for direction in range(directions):
            yield layer, direction, f"_l{layer}" + ("_reverse" if direction else "")


@dataclass(frozen=True)
class RecurrentBlock:
    """One square hidden-to-hidden gate block of a recurrent module.

    Attributes:
        module_name: path of the recurrent module inside the root (``""`` for the root).
        module: the recurrent module itself.
        cell: one of :data:`CELLS` (see :func:`cell_of`).
        layer, direction: position in a stacked / bidirectional module (0 for cells).
        gate: one of ``GATES[cell]``: ``"h"`` (RNN), ``"i","f","g","o"`` (LSTM) or ``"r","z","n"`` (GRU).
        parameter: name of the ``weight_hh`` parameter holding it.
        rows: rows of that parameter belonging to this gate.
        projection: name of the LSTM ``weight_hr`` parameter, or ``None``.
    """

    module_name: str
    module: nn.Module
    cell: str
    layer: int
    direction: int
    gate: str
    parameter: str
    rows: slice
    projection: str | None = None

    @property
    def key(self) -> str:
        """Readable identifier, e.g. ``"encoder.rnn.l0.fwd.f"``; :func:`parse_block_key` reads it back."""
        return str(BlockKey(self.module_name, self.layer, self.direction, self.gate))

    def weight(self) -> torch.Tensor:
        """The ``(H, H)`` (or ``(H, P)`` with projection) view of ``weight_hh``; writable."""
        return getattr(self.module, self.parameter)[self.rows]

    def matrix(self) -> torch.Tensor:
        """The effective square recurrent matrix: ``(H, H)``, or ``(P, P) = W_hr W_g`` with projection."""
        w = self.weight()
        if self.projection is not None:
            return getattr(self.module, self.projection) @ w
        return w


def _module_blocks(name: str, module: nn.Module) -> list[RecurrentBlock]:
    cell = cell_of(module)
    hidden = module.hidden_size
    proj = getattr(module, "proj_size", 0) or 0
    blocks = []
    for layer, direction, suffix in weight_slots(module):
        for index, gate in enumerate(GATES[cell]):
            blocks.append(
                RecurrentBlock(
                    module_name=name,
                    module=module,
                    cell=cell,
                    layer=layer,
                    direction=direction,
                    gate=gate,
                    parameter=f"weight_hh{suffix}",
                    rows=slice(index * hidden, (index + 1) * hidden),
                    projection=f"weight_hr{suffix}" if proj else None,
                )
            )
    return blocks


def recurrent_blocks(module: nn.Module) -> list[RecurrentBlock]:
    """List every hidden-to-hidden gate block of every recurrent module inside ``module``.

    Walks ``module.named_modules()``; order is module, layer, direction, gate.

    Args:
        module: a recurrent module or any model containing them.

    Raises:
        TypeError: if ``module`` contains no nn.RNN/LSTM/GRU or cell.

    >>> [b.key for b in recurrent_blocks(torch.nn.GRU(3, 4))]
    ['l0.fwd.r', 'l0.fwd.z', 'l0.fwd.n']
    """
    if not isinstance(module, nn.Module):
        raise TypeError(bad_value("module", type(module).__name__, "a torch.nn.Module"))
    blocks = []
    for name, sub in module.named_modules():
        if isinstance(sub, RECURRENT_TYPES):
            blocks.extend(_module_blocks(name, sub))
    if not blocks:
        raise TypeError(
            bad_value("module", type(module).__name__, "a module containing nn.RNN/LSTM/GRU or their cells")
        )
    return blocks
