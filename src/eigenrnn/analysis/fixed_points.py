r"""Fixed points of a recurrent cell under constant input, and their linear stability.

Follows the approach of Sussillo & Barak (2013), "Opening the black box", as
implemented in google-research's fixed-point-finder: from states sampled on real
trajectories, minimise :math:`q(s) = \tfrac12 \|s - F(s, x^*)\|^2` (batched
Adam), keep the candidates with :math:`q <` ``tol``, remove duplicates and
linearise the cell at each point.  A final few Newton steps on
:math:`s - F(s, x^*) = 0` take Adam's approximate minima to machine precision.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from eigenrnn.analysis.cells import CellParams, cell_jacobian, cell_params, cell_step, check_layer
from eigenrnn.analysis.decomposition import sort_by_modulus
from eigenrnn.analysis.trajectory import Trajectory, resolve_trajectory
from eigenrnn.errors import bad_value
from eigenrnn.rnn import cell_of

__all__ = ["FixedPoints", "find_fixed_points"]

# Adam iterations between checks whether Newton polishing already converges everywhere.
_NEWTON_CHECK = 100


@dataclass(frozen=True, eq=False)
class FixedPoints:
    r"""Unique fixed points :math:`s^* = F(s^*, x^*)` found by :func:`find_fixed_points`.

    Attributes:
        points: float64 ``(K, S)``, by ascending ``q`` (``(h, c)`` for LSTM).
        q: residual :math:`\tfrac12 \|s^* - F(s^*, x^*)\|^2`, ``(K,)``.
        jacobians: :math:`\partial F / \partial s` at each point, ``(K, S, S)``.
        eigenvalues: complex128 ``(K, S)``, each row by modulus descending.
        is_stable: ``(K,)`` bool, spectral radius < 1 (a locally attracting point).
        x_star: the constant input, ``(I,)``.
        n_inits: number of starting states optimised.
        n_converged: starting states that reached ``q < tol`` (before de-duplication).
    """

    points: torch.Tensor
    q: torch.Tensor
    jacobians: torch.Tensor
    eigenvalues: torch.Tensor
    is_stable: torch.Tensor
    x_star: torch.Tensor
    n_inits: int
    n_converged: int

    def __len__(self) -> int:
        return int(self.points.shape[0])

    @property
    def spectral_radius(self) -> torch.Tensor:
        """Largest |eigenvalue| of each point's Jacobian, ``(K,)``."""
        return self.eigenvalues.abs()[:, 0] if len(self) else torch.zeros(0, dtype=torch.float64)


def _positive(name: str, value: Any, *, integer: bool = False, allow_zero: bool = False) -> Any:
    try:
        number = operator.index(value) if integer else float(value)
    except TypeError:
        raise TypeError(bad_value(name, value, "an int" if integer else "a number")) from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        raise ValueError(bad_value(name, value, "a non-negative number" if allow_zero else "a positive number"))
    return number


def _residual(params: CellParams, states: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (states - cell_step(params, x, states)).square().sum(dim=-1)


def _unique(points: torch.Tensor, radius: float) -> torch.Tensor:
    """Indices of ``points`` (already in priority order) with no earlier kept point within ``radius``."""
    close = torch.cdist(points, points) < radius
    suppressed = torch.zeros(points.shape[0], dtype=torch.bool)
    keep = []
    for i in range(points.shape[0]):
        if not suppressed[i]:
            keep.append(i)
            suppressed |= close[i]
    return torch.tensor(keep, dtype=torch.long)


def _newton(params: CellParams, states: torch.Tensor, x: torch.Tensor, steps: int) -> torch.Tensor:
    """Newton steps on ``s - F(s) = 0``, each accepted only where it lowers ``q``."""
    eye = torch.eye(states.shape[-1], dtype=states.dtype, device=states.device)
    for _ in range(steps):
        gap = states - cell_step(params, x, states)
        delta, info = torch.linalg.solve_ex(eye - cell_jacobian(params, x, states), gap)
        candidate = states - delta
        better = (info == 0) & torch.isfinite(candidate).all(-1) & (_residual(params, candidate, x) < _residual(params, states, x))
        states = torch.where(better[:, None], candidate, states)
    return states


class _Search(NamedTuple):
    """Validated settings of one fixed-point search (see :func:`find_fixed_points`)."""

    n_inits: int
    noise: float
    lr: float
    max_iters: int
    tol: float
    unique_tol: float
    newton_steps: int


def _search(n_inits: Any, noise: Any, lr: Any, max_iters: Any, tol: Any, unique_tol: Any, newton_steps: Any) -> _Search:
    return _Search(
        n_inits=_positive("n_inits", n_inits, integer=True),
        noise=_positive("noise", noise, allow_zero=True),
        lr=_positive("lr", lr),
        max_iters=_positive("max_iters", max_iters, integer=True, allow_zero=True),
        tol=_positive("tol", tol),
        unique_tol=_positive("unique_tol", unique_tol, allow_zero=True),
        newton_steps=_positive("newton_steps", newton_steps, integer=True, allow_zero=True),
    )


def _finite_params(module: nn.Module, layer: int, direction: int) -> CellParams:
    """float64 parameters of the layer, refusing NaN/inf (``q`` would be NaN everywhere and "0 points" a wrong answer)."""
    params = cell_params(module, layer, direction).to(torch.float64)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        weight = getattr(params, name)
        if weight is not None and not bool(torch.isfinite(weight).all()):
            raise ValueError(bad_value(f"module {name} (layer {layer}, direction {direction})",
                                       "a tensor containing NaN or inf", "finite weights"))
    return params


def _constant_input(x_star: Any, params: CellParams) -> torch.Tensor:
    """``x_star`` checked against the layer's input size, float64 on the weights' device, ``(I,)``."""
    if not isinstance(x_star, torch.Tensor) or tuple(x_star.shape) != (params.input_size,):
        got = tuple(x_star.shape) if isinstance(x_star, torch.Tensor) else type(x_star).__name__
        raise ValueError(bad_value("x_star", got, f"a tensor of shape ({params.input_size},)"))
    x = x_star.detach().to(device=params.weight_hh.device, dtype=torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise ValueError(bad_value("x_star", "a tensor containing NaN or inf", "finite values"))
    return x


def _pool(module: nn.Module, params: CellParams, *, inputs: Any, states: Any, trajectory: Any, h0: Any, layer: int,
          direction: int) -> torch.Tensor:
    """The ``(N, S)`` float64 pool of starting states: ``states``, or the visited states of a trajectory.

    Arguments as given to :func:`find_fixed_points`.
    """
    size = params.state_size
    if sum(v is not None for v in (inputs, states, trajectory)) != 1:
        raise ValueError("find_fixed_points: give exactly one of inputs= or trajectory= (a trajectory to sample) or states= (a pool)")
    if states is None:
        traj = resolve_trajectory(module, inputs, h0, layer=layer, direction=direction, trajectory=trajectory)
        pool = traj.states[1:].reshape(-1, size)
    elif not isinstance(states, torch.Tensor) or states.ndim != 2 or states.shape[1] != size or states.shape[0] == 0:
        got = tuple(states.shape) if isinstance(states, torch.Tensor) else type(states).__name__
        raise ValueError(bad_value("states.shape", got, f"(N, {size}) with N >= 1"))
    else:
        pool = states
    pool = pool.detach().to(device=params.weight_hh.device, dtype=torch.float64)
    if not bool(torch.isfinite(pool).all()):
        raise ValueError(bad_value("states", "a pool containing NaN or inf", "finite values"))
    return pool


def _starts(pool: torch.Tensor, search: _Search, generator: torch.Generator | None) -> torch.Tensor:
    """``n_inits`` rows of ``pool`` (without replacement when possible), plus noise."""
    device = pool.device
    # Random draws on the CPU (where the generator lives), whatever the module's device.
    if pool.shape[0] >= search.n_inits:
        index = torch.randperm(pool.shape[0], generator=generator)[: search.n_inits]
    else:
        index = torch.randint(pool.shape[0], (search.n_inits,), generator=generator)
    start = pool[index.to(device)]
    if search.noise > 0:
        start = start + search.noise * torch.randn(start.shape, generator=generator, dtype=torch.float64).to(device)
    return start


def _minimise(params: CellParams, start: torch.Tensor, x: torch.Tensor, search: _Search) -> torch.Tensor:
    """Adam on ``q`` from every start at once, stopping early once all (or Newton from all) reach ``tol``."""
    tol, newton_steps = search.tol, search.newton_steps
    with torch.enable_grad():
        candidate = start.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([candidate], lr=search.lr)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.01 ** (1.0 / max(search.max_iters, 1)))
        for iteration in range(search.max_iters):
            optimizer.zero_grad()
            q = _residual(params, candidate, x)
            if bool((q < tol).all()):
                break
            # Adam's fixed-step noise floor can sit above tol; stop once Newton can finish every start.
            if newton_steps and iteration % _NEWTON_CHECK == _NEWTON_CHECK - 1:
                with torch.no_grad():
                    if bool((_residual(params, _newton(params, candidate.detach(), x, newton_steps), x) < tol).all()):
                        break
            q.sum().backward()
            optimizer.step()
            schedule.step()
    return candidate.detach()


@torch.no_grad()
def _polish(params: CellParams, candidate: torch.Tensor, x: torch.Tensor, search: _Search) -> FixedPoints:
    """Newton-polish the minima, keep the unique ones with ``q < tol`` and linearise the cell there."""
    size = params.state_size
    found = _newton(params, candidate, x, search.newton_steps)
    q = _residual(params, found, x)
    ok = (torch.isfinite(q) & (q < search.tol)).cpu()
    found, q = found.cpu()[ok], q.cpu()[ok]
    order = torch.argsort(q, stable=True)
    found, q = found[order], q[order]
    unique = _unique(found, search.unique_tol)
    found, q = found[unique], q[unique]
    if found.shape[0]:
        jac = cell_jacobian(params, x.expand(found.shape[0], -1), found.to(x.device)).cpu()
        eig = torch.linalg.eigvals(jac)
        eig = eig.gather(-1, sort_by_modulus(eig))
    else:
        jac = torch.zeros(0, size, size, dtype=torch.float64)
        eig = torch.zeros(0, size, dtype=torch.complex128)
    stable = eig.abs()[:, 0] < 1 if found.shape[0] else torch.zeros(0, dtype=torch.bool)
    return FixedPoints(points=found, q=q, jacobians=jac, eigenvalues=eig, is_stable=stable, x_star=x.cpu(),
                       n_inits=search.n_inits, n_converged=int(ok.sum()))


def find_fixed_points(
    module: nn.Module,
    x_star: torch.Tensor,
    n_inits: int = 64,
    *,
    inputs: torch.Tensor | None = None,
    states: torch.Tensor | None = None,
    trajectory: Trajectory | None = None,
    h0: Any = None,
    layer: int = 0,
    direction: int = 0,
    noise: float = 0.0,
    lr: float = 0.05,
    max_iters: int = 2000,
    tol: float = 1e-12,
    unique_tol: float = 1e-3,
    newton_steps: int = 5,
    generator: torch.Generator | None = None,
) -> FixedPoints:
    r"""Find fixed points :math:`s^* = F(s^*, x^*)` of one layer/direction of a recurrent module.

    Starting states are drawn (without replacement when possible) from a pool:
    every state the layer visits when ``inputs`` drive it (or along
    ``trajectory``), or the rows of ``states``; Gaussian noise of standard
    deviation ``noise`` is added.  All are optimised together in float64 with
    Adam on :math:`q(s) = \tfrac12\|s - F(s, x^*)\|^2` (learning rate decaying
    100× over ``max_iters``; stops early once every start has ``q < tol``,
    directly or after Newton polishing), then polished with ``newton_steps``
    Newton steps.  Points with ``q < tol`` are kept; of points closer than
    ``unique_tol`` (Euclidean) the one with the lower ``q`` is kept.

    Args:
        module: nn.RNN/LSTM/GRU or a cell.
        x_star: constant input of that layer, ``(I,)`` (zeros for the autonomous system).
        n_inits: number of starting states.
        inputs: ``(T, B, input_size)`` / ``(T, input_size)`` module inputs whose
            trajectory supplies the pool (exactly one of ``inputs``/``trajectory``/``states``).
        states: ``(N, S)`` pool of starting states (``(h, c)`` concatenated for LSTM).
        trajectory: that layer's :func:`~eigenrnn.analysis.trajectory.layer_trajectory`,
            already computed; its visited states are the pool.
        h0: initial state for the ``inputs`` trajectory, module layout.
        layer, direction: which layer / direction.
        noise: std of Gaussian noise added to the starting states.
        lr, max_iters: Adam learning rate and iteration budget.
        tol: largest ``q`` accepted as a fixed point.
        unique_tol: distance below which two points are the same.
        newton_steps: Newton polishing steps (0 to skip).
        generator: source of the sampling and noise randomness.

    Returns:
        :class:`FixedPoints` (possibly empty).

    >>> rnn = torch.nn.RNN(1, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = rnn.weight_hh_l0.copy_(2 * torch.eye(2))
    >>> gen = torch.Generator().manual_seed(0)
    >>> pool = torch.rand(200, 2, generator=gen) * 2.4 - 1.2
    >>> fp = find_fixed_points(rnn, torch.zeros(1), 64, states=pool, generator=gen)
    >>> len(fp), int(fp.is_stable.sum())
    (9, 4)
    """
    cell_of(module)  # refuses a non-recurrent module before anything else
    layer, direction = check_layer(module, layer, direction)
    search = _search(n_inits, noise, lr, max_iters, tol, unique_tol, newton_steps)
    params = _finite_params(module, layer, direction)
    x = _constant_input(x_star, params)
    pool = _pool(module, params, inputs=inputs, states=states, trajectory=trajectory, h0=h0, layer=layer, direction=direction)
    candidate = _minimise(params, _starts(pool, search, generator), x, search)
    return _polish(params, candidate, x, search)
