"""Run a recurrent module and recover the per-step states of one layer and direction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from eigenrnn.analysis.cells import CellParams, cell_params, check_layer, num_directions, num_layers
from eigenrnn.errors import bad_value
from eigenrnn.rnn import CLASSES, cell_of

__all__ = ["Trajectory", "layer_trajectory", "resolve_trajectory"]


@dataclass(frozen=True, eq=False)
class Trajectory:
    """States of one layer/direction along a driven trajectory, in processing order.

    Attributes:
        params: that layer's :class:`~eigenrnn.analysis.cells.CellParams` (module dtype).
        inputs: what that layer received, ``(T, B, I_layer)``; for ``direction=1``
            reversed in time, so index ``t`` is the ``t``-th step the layer took.
        states: ``(T + 1, B, S)``; ``states[0]`` is the initial state and
            ``states[t]`` the state after ``t`` steps (``(h, c)`` for LSTM).
        batched: ``False`` if the caller gave unbatched ``(T, I)`` inputs (``B = 1`` here).
    """

    params: CellParams
    inputs: torch.Tensor
    states: torch.Tensor
    batched: bool


def _module_dtype(module: nn.Module) -> tuple[torch.dtype, torch.device]:
    param = next(module.parameters())
    return param.dtype, param.device


def _check_inputs(module: nn.Module, inputs: Any) -> tuple[torch.Tensor, bool]:
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(bad_value("inputs", type(inputs).__name__, "a torch.Tensor (T, B, input_size) or (T, input_size)"))
    if inputs.ndim not in (2, 3) or inputs.shape[-1] != module.input_size or inputs.shape[0] < 1:
        raise ValueError(
            bad_value("inputs.shape", tuple(inputs.shape), f"(T, B, {module.input_size}) or (T, {module.input_size}) with T >= 1")
        )
    if not inputs.is_floating_point():
        raise TypeError(bad_value("inputs.dtype", str(inputs.dtype), "a floating-point dtype"))
    if not bool(torch.isfinite(inputs).all()):
        raise ValueError(bad_value("inputs", "a tensor containing NaN or inf", "finite values"))
    batched = inputs.ndim == 3
    dtype, device = _module_dtype(module)
    inputs = inputs.detach().to(device=device, dtype=dtype)
    return (inputs if batched else inputs.unsqueeze(1)), batched


def _check_state(name: str, value: Any, shape: tuple[int, ...], batched: bool, dtype, device) -> torch.Tensor:
    expected = shape if batched else shape[:-2] + shape[-1:]
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != expected:
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ValueError(bad_value(name, got, f"a tensor of shape {expected}"))
    value = value.detach().to(device=device, dtype=dtype)
    return value if batched else value.unsqueeze(-2)


def _initial_states(module: nn.Module, h0: Any, batch: int, batched: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Return ``(h0, c0)`` in module layout ``(L·D, B, ·)`` (cells: ``(1, B, ·)``); ``c0`` only for LSTM."""
    dtype, device = _module_dtype(module)
    lstm = cell_of(module) == "lstm"
    hidden = module.hidden_size
    out = getattr(module, "proj_size", 0) or hidden
    stack = (num_layers(module) * num_directions(module),) if isinstance(module, nn.RNNBase) else ()
    if h0 is None:
        h = torch.zeros(*(stack or (1,)), batch, out, dtype=dtype, device=device)
        c = torch.zeros(*(stack or (1,)), batch, hidden, dtype=dtype, device=device) if lstm else None
        return h, c
    if lstm:
        if not (isinstance(h0, (tuple, list)) and len(h0) == 2):
            raise TypeError(bad_value("h0", type(h0).__name__, "a tuple (h0, c0) for an LSTM"))
        h = _check_state("h0[0]", h0[0], (*stack, batch, out), batched, dtype, device)
        c = _check_state("h0[1]", h0[1], (*stack, batch, hidden), batched, dtype, device)
    else:
        h, c = _check_state("h0", h0, (*stack, batch, out), batched, dtype, device), None
    if not stack:
        h, c = h.unsqueeze(0), (None if c is None else c.unsqueeze(0))
    for name, value in (("h0", h), ("c0", c)):
        if value is not None and not bool(torch.isfinite(value).all()):
            raise ValueError(bad_value(name, "a tensor containing NaN or inf", "finite values"))
    return h, c


def _single_layer(module: nn.RNNBase, layer: int, direction: int | None = None) -> nn.RNNBase:
    """A one-layer copy of ``module``'s layer ``layer``, sharing no storage.

    Both directions if ``direction`` is ``None``; else only that one, as a
    forward module (feed it time-reversed inputs for ``direction=1``), so the
    layer being analysed costs one direction's pass, not two.
    """
    input_size = getattr(module, f"weight_ih_l{layer}").shape[1]
    kwargs: dict[str, Any] = dict(
        input_size=input_size,
        hidden_size=module.hidden_size,
        num_layers=1,
        bias=module.bias,
        batch_first=False,
        bidirectional=module.bidirectional and direction is None,
    )
    cell = cell_of(module)
    dtype, device = _module_dtype(module)
    if cell == "lstm":
        kwargs["proj_size"] = module.proj_size
    elif cell == "rnn":
        kwargs["nonlinearity"] = module.nonlinearity
    clone: nn.RNNBase = CLASSES[cell](**kwargs, dtype=dtype, device=device)
    with torch.no_grad():
        for name, param in clone.named_parameters():
            source = name.replace("_l0", f"_l{layer}", 1)
            if direction == 1:
                source += "_reverse"
            param.copy_(getattr(module, source))
    return clone.eval()


def _lstm_cells(params: CellParams, inputs: torch.Tensor, h_prev: torch.Tensor, c0: torch.Tensor) -> torch.Tensor:
    """Cell states ``(T + 1, B, H)`` from the hidden states the module produced.

    The gates depend only on ``(x_t, h_{t-1})``, known for all ``t``, so they are
    computed in one batched product; only the elementwise recurrence
    ``c_t = f_t c_{t-1} + i_t g_t`` remains sequential.
    """
    pre = inputs @ params.weight_ih.mT + h_prev @ params.weight_hh.mT
    if params.bias_ih is not None:
        pre = pre + params.bias_ih + params.bias_hh
    i, f, g, _ = pre.chunk(4, dim=-1)
    f = torch.sigmoid(f)
    drive = torch.sigmoid(i) * torch.tanh(g)
    cells = torch.empty(inputs.shape[0] + 1, *c0.shape, dtype=c0.dtype, device=c0.device)
    cells[0] = c0
    for t in range(inputs.shape[0]):
        cells[t + 1] = torch.addcmul(drive[t], f[t], cells[t])
    return cells


def layer_trajectory(module: nn.Module, inputs: Any, h0: Any = None, *, layer: int = 0, direction: int = 0) -> Trajectory:
    """Drive ``module`` with ``inputs`` and return the states of one layer and direction.

    Earlier layers run as the real module does (in eval semantics: no inter-layer
    dropout); layer ``layer`` receives their outputs.  Hidden states come from
    PyTorch's own kernels; LSTM cell states are rebuilt from them (see
    :func:`_lstm_cells`).  Inputs are always time-first, whatever ``batch_first``.

    Args:
        module: nn.RNN/LSTM/GRU (any ``num_layers``, bidirectional, ``proj_size``)
            or nn.RNNCell/LSTMCell/GRUCell.
        inputs: ``(T, B, input_size)`` or unbatched ``(T, input_size)``.
        h0: initial state in the module's own layout (``(L·D, B, H_out)``, a tuple
            ``(h0, c0)`` for LSTM; ``(B, H)`` for cells; batch dim dropped for
            unbatched inputs); zeros if ``None``.
        layer, direction: which layer / direction (0 forward, 1 reverse).
    """
    cell_of(module)  # refuses a non-recurrent module before anything else
    layer, direction = check_layer(module, layer, direction)
    x, batched = _check_inputs(module, inputs)
    h_init, c_init = _initial_states(module, h0, x.shape[1], batched)
    params = cell_params(module, layer, direction)
    with torch.no_grad():
        if isinstance(module, nn.RNNCellBase):
            steps = []
            state: Any = (h_init[0], c_init[0]) if c_init is not None else h_init[0]
            for t in range(x.shape[0]):
                state = module(x[t], state)
                steps.append(torch.cat(state, dim=-1) if isinstance(state, tuple) else state)
            first = torch.cat([h_init[0], c_init[0]], dim=-1) if c_init is not None else h_init[0]
            return Trajectory(params, x, torch.stack([first, *steps]), batched)

        d = num_directions(module)
        for j in range(layer):
            hj = h_init[j * d : (j + 1) * d]
            state = (hj, c_init[j * d : (j + 1) * d]) if c_init is not None else hj
            x = _single_layer(module, j)(x, state)[0]
        k = layer * d + direction
        state = (h_init[k : k + 1], c_init[k : k + 1]) if c_init is not None else h_init[k : k + 1]
        if direction:
            x = x.flip(0)
        hidden = _single_layer(module, layer, direction)(x, state)[0]
        h_states = torch.cat([h_init[k].unsqueeze(0), hidden], dim=0)
        if c_init is None:
            return Trajectory(params, x, h_states, batched)
        cells = _lstm_cells(params, x, h_states[:-1], c_init[k])
        return Trajectory(params, x, torch.cat([h_states, cells], dim=-1), batched)


_PARAM_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def _same_params(a: CellParams, b: CellParams) -> bool:
    def same(x: torch.Tensor | None, y: torch.Tensor | None) -> bool:
        if x is None or y is None:
            return x is y
        return x.shape == y.shape and x.dtype == y.dtype and bool(torch.equal(x, y))

    return a.kind == b.kind and all(same(getattr(a, n), getattr(b, n)) for n in _PARAM_NAMES)


def resolve_trajectory(
    module: nn.Module, inputs: Any = None, h0: Any = None, *, layer: int = 0, direction: int = 0, trajectory: Any = None
) -> Trajectory:
    """The trajectory an analysis runs on: ``trajectory`` if given, else :func:`layer_trajectory` of ``inputs``.

    Lets a caller that analyses one layer several ways run it once and pass the
    :class:`Trajectory` to each analysis.  A given trajectory must have been
    computed with the current weights of ``module``'s layer ``layer`` and
    direction ``direction``; ``inputs`` and ``h0`` are then already in it.

    Args:
        module, inputs, h0, layer, direction: as in :func:`layer_trajectory`.
        trajectory: a :class:`Trajectory` from :func:`layer_trajectory`, or ``None``.

    Raises:
        TypeError: neither or both of ``inputs``/``trajectory``, or ``trajectory`` not a Trajectory.
        ValueError: ``trajectory`` of other weights than ``module``'s layer and direction.
    """
    if trajectory is None:
        if inputs is None:
            raise TypeError("give inputs= (T, B, input_size) or trajectory= (from layer_trajectory)")
        return layer_trajectory(module, inputs, h0, layer=layer, direction=direction)
    if inputs is not None or h0 is not None:
        raise TypeError("give inputs= (and h0=) or trajectory=, not both: a trajectory already fixes its inputs and h0")
    if not isinstance(trajectory, Trajectory):
        raise TypeError(bad_value("trajectory", type(trajectory).__name__, "a Trajectory (from layer_trajectory)"))
    cell_of(module)  # refuses a non-recurrent module before anything else
    layer, direction = check_layer(module, layer, direction)
    if not _same_params(trajectory.params, cell_params(module, layer, direction)):
        raise ValueError(
            bad_value("trajectory", "a trajectory of other weights", f"layer_trajectory(module, ..., layer={layer}, direction={direction})")
        )
    return trajectory
