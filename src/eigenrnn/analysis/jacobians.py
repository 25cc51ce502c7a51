r"""State Jacobians J_t = ∂s_t/∂s_{t−1} along real trajectories, and gradient decay.

Back-propagation through time multiplies these Jacobians, so their products
decide whether gradients vanish or explode (Pascanu et al., 2013); their
time average is the nonlinear counterpart of the recurrent matrix W whose
eigenvalues :func:`~eigenrnn.analysis.decompose` reads.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from eigenrnn.analysis.cells import CellParams, cell_jacobian, cell_step, mean_cell_jacobian
from eigenrnn.analysis.decomposition import EigenDecomposition, decompose
from eigenrnn.analysis.trajectory import Trajectory, resolve_trajectory
from eigenrnn.errors import bad_value

__all__ = ["GradientDecay", "state_jacobians", "gradient_decay_curve", "mean_jacobian_eigenvalues"]

_METHODS = ("closed", "autograd")
# Jacobian blocks are built this many float64 elements at a time (≈16 MiB):
# bounded memory for long sequences, and small enough to stay cache-friendly.
_CHUNK_ELEMENTS = 1 << 21


def _check_method(method: str) -> str:
    if method not in _METHODS:
        raise ValueError(bad_value("method", method, f"one of {_METHODS}"))
    return method


def _jacobians(params: CellParams, x: torch.Tensor, state: torch.Tensor, method: str) -> torch.Tensor:
    """Jacobians at ``(x, state)`` with leading dims ``(..., )``; float64 ``(..., S, S)``."""
    if method == "closed":
        return cell_jacobian(params, x, state)
    lead = state.shape[:-1]
    flat_x, flat_s = x.reshape(-1, x.shape[-1]), state.reshape(-1, state.shape[-1])
    jac = torch.func.vmap(torch.func.jacrev(lambda xi, si: cell_step(params, xi, si), argnums=1))(flat_x, flat_s)
    return jac.reshape(*lead, *jac.shape[-2:])


def _chunks(traj: Trajectory, method: str, *, reverse: bool) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(t0, J[t0:t1])`` float64 blocks of ``(t1 - t0, B, S, S)`` covering all steps."""
    params = traj.params.to(torch.float64)
    x = traj.inputs.to(torch.float64)
    prev = traj.states[:-1].to(torch.float64)
    steps, batch, size = prev.shape
    chunk = max(1, _CHUNK_ELEMENTS // (batch * size * size))
    starts = list(range(0, steps, chunk))
    for t0 in reversed(starts) if reverse else starts:
        t1 = min(t0 + chunk, steps)
        yield t0, _jacobians(params, x[t0:t1], prev[t0:t1], method)


def state_jacobians(
    module: nn.Module,
    inputs: torch.Tensor | None = None,
    h0: Any = None,
    *,
    layer: int = 0,
    direction: int = 0,
    method: str = "closed",
    trajectory: Trajectory | None = None,
) -> torch.Tensor:
    r"""Exact Jacobians :math:`J_t = \partial s_t / \partial s_{t-1}` along the trajectory ``inputs`` drives.

    The trajectory is computed by the module itself; the Jacobians are then
    evaluated at every ``(x_t, s_{t-1})`` at once, in float64.  ``method="closed"``
    uses the closed forms of :func:`~eigenrnn.analysis.cells.cell_jacobian`
    (tanh RNN: :math:`\mathrm{diag}(1 - h_t^2) W_{hh}`); ``"autograd"`` applies
    ``torch.func.vmap(jacrev(step))`` over all ``(t, b)`` to the cell's step map.

    The state ``s`` is ``h`` for RNN/GRU and ``(h, c)`` for LSTM (``S = P + H``,
    ``2H`` without projection).  For ``direction=1`` time runs in the reverse
    layer's processing order: ``J[0]`` is its first step (input position ``T-1``).

    Args:
        module: nn.RNN/LSTM/GRU (any layers, bidirectional, ``proj_size``) or a cell.
        inputs: ``(T, B, input_size)`` or ``(T, input_size)``, time-first.
        h0: initial state in the module's layout (see :func:`layer_trajectory`); zeros if ``None``.
        layer: which layer (its inputs are the real outputs of the layers below).
        direction: 0 forward, 1 reverse.
        method: ``"closed"`` or ``"autograd"``.
        trajectory: that layer's :func:`layer_trajectory`, computed once and
            shared between analyses, instead of ``inputs``/``h0`` (see
            :func:`~eigenrnn.analysis.trajectory.resolve_trajectory`).

    Returns:
        float64 ``(T, B, S, S)``, or ``(T, S, S)`` for unbatched inputs.

    >>> rnn = torch.nn.RNN(2, 3)
    >>> state_jacobians(rnn, torch.randn(5, 4, 2)).shape
    torch.Size([5, 4, 3, 3])
    """
    _check_method(method)
    traj = resolve_trajectory(module, inputs, h0, layer=layer, direction=direction, trajectory=trajectory)
    params = traj.params.to(torch.float64)
    jac = _jacobians(params, traj.inputs.to(torch.float64), traj.states[:-1].to(torch.float64), method)
    return jac if traj.batched else jac[:, 0]


@dataclass(frozen=True, eq=False)
class GradientDecay:
    r"""Norms of products of state Jacobians from the end of a sequence backwards.

    Attributes:
        curve: ``(T + 1,)``: for unbatched inputs the curve itself, for batched
            inputs the mean over the batch of ``per_sequence``.
        per_sequence: ``(B, T + 1)``,
            :math:`\|J_T J_{T-1} \cdots J_{T-s+1}\|_2` for ``s = 0..T`` (``B = 1`` unbatched).
        log_per_sequence: natural log of ``per_sequence``, ``(B, T + 1)``; finite
            even where the norm under- or overflows float64.
        singular_values: ``(B, T + 1, S)``, all singular values of each product,
            descending (``singular_values[..., 0] == per_sequence``).
    """

    curve: torch.Tensor
    per_sequence: torch.Tensor
    log_per_sequence: torch.Tensor
    singular_values: torch.Tensor


def gradient_decay_curve(
    module: nn.Module,
    inputs: torch.Tensor | None = None,
    h0: Any = None,
    *,
    layer: int = 0,
    direction: int = 0,
    method: str = "closed",
    trajectory: Trajectory | None = None,
) -> GradientDecay:
    r"""Empirical vanishing/exploding-gradient curve along a real trajectory.

    .. math::
        g(s) = \bigl\| J_T J_{T-1} \cdots J_{T-s+1} \bigr\|_2, \qquad g(0) = 1,

    the spectral norm of :math:`\partial s_T / \partial s_{T-s}`.  The product is
    accumulated backwards in float64 and renormalised every step (its log scale
    is tracked separately), so it never under- or overflows; Jacobians are built
    in chunks of time, so memory stays bounded for long sequences.

    Args:
        module, inputs, h0, layer, direction, method, trajectory: as in :func:`state_jacobians`.

    Returns:
        :class:`GradientDecay`; curves ``(T + 1,)`` and ``(B, T + 1)``.

    >>> gru = torch.nn.GRU(2, 4)
    >>> gradient_decay_curve(gru, torch.randn(6, 3, 2)).per_sequence.shape
    torch.Size([3, 7])
    """
    _check_method(method)
    traj = resolve_trajectory(module, inputs, h0, layer=layer, direction=direction, trajectory=trajectory)
    steps, batch, size = traj.states[:-1].shape
    device = traj.states.device
    log_sv = torch.empty(batch, steps + 1, size, dtype=torch.float64)
    log_sv[:, 0] = 0.0
    product = torch.eye(size, dtype=torch.float64, device=device).expand(batch, size, size)
    log_scale = torch.zeros(batch, dtype=torch.float64, device=device)
    for t0, jac in _chunks(traj, method, reverse=True):
        count = jac.shape[0]
        normalised = torch.empty(count, batch, size, size, dtype=torch.float64, device=device)
        scales = torch.empty(count, batch, dtype=torch.float64, device=device)
        for k in range(count - 1, -1, -1):
            product = product @ jac[k]
            norm = torch.linalg.matrix_norm(product, "fro")
            positive = norm > 0
            # A zero product (e.g. every relu unit off) stays zero with log scale -inf.
            product = product / torch.where(positive, norm, torch.ones_like(norm))[:, None, None]
            log_scale = log_scale + torch.where(positive, norm.log(), torch.full_like(norm, -math.inf))
            normalised[k] = product
            scales[k] = log_scale
        sv = torch.linalg.svdvals(normalised)  # (count, B, S)
        lags = steps - t0 - torch.arange(count)  # step t0 + k closes the product of lag steps - t0 - k
        log_sv[:, lags] = (sv.log() + scales[..., None]).transpose(0, 1).cpu()
    per_log = log_sv[..., 0]
    per_sequence = per_log.exp()
    curve = per_sequence.mean(dim=0) if traj.batched else per_sequence[0]
    return GradientDecay(curve=curve, per_sequence=per_sequence, log_per_sequence=per_log, singular_values=log_sv.exp())


def mean_jacobian_eigenvalues(
    module: nn.Module,
    inputs: torch.Tensor | None = None,
    h0: Any = None,
    *,
    layer: int = 0,
    direction: int = 0,
    method: str = "closed",
    trajectory: Trajectory | None = None,
) -> EigenDecomposition:
    r"""Eigen-decomposition of the time- and batch-averaged state Jacobian :math:`\bar J = \mathbb{E}_{t,b} J_t`.

    :math:`\bar J` is the nonlinear network's effective recurrent matrix on the
    data: for a tanh RNN it is :math:`\mathrm{diag}(\mathbb{E}[1 - h^2]) W_{hh}`
    averaged, so saturation shrinks the eigenvalues of ``W_hh`` towards 0.

    Args:
        module, inputs, h0, layer, direction, method, trajectory: as in :func:`state_jacobians`.

    Returns:
        :class:`~eigenrnn.analysis.EigenDecomposition` of :math:`\bar J` (``S × S``);
        ``.eigenvalues`` sorted by modulus descending.
    """
    _check_method(method)
    traj = resolve_trajectory(module, inputs, h0, layer=layer, direction=direction, trajectory=trajectory)
    if method == "closed":
        # Each closed-form term is diag(a_t) W, so the mean needs only the mean coefficients
        # (computed in float64 block by block, without a float64 copy of the trajectory).
        return decompose(mean_cell_jacobian(traj.params.to(torch.float64), traj.inputs, traj.states[:-1]))
    steps, batch, size = traj.states[:-1].shape
    total = torch.zeros(size, size, dtype=torch.float64, device=traj.states.device)
    for _, jac in _chunks(traj, method, reverse=False):
        total += jac.sum(dim=(0, 1))
    return decompose(total / (steps * batch))
