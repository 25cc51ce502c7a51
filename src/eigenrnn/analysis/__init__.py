"""Eigen analysis of recurrent networks (Dou & Principe, 2023).

* :func:`decompose`, :func:`decompose_module`: W = V Λ V⁻¹ of every gate block,
  with spectral radius, cond(V), Henrici departure from normality and time constants.
* :func:`project`: hidden states in the eigenbasis, z = V⁻¹ h, and energy per mode.
* :func:`linear_memory_curve`: ‖W^s U‖ / ‖U‖ of the linear state-space model.
* :func:`state_jacobians`, :func:`gradient_decay_curve`,
  :func:`mean_jacobian_eigenvalues`: the nonlinear dynamics along real trajectories.
* :func:`find_fixed_points`: fixed points under constant input and their stability.
* :class:`SpectrumTracker`: eigenvalues of every block during training.
* :mod:`eigenrnn.analysis.plots`: figures; :mod:`eigenrnn.analysis.overview`: the
  ``eigenrnn analyze`` report.

>>> import torch
>>> from eigenrnn.analysis import decompose_module
>>> spectra = decompose_module(torch.nn.LSTM(4, 8))
>>> list(spectra)
['l0.fwd.i', 'l0.fwd.f', 'l0.fwd.g', 'l0.fwd.o']
"""

from __future__ import annotations

from eigenrnn.analysis.decomposition import EigenDecomposition, decompose, decompose_module
from eigenrnn.analysis.fixed_points import FixedPoints, find_fixed_points
from eigenrnn.analysis.jacobians import GradientDecay, gradient_decay_curve, mean_jacobian_eigenvalues, state_jacobians
from eigenrnn.analysis.memory import MemoryCurve, linear_memory_curve
from eigenrnn.analysis.plots import (
    plot_decay_curves,
    plot_eigenvalue_trajectories,
    plot_eigenvalues,
    plot_mode_energy,
    plot_modulus_histogram,
    save_figure,
)
from eigenrnn.analysis.projection import Projection, project
from eigenrnn.analysis.tracking import SpectrumTracker, TrackedSpectra

__all__ = [
    "EigenDecomposition",
    "FixedPoints",
    "GradientDecay",
    "MemoryCurve",
    "Projection",
    "SpectrumTracker",
    "TrackedSpectra",
    "decompose",
    "decompose_module",
    "find_fixed_points",
    "gradient_decay_curve",
    "linear_memory_curve",
    "mean_jacobian_eigenvalues",
    "plot_decay_curves",
    "plot_eigenvalue_trajectories",
    "plot_eigenvalues",
    "plot_mode_energy",
    "plot_modulus_histogram",
    "project",
    "save_figure",
    "state_jacobians",
]
