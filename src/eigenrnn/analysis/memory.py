"""Input retention of the linear state-space model h_t = W h_{t-1} + U x_t."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from eigenrnn.analysis.decomposition import EigenDecomposition, as_square_matrix, decompose
from eigenrnn.errors import bad_value

__all__ = ["MemoryCurve", "linear_memory_curve"]


@dataclass(frozen=True, eq=False)
class MemoryCurve:
    r"""Linear memory of ``(W, U)``.

    Attributes:
        curve: :math:`\|W^s U\|_F / \|U\|_F` for ``s = 0..steps``, float64 ``(steps+1,)``.
        modes: mode-wise breakdown, float64 ``(steps+1, n)``:
            :math:`|\lambda_k|^s \, \|v_k\| \, \|(V^{-1}U)_{k,:}\| / \|U\|_F`, the
            Frobenius norm of mode ``k``'s rank-one term of :math:`W^s U`
            (columns follow ``decomposition.eigenvalues``).
        decomposition: the eigen-decomposition of ``W`` used for ``modes``.
    """

    curve: torch.Tensor
    modes: torch.Tensor
    decomposition: EigenDecomposition


def _input_matrix(U: Any, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``U`` as a finite non-zero ``(n, m)`` matrix in ``w``'s dtype, and its Frobenius norm."""
    u = U.detach().cpu() if isinstance(U, torch.Tensor) else torch.as_tensor(np.asarray(U))
    if u.ndim == 1:
        u = u[:, None]
    if u.ndim != 2 or u.shape[0] != w.shape[0]:
        raise ValueError(bad_value("U.shape", tuple(u.shape), f"({w.shape[0]}, m) to match W"))
    u = u.to(w.dtype)
    if not bool(torch.isfinite(u).all()):
        raise ValueError(bad_value("U", "a matrix containing NaN or inf", "finite entries"))
    u_norm = torch.linalg.matrix_norm(u, "fro")
    if float(u_norm) == 0.0:
        raise ValueError(bad_value("U", "an all-zero matrix", "a matrix with non-zero norm"))
    return u, u_norm


def _decomposition_of(w: torch.Tensor, decomposition: Any) -> EigenDecomposition:
    """``decomposition`` if it is the one of ``w``, :func:`decompose` of ``w`` if ``None``."""
    if decomposition is None:
        return decompose(w)
    if not isinstance(decomposition, EigenDecomposition):
        raise TypeError(bad_value("decomposition", type(decomposition).__name__, "an EigenDecomposition (from decompose)"))
    if decomposition.matrix.shape != w.shape or not bool(torch.equal(decomposition.matrix, w)):
        raise ValueError(bad_value("decomposition", "the decomposition of another matrix", "decompose(W)"))
    return decomposition


def linear_memory_curve(W: Any, U: Any, steps: int, *, decomposition: EigenDecomposition | None = None) -> MemoryCurve:
    r"""How much of an input ``s`` steps back survives in the linear SSM.

    For :math:`h_t = W h_{t-1} + U x_t` the state's response to :math:`x_{t-s}` is
    :math:`W^s U`, so

    .. math::
        m(s) = \frac{\|W^s U\|_F}{\|U\|_F}, \qquad s = 0, \dots, \text{steps},

    with :math:`m(0) = 1`; for :math:`W = \lambda I`, :math:`m(s) = |\lambda|^s`.
    ``curve`` is computed exactly by repeated products (valid for defective
    ``W`` too); ``modes`` splits :math:`W^s U = \sum_k \lambda_k^s v_k r_k` with
    :math:`r_k` the rows of :math:`V^{-1} U`.

    Args:
        W: recurrent matrix ``(n, n)``.
        U: input matrix ``(n, m)`` (e.g. a gate's rows of ``weight_ih``), not all zero.
        steps: largest lag, ``>= 0``.
        decomposition: :func:`~eigenrnn.analysis.decompose` of ``W``, when the
            caller already has it (it must be of this very ``W``); computed if ``None``.

    Returns:
        :class:`MemoryCurve`.

    >>> m = linear_memory_curve(0.5 * torch.eye(3), torch.ones(3, 2), 3)
    >>> m.curve.tolist()
    [1.0, 0.5, 0.25, 0.125]
    """
    w = as_square_matrix(W, "W")
    try:
        steps = operator.index(steps)
    except TypeError:
        raise TypeError(bad_value("steps", steps, "a non-negative int")) from None
    if steps < 0:
        raise ValueError(bad_value("steps", steps, "a non-negative int"))
    u, u_norm = _input_matrix(U, w)
    dec = _decomposition_of(w, decomposition)

    curve = torch.empty(steps + 1, dtype=torch.float64)
    current = u
    curve[0] = 1.0
    for s in range(1, steps + 1):
        current = w @ current
        curve[s] = torch.linalg.matrix_norm(current, "fro") / u_norm

    rows = torch.linalg.solve(dec.eigenvectors, u.to(dec.eigenvectors.dtype))
    weight = dec.eigenvectors.abs().square().sum(0).sqrt() * rows.abs().square().sum(1).sqrt() / u_norm
    lags = torch.arange(steps + 1, dtype=torch.float64)[:, None]
    modulus = dec.moduli[None, :]
    # 0**0 = 1 keeps the s = 0 term of a zero eigenvalue.
    modes = torch.where(lags == 0, torch.ones_like(modulus), modulus.pow(lags)) * weight[None, :]
    return MemoryCurve(curve=curve, modes=modes, decomposition=dec)
