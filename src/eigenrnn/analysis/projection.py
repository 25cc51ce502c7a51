"""Hidden states in the eigenbasis of a recurrent matrix: z_t = V⁻¹ h_t."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from eigenrnn.analysis.decomposition import EigenDecomposition
from eigenrnn.errors import bad_value

__all__ = ["Projection", "project"]


@dataclass(frozen=True, eq=False)
class Projection:
    r"""Coordinates of a trajectory in an eigenbasis.

    Attributes:
        modes: :math:`z = V^{-1} h`, complex, same leading shape as the input
            trajectory: ``(T, B, n)`` or ``(T, n)``.
        energy: :math:`\mathbb{E}_b |z_{t,b,k}|^2`, float ``(T, n)``: energy per
            mode over time, averaged over the batch.
    """

    modes: torch.Tensor
    energy: torch.Tensor

    @property
    def relative_energy(self) -> torch.Tensor:
        """``energy`` normalised to sum to 1 over modes at each time step, ``(T, n)``."""
        total = self.energy.sum(dim=-1, keepdim=True)
        return self.energy / torch.where(total > 0, total, torch.ones_like(total))


def project(hidden_states: torch.Tensor, decomposition: EigenDecomposition) -> Projection:
    r"""Express hidden states in the eigenbasis of ``decomposition``: :math:`z = V^{-1} h`.

    One linear solve for all time steps and batch entries (no per-step loop).
    For a real ``W`` the eigenbasis is complex; ``z`` is complex and a conjugate
    pair of modes carries equal energy.  The solve runs in ``complex64`` for a
    float32/float16 trajectory and in ``complex128`` otherwise, so its relative
    error is about ``cond(V)`` times that precision.

    Args:
        hidden_states: real or complex ``(T, B, n)`` or ``(T, n)``.
        decomposition: :func:`~eigenrnn.analysis.decompose` of an ``(n, n)`` matrix.

    Returns:
        :class:`Projection` with ``modes`` (shape of the input) and ``energy`` ``(T, n)``.

    Raises:
        TypeError: ``hidden_states`` is not a tensor or ``decomposition`` not an EigenDecomposition.
        ValueError: wrong rank, last dimension different from ``n``, or NaN/inf states.

    >>> from eigenrnn.analysis import decompose
    >>> d = decompose(torch.tensor([[0.9, 0.0], [0.0, 0.5]]))
    >>> project(torch.ones(3, 2), d).energy.shape
    torch.Size([3, 2])
    """
    if not isinstance(hidden_states, torch.Tensor):
        raise TypeError(bad_value("hidden_states", type(hidden_states).__name__, "a torch.Tensor"))
    if not isinstance(decomposition, EigenDecomposition):
        raise TypeError(bad_value("decomposition", type(decomposition).__name__, "an EigenDecomposition (from decompose)"))
    n = decomposition.size
    if hidden_states.ndim not in (2, 3) or hidden_states.shape[-1] != n:
        raise ValueError(bad_value("hidden_states.shape", tuple(hidden_states.shape), f"(T, B, {n}) or (T, {n})"))
    if not bool(torch.isfinite(hidden_states).all()):
        raise ValueError(bad_value("hidden_states", "a tensor containing NaN or inf", "finite states"))
    low_precision = hidden_states.dtype in (torch.float32, torch.float16, torch.bfloat16, torch.complex64)
    cdtype = torch.complex64 if low_precision else torch.complex128
    v = decomposition.eigenvectors.to(device=hidden_states.device, dtype=cdtype)
    flat = hidden_states.reshape(-1, n).to(cdtype)
    # Row form X Vᵀ = H  <=>  Vᵀ-solve from the right: avoids transposing the (T·B, n) block.
    modes = torch.linalg.solve(v.mT, flat, left=False).reshape(hidden_states.shape)
    power = modes.real.square().add_(modes.imag.square())
    energy = power.mean(dim=1) if hidden_states.ndim == 3 else power
    return Projection(modes=modes, energy=energy)
