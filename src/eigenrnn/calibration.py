r"""Calibration on data: rescale recurrent eigenvalue moduli until a measured quantity hits a target.

The spectrum of ``W`` is not what a nonlinear network runs on: saturation
shrinks the effective dynamics (docs/ANALYSIS.md).  :func:`calibrate_` sets the
*effective* dynamics on a batch of real inputs instead.  For a real matrix
``W = V Λ V⁻¹``, scaling every modulus by ``c`` while keeping the phases and
eigenvectors is exactly ``W → c W``, so the search is over one positive scalar
``c`` per layer and direction.

Blocks (:data:`CALIBRATED_GATES`): the vanilla RNN's ``W_hh``; the GRU's
candidate block ``n`` and the LSTM's cell-input block ``g``.  These are the
blocks through which the state feeds back linearly into itself (the role
``W_hh`` plays in a vanilla RNN; the same "main gate" ``eigenrnn analyze``
uses).  The gate blocks (GRU ``r, z``; LSTM ``i, f, o``) are left as the
scheme drew them: they enter the state Jacobian only through ``σ'`` times
small factors (``h − n``, ``Ŵh + b``, ``c``), so scaling them moves the
quantity little while changing *when* the gates open, and the gate biases
(e.g. chrono's time constants) keep their meaning.

Layers are calibrated in order, each with its own scale (a layer's inputs are
the outputs of the already-calibrated layers below; the directions of a
bidirectional layer are independent of each other).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from eigenrnn.errors import bad_value, check_int
from eigenrnn.rnn import CELLS, CLASSES, MAIN_GATE, recurrent_blocks

__all__ = ["CALIBRATED_GATES", "CalibrationResult", "QUANTITIES", "calibrate_", "parse_calibrate"]

#: Measured quantities :func:`calibrate_` can target.
QUANTITIES = ("jacobian_radius", "gradient_decay")
#: Gate blocks whose matrix is scaled, per cell kind (see the module docstring for why).
#: Keyed by the class name (``"RNN"``, ``"GRU"``, ``"LSTM"``), as before :mod:`eigenrnn.rnn` named cells.
CALIBRATED_GATES = {CLASSES[cell].__name__: (MAIN_GATE[cell],) for cell in CELLS}
#: The search never leaves ``c`` in ``[1/64, 64]``: beyond it the target is declared unreachable.
_LOG_SCALE_LIMIT = math.log(64.0)
#: Largest change of ``ln c`` in one step while bracketing (a factor of 4).
_MAX_STEP = math.log(4.0)


@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate_` did.

    Attributes:
        quantity: the measured quantity (one of :data:`QUANTITIES`).
        target: its requested value.
        achieved: ``{layer label: measured value}`` after calibration (e.g. ``{"l0.fwd": 1.003}``).
        scales: ``{layer label: c}``, the factor applied to that layer's calibrated blocks.
        evaluations: forward passes of the batch spent (all layers together).
        converged: every layer is within ``tol`` of the target.
        horizon: the lag of ``"gradient_decay"`` (``None`` for ``"jacobian_radius"``).
        blocks: keys of the blocks that were scaled (see :data:`CALIBRATED_GATES`).
    """

    quantity: str
    target: float
    achieved: dict[str, float]
    scales: dict[str, float]
    evaluations: int
    converged: bool
    horizon: int | None = None
    blocks: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "target": self.target,
            "achieved": dict(self.achieved),
            "scales": dict(self.scales),
            "evaluations": self.evaluations,
            "converged": self.converged,
            "horizon": self.horizon,
            "blocks": list(self.blocks),
        }


def parse_calibrate(text: str) -> tuple[str, float]:
    """Parse ``"QUANTITY=TARGET"`` (e.g. ``"jacobian_radius=1.0"``) into ``(quantity, target)``.

    >>> parse_calibrate("gradient_decay=0.1")
    ('gradient_decay', 0.1)
    """
    allowed = f"QUANTITY=TARGET with QUANTITY one of {', '.join(QUANTITIES)} and TARGET a finite number > 0"
    if not isinstance(text, str) or text.count("=") != 1:
        raise ValueError(bad_value("calibrate", text, allowed))
    quantity, _, value = text.partition("=")
    quantity = quantity.strip()
    try:
        target = float(value)
    except ValueError:
        raise ValueError(bad_value("calibrate", text, allowed)) from None
    if quantity not in QUANTITIES or not (math.isfinite(target) and target > 0):
        raise ValueError(bad_value("calibrate", text, allowed))
    return quantity, target


def _recurrent_and_inputs(module: nn.Module, inputs: Any) -> tuple[nn.Module, torch.Tensor]:
    """The one recurrent module to calibrate and the ``(T, B, F)`` features it receives."""
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        rnn, x = module, inputs
    elif isinstance(getattr(module, "rnn", None), (nn.RNNBase, nn.RNNCellBase)) and callable(getattr(module, "rnn_inputs", None)):
        if not isinstance(inputs, torch.Tensor):
            raise TypeError(bad_value("inputs", type(inputs).__name__, "a tensor of model inputs (T, B) tokens or (T, B, F) features"))
        if inputs.ndim < 2 or inputs.shape[0] < 1 or inputs.shape[1] < 1:
            raise ValueError(bad_value("inputs.shape", tuple(inputs.shape), "a non-empty batch (T, B[, F]) with T >= 1 and B >= 1"))
        with torch.no_grad():
            x = module.rnn_inputs(inputs).detach()
        rnn = module.rnn
    else:
        raise TypeError(
            bad_value(
                "module", type(module).__name__,
                "an nn.RNN/LSTM/GRU (or cell), or a model with .rnn and .rnn_inputs (eigenrnn.models.SequenceModel)",
            )
        )
    if isinstance(rnn, nn.RNNBase) and rnn.batch_first:
        raise ValueError(bad_value("module.batch_first", True, "False (inputs are time-first)"))
    if not isinstance(x, torch.Tensor):
        raise TypeError(bad_value("inputs", type(x).__name__, "a tensor (T, B, input_size)"))
    if x.ndim != 3 or x.shape[0] < 1 or x.shape[1] < 1 or x.shape[2] != rnn.input_size:
        raise ValueError(bad_value("inputs.shape", tuple(x.shape), f"(T, B, {rnn.input_size}) with T >= 1 and B >= 1"))
    if not x.is_floating_point():
        raise TypeError(bad_value("inputs.dtype", str(x.dtype), "a floating-point dtype (or token ids with a model)"))
    if not bool(torch.isfinite(x).all()):
        raise ValueError(bad_value("inputs", "a tensor containing NaN or inf", "finite values"))
    for name, param in rnn.named_parameters():
        if not bool(torch.isfinite(param).all()):
            raise ValueError(bad_value("module", f"parameter {name} with NaN or inf", "finite weights"))
    return rnn, x


class _Layer:
    """Scaling of one layer/direction's calibrated blocks, always from the original weights (no drift)."""

    def __init__(self, blocks: list[Any]) -> None:
        self.blocks = blocks
        self.original = [b.weight().detach().clone() for b in blocks]

    def set(self, log_scale: float) -> None:
        with torch.no_grad():
            for block, w0 in zip(self.blocks, self.original):
                block.weight().copy_(w0 * math.exp(log_scale))


def calibrate_(
    module: nn.Module,
    inputs: Any,
    *,
    target: float = 1.0,
    quantity: str = "jacobian_radius",
    horizon: int | None = None,
    max_evals: int = 20,
    tol: float = 0.02,
) -> CalibrationResult:
    r"""Scale each layer's recurrent eigenvalue moduli in place until a quantity measured on data equals ``target``.

    For every layer and direction, the calibrated blocks (:data:`CALIBRATED_GATES`:
    RNN ``h``, GRU ``n``, LSTM ``g``) become :math:`c\,W_0`, which for
    :math:`W_0 = V \Lambda V^{-1}` is :math:`V (c\Lambda) V^{-1}`: moduli scaled by
    ``c``, phases and eigenvectors unchanged.  ``c`` solves :math:`q(c) = `
    ``target`` where ``q`` is, on the trajectory ``inputs`` drive:

    * ``"jacobian_radius"``: the spectral radius of the time- and batch-averaged
      state Jacobian :math:`\bar J = \mathbb{E}_{t,b}\, \partial s_t/\partial s_{t-1}`
      (:func:`eigenrnn.analysis.mean_jacobian_eigenvalues`);
    * ``"gradient_decay"``: :math:`g(\text{horizon}) = \mathbb{E}_b \|\partial s_T / \partial s_{T-\text{horizon}}\|_2`
      (:func:`eigenrnn.analysis.gradient_decay_curve`; costs ``O(T B S^3)`` per evaluation).

    The root is found in :math:`(\ln c, \ln q)`: a secant step from ``c = 1``
    brackets it (steps at most a factor 4, ``c`` kept in ``[1/64, 64]``), then
    Illinois regula falsi (bisection where a value is infinite) closes it
    until :math:`|q/\text{target} - 1| \le` ``tol``.  Each evaluation is one
    forward pass of the batch; no randomness, so the same weights and inputs
    always give the same result.  If the target cannot be reached within
    ``max_evals`` evaluations or ``c`` in ``[1/64, 64]`` (e.g. the chain
    scheme, whose eigenvalues are all zero), the layer is left at the best
    scale found and ``converged`` is ``False``.

    Args:
        module: an nn.RNN/LSTM/GRU (any layers, bidirectional, LSTM ``proj_size``) or a cell,
            time-first; or a model with ``.rnn`` and ``.rnn_inputs`` (e.g.
            :class:`eigenrnn.models.SequenceModel`), whose inputs are then model inputs.
        inputs: ``(T, B, input_size)`` features for a recurrent module; for a model,
            its own inputs (``(T, B)`` token ids or ``(T, B, F)`` features).
        target: the value to reach, finite and ``> 0``.
        quantity: one of :data:`QUANTITIES`.
        horizon: the lag for ``"gradient_decay"``, in ``[1, T]`` (default ``T``);
            must be ``None`` for ``"jacobian_radius"``.
        max_evals: evaluations allowed per layer and direction, ``>= 2``.
        tol: relative tolerance on the quantity, in ``(0, 1)``.

    Returns:
        :class:`CalibrationResult`.

    >>> rnn = torch.nn.RNN(1, 32)
    >>> from eigenrnn.init import init_rnn
    >>> _ = init_rnn(rnn, "orthogonal", generator=torch.Generator().manual_seed(0))
    >>> x = torch.randn(50, 16, 1, generator=torch.Generator().manual_seed(1))
    >>> result = calibrate_(rnn, x, target=1.0)
    >>> result.converged, abs(result.achieved["l0.fwd"] - 1.0) <= 0.02
    (True, True)
    """
    _check_search_args(quantity, target, max_evals, tol)
    rnn, x = _recurrent_and_inputs(module, inputs)
    horizon = _checked_horizon(quantity, horizon, int(x.shape[0]))
    layers = _calibrated_blocks(rnn)
    measure = _measurer(rnn, x, quantity, horizon)
    achieved, scales, evaluations, converged = _calibrate_layers(layers, measure, float(target), tol, max_evals, quantity)
    return CalibrationResult(
        quantity=quantity,
        target=float(target),
        achieved=achieved,
        scales=scales,
        evaluations=evaluations,
        converged=converged,
        horizon=horizon,
        blocks=tuple(b.key for blocks in layers.values() for b in blocks),
    )


def _check_search_args(quantity: str, target: float, max_evals: int, tol: float) -> None:
    """Refuse a quantity, target, evaluation budget or tolerance :func:`calibrate_` cannot search with."""
    if quantity not in QUANTITIES:
        raise ValueError(bad_value("quantity", quantity, f"one of {', '.join(QUANTITIES)}"))
    if isinstance(target, bool) or not isinstance(target, (int, float)) or not (math.isfinite(target) and target > 0):
        raise ValueError(bad_value("target", target, "a finite number > 0"))
    check_int("max_evals", max_evals, 2)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not (0 < tol < 1):
        raise ValueError(bad_value("tol", tol, "a number in (0, 1)"))


def _checked_horizon(quantity: str, horizon: int | None, steps: int) -> int | None:
    """The lag of ``"gradient_decay"`` (default: all ``steps``); ``None`` for ``"jacobian_radius"``, which takes none."""
    if quantity == "jacobian_radius":
        if horizon is not None:
            raise ValueError(bad_value("horizon", horizon, "None for quantity 'jacobian_radius' (it uses every step)"))
        return None
    horizon = steps if horizon is None else horizon
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not (1 <= horizon <= steps):
        raise ValueError(bad_value("horizon", horizon, f"an int in [1, {steps}] (the inputs' length T)"))
    return horizon


def _calibrated_blocks(rnn: nn.Module) -> dict[tuple[int, int], list[Any]]:
    """``{(layer, direction): [blocks to scale]}``: the :data:`CALIBRATED_GATES` block of each layer and direction."""
    layers: dict[tuple[int, int], list[Any]] = {}
    for block in recurrent_blocks(rnn):
        if block.module is rnn and block.gate == MAIN_GATE[block.cell]:
            layers.setdefault((block.layer, block.direction), []).append(block)
    return layers


def _measurer(rnn: nn.Module, x: torch.Tensor, quantity: str, horizon: int | None):
    """``measure(layer, direction) -> q``: the quantity on the trajectory ``x`` drives, for the current weights."""
    from eigenrnn.analysis.jacobians import gradient_decay_curve, mean_jacobian_eigenvalues

    def measure(layer: int, direction: int) -> float:
        if quantity == "jacobian_radius":
            return float(mean_jacobian_eigenvalues(rnn, x, layer=layer, direction=direction).spectral_radius)
        return float(gradient_decay_curve(rnn, x, layer=layer, direction=direction).curve[horizon])

    return measure


def _calibrate_layers(layers, measure, target: float, tol: float, max_evals: int, quantity: str):
    """Solve every layer/direction in order; return ``(achieved, scales, evaluations, converged)``.

    An error (or Ctrl-C) midway puts every layer back to its original weights.
    """
    achieved: dict[str, float] = {}
    scales: dict[str, float] = {}
    evaluations = 0
    converged = True
    scalers = {key: _Layer(blocks) for key, blocks in layers.items()}
    try:
        for key in sorted(layers):
            used, ok = _calibrate_layer(key, scalers[key], measure, target, tol, max_evals, quantity, achieved, scales)
            evaluations += used
            converged = converged and ok
    except BaseException:
        for scaler in scalers.values():
            scaler.set(0.0)
        raise
    return achieved, scales, evaluations, converged


def _calibrate_layer(key, scaler, measure, target, tol, max_evals, quantity, achieved, scales) -> tuple[int, bool]:
    """Solve one layer/direction; record its value and scale; return ``(evaluations, converged)``."""
    layer, direction = key
    label = f"l{layer}.{'bwd' if direction else 'fwd'}"

    def objective(u: float) -> tuple[float, float]:
        scaler.set(u)
        q = measure(layer, direction)
        if math.isnan(q):
            return q, math.nan
        return q, (math.log(q) - math.log(target)) if q > 0 else -math.inf

    u, ok, q, used = _solve(objective, tol, max_evals)
    scaler.set(u)
    if not math.isfinite(q):
        raise ValueError(bad_value("inputs", f"a batch on which {quantity} is {q}", "inputs giving a finite quantity"))
    achieved[label], scales[label] = q, math.exp(u)
    return used, ok


def _solve(objective, tol: float, max_evals: int) -> tuple[float, bool, float, int]:
    """Find ``u`` with ``|exp(f(u)) - 1| <= tol``; return ``(best u, converged, its q, evaluations)``."""
    points: list[tuple[float, float, float]] = []  # (u, f, q)

    def evaluate(u: float) -> tuple[float, float]:
        q, f = objective(u)
        points.append((u, f, q))
        return q, f

    def best() -> tuple[float, float, float]:
        return min(points, key=lambda p: abs(p[1]) if not math.isnan(p[1]) else math.inf)

    def done(f: float) -> bool:
        return math.isfinite(f) and abs(math.expm1(f)) <= tol

    q, f = evaluate(0.0)
    if math.isnan(f):
        return 0.0, False, q, 1
    if done(f):
        return 0.0, True, q, 1
    # Bracketing: secant steps in (ln c, ln q), slope 1 (q proportional to c) at first.
    u_prev, f_prev = 0.0, f
    u_cur, f_cur = 0.0, f
    bracket = None
    while len(points) < max_evals:
        if len(points) >= 2 and math.isfinite(f_cur) and math.isfinite(f_prev) and u_cur != u_prev:
            slope = (f_cur - f_prev) / (u_cur - u_prev)
        else:
            slope = 1.0
        if math.isfinite(f_cur) and slope > 1e-3:
            step = -f_cur / slope
        else:
            step = -math.copysign(_MAX_STEP, f_cur)  # infinite value or a flat/falling stretch: walk on
        step = max(-_MAX_STEP, min(_MAX_STEP, step))
        u_next = max(-_LOG_SCALE_LIMIT, min(_LOG_SCALE_LIMIT, u_cur + step))
        if u_next == u_cur:
            break  # at the edge of the allowed range: unreachable
        q, f = evaluate(u_next)
        if math.isnan(f):
            break
        if done(f):
            return u_next, True, q, len(points)
        if (f > 0) != (f_cur > 0):
            bracket = (u_cur, f_cur, u_next, f)
            break
        u_prev, f_prev, u_cur, f_cur = u_cur, f_cur, u_next, f
    if bracket is not None:
        a, fa, b, fb = bracket
        side = 0
        while len(points) < max_evals:
            if math.isfinite(fa) and math.isfinite(fb):
                u = b - fb * (b - a) / (fb - fa)
            else:
                u = 0.5 * (a + b)
            q, f = evaluate(u)
            if math.isnan(f):
                break
            if done(f):
                return u, True, q, len(points)
            if (f > 0) == (fb > 0):
                b, fb = u, f
                if side == -1 and math.isfinite(fa):
                    fa /= 2  # Illinois: the retained end keeps winning, halve its weight
                side = -1
            else:
                a, fa = b, fb
                b, fb = u, f
                side = 1
    u, f, q = best()
    return u, False, q, len(points)


#: Training sequences :func:`calibrate_on_split` uses (the issue's prototype used 256 images).
CALIBRATION_EXAMPLES = 256


def calibrate_on_split(model: nn.Module, split: Any, spec: str, *, examples: int = CALIBRATION_EXAMPLES) -> dict[str, Any]:
    """Run :func:`calibrate_` for ``eigenrnn train --calibrate`` on training data; return the result's dict.

    The batch is the first ``examples`` training sequences in the split's
    order among those of the longest length, so the batch holds no padding
    (padded steps are not data and would bias the averaged Jacobian); for
    fixed-length tasks (pixel MNIST, synthetic) that is simply the first
    ``examples``.  No randomness is used, so the data order and the run's
    seeds are unaffected.

    Args:
        model: a model with ``.rnn`` and ``.rnn_inputs`` (:class:`eigenrnn.models.SequenceModel`).
        split: a :class:`eigenrnn.tasks.base.SequenceDataset`.
        spec: ``"QUANTITY=TARGET"`` (see :func:`parse_calibrate`).
        examples: most sequences to use.
    """
    quantity, target = parse_calibrate(spec)
    check_int("examples", examples)
    lengths = getattr(split, "lengths", None)
    if lengths is not None:
        index = torch.nonzero(lengths == lengths.max()).flatten()[:examples]
    else:
        index = torch.arange(min(len(split), examples), device=split.x.device)
    x = split.batch(index.to(split.x.device)).x
    return calibrate_(model, x, target=target, quantity=quantity).to_dict()
