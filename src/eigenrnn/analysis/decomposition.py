"""Eigen-decomposition W = V Λ V⁻¹ of recurrent weight matrices (Dou & Principe, 2023, Sec. 3)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from eigenrnn.errors import bad_value
from eigenrnn.rnn import recurrent_blocks

__all__ = ["EigenDecomposition", "decompose", "decompose_module", "sort_by_modulus", "as_square_matrix"]


def as_square_matrix(matrix: Any, name: str = "W") -> torch.Tensor:
    """Validate ``matrix`` as a finite square 2-D array and return it as float64/complex128.

    Raises:
        TypeError: if it is not a tensor or array-like of numbers.
        ValueError: if it is not square 2-D, is empty, or holds NaN/inf.
    """
    if isinstance(matrix, torch.Tensor):
        tensor = matrix.detach()
    else:
        try:
            tensor = torch.as_tensor(np.asarray(matrix))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(bad_value(name, type(matrix).__name__, "a 2-D tensor or array of numbers")) from exc
    if tensor.dtype == torch.bool:
        raise TypeError(bad_value(name, str(tensor.dtype), "a real or complex numeric tensor"))
    if tensor.ndim != 2 or tensor.shape[0] != tensor.shape[1] or tensor.shape[0] == 0:
        raise ValueError(bad_value(f"{name}.shape", tuple(tensor.shape), "a non-empty square matrix (n, n)"))
    tensor = tensor.to(device="cpu", dtype=torch.complex128 if tensor.is_complex() else torch.float64)
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(bad_value(name, "a matrix containing NaN or inf", "finite entries"))
    return tensor


def sort_by_modulus(values: torch.Tensor) -> torch.Tensor:
    """Indices ordering complex ``values`` (last dim) by modulus descending, ties by phase ascending.

    Moduli equal to 12 significant digits count as ties, so a conjugate pair
    always comes out as ``(θ<0, θ>0)`` whatever rounding LAPACK applied.

    Shapes: ``values`` ``(..., n)`` -> indices ``(..., n)``.
    """
    modulus = values.abs()
    scale = modulus.amax(dim=-1, keepdim=True).clamp_min(1.0)
    key = torch.round(modulus / scale * 1e12)
    phase = torch.angle(values) if values.is_complex() else torch.where(values < 0, math.pi, 0.0)
    by_phase = torch.sort(phase, dim=-1, stable=True).indices
    by_key = torch.sort(-key.gather(-1, by_phase), dim=-1, stable=True).indices
    return by_phase.gather(-1, by_key)


def time_constants_of(eigenvalues: torch.Tensor) -> torch.Tensor:
    r"""τ_k = −1 / ln|λ_k|, +inf where |λ_k| ≥ 1 (0 where λ_k = 0).  Shape preserved."""
    modulus = eigenvalues.abs().to(torch.float64)
    tau = -1.0 / torch.log(modulus)
    return torch.where(modulus >= 1.0, torch.full_like(tau, math.inf), tau)


@dataclass(frozen=True, eq=False)
class EigenDecomposition:
    r"""Eigen-decomposition :math:`W = V \Lambda V^{-1}` of one square matrix.

    Attributes:
        matrix: the decomposed matrix, float64 (or complex128), ``(n, n)``.
        eigenvalues: complex128 ``(n,)``, by modulus descending (ties by phase).
        eigenvectors: complex128 ``(n, n)``; column ``k`` is the unit-norm
            eigenvector of ``eigenvalues[k]``.
        spectral_radius: :math:`\max_k |\lambda_k|`.
        eigenvector_condition: 2-norm condition number of ``V`` (1 for a normal
            matrix, large or inf for a nearly defective one).
        henrici: departure from normality
            :math:`\sqrt{\|W\|_F^2 - \sum_k |\lambda_k|^2}` (0 iff ``W`` is normal).
        time_constants: :math:`\tau_k = -1/\ln|\lambda_k|`, ``+inf`` where
            :math:`|\lambda_k| \ge 1`; float64 ``(n,)``.
        half_lives: :math:`\ln 2 \cdot \tau_k`, the number of steps over which mode
            ``k`` of the linear system halves; float64 ``(n,)``.
    """

    matrix: torch.Tensor
    eigenvalues: torch.Tensor
    eigenvectors: torch.Tensor
    spectral_radius: float
    eigenvector_condition: float
    henrici: float
    time_constants: torch.Tensor
    half_lives: torch.Tensor

    @property
    def size(self) -> int:
        return int(self.eigenvalues.shape[0])

    @property
    def moduli(self) -> torch.Tensor:
        """|λ_k|, float64 ``(n,)``, descending."""
        return self.eigenvalues.abs()

    @property
    def n_unstable(self) -> int:
        """Number of eigenvalues with |λ| > 1 (modes that grow in the linear system)."""
        return int((self.moduli > 1.0).sum())

    @property
    def max_finite_time_constant(self) -> float:
        """Largest finite τ_k, or ``inf`` when no mode has |λ| < 1."""
        finite = self.time_constants[torch.isfinite(self.time_constants)]
        return float(finite.max()) if finite.numel() else math.inf

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary (JSON-ready except for ``inf``, which the caller maps)."""
        return {
            "size": self.size,
            "spectral_radius": self.spectral_radius,
            "n_unstable": self.n_unstable,
            "eigenvector_condition": self.eigenvector_condition,
            "henrici": self.henrici,
            "eigenvalues_real": self.eigenvalues.real.tolist(),
            "eigenvalues_imag": self.eigenvalues.imag.tolist(),
            "moduli": self.moduli.tolist(),
            "time_constants": self.time_constants.tolist(),
            "half_lives": self.half_lives.tolist(),
        }


def decompose(matrix: Any) -> EigenDecomposition:
    r"""Eigen-decompose a square matrix :math:`W = V \Lambda V^{-1}`.

    In the linear state-space model :math:`h_t = W h_{t-1} + U x_t` the
    coordinates :math:`z_t = V^{-1} h_t` evolve independently,
    :math:`z_{t,k} = \lambda_k z_{t-1,k} + (V^{-1} U x_t)_k`, so mode ``k``
    remembers an input ``s`` steps back with weight :math:`\lambda_k^s` and
    time constant :math:`\tau_k = -1/\ln|\lambda_k|` (Dou & Principe, 2023).

    Computed in float64 with ``torch.linalg.eig``.

    Args:
        matrix: ``(n, n)`` real or complex tensor / array, finite.

    Returns:
        :class:`EigenDecomposition` with eigenvalues sorted by modulus descending.

    Raises:
        ValueError: non-square, empty or non-finite ``matrix``.

    >>> d = decompose(torch.diag(torch.tensor([0.5, -0.9, 0.1], dtype=torch.float64)))
    >>> d.eigenvalues.real.tolist(), d.spectral_radius
    ([-0.9, 0.5, 0.1], 0.9)
    """
    w = as_square_matrix(matrix, "matrix")
    values, vectors = torch.linalg.eig(w)
    order = sort_by_modulus(values)
    values, vectors = values[order], vectors[:, order]
    modulus = values.abs()
    frob2 = float(torch.linalg.matrix_norm(w, "fro") ** 2)
    # Rounding can make the difference slightly negative for normal matrices.
    henrici = math.sqrt(max(frob2 - float((modulus**2).sum()), 0.0))
    cond = float(torch.linalg.cond(vectors))
    if not math.isfinite(cond):
        cond = math.inf
    tau = time_constants_of(values)
    return EigenDecomposition(
        matrix=w,
        eigenvalues=values,
        eigenvectors=vectors,
        spectral_radius=float(modulus.max()),
        eigenvector_condition=cond,
        henrici=henrici,
        time_constants=tau,
        half_lives=tau * math.log(2.0),
    )


def sorted_eigenvalues(matrix: Any) -> torch.Tensor:
    """Eigenvalues only (complex128, ``(n,)``), in :func:`decompose`'s order; cheaper than ``decompose``."""
    values = torch.linalg.eigvals(as_square_matrix(matrix, "matrix"))
    return values[sort_by_modulus(values)]


def decompose_module(module: nn.Module) -> dict[str, EigenDecomposition]:
    """Decompose every recurrent gate block of every nn.RNN/LSTM/GRU (or cell) in ``module``.

    Blocks come from :func:`eigenrnn.init.recurrent_blocks`: each layer,
    direction and gate (``h`` for RNN, ``i f g o`` for LSTM, ``r z n`` for GRU)
    gives one square matrix; for an LSTM with ``proj_size=P`` it is the P×P loop
    matrix ``W_hr @ W_hh[gate]``.

    Args:
        module: a recurrent module or any model containing them.

    Returns:
        ``{block key: EigenDecomposition}`` in module, layer, direction, gate
        order; keys look like ``"rnn.l0.fwd.f"`` (module path, layer, direction, gate).

    Raises:
        TypeError: ``module`` holds no recurrent module.
        ValueError: a block holds NaN or inf (the message names the block).

    >>> list(decompose_module(torch.nn.GRU(3, 4)))
    ['l0.fwd.r', 'l0.fwd.z', 'l0.fwd.n']
    """
    result: dict[str, EigenDecomposition] = {}
    for block in recurrent_blocks(module):
        with torch.no_grad():
            matrix = block.matrix().detach()
        if not bool(torch.isfinite(matrix).all()):
            raise ValueError(bad_value(f"recurrent block {block.key!r} ({block.parameter})", "NaN or inf weights", "finite weights"))
        result[block.key] = decompose(matrix)
    return result
