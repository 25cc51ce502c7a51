"""Figures for the eigen analysis.

Every function builds a :class:`matplotlib.figure.Figure` directly (Agg canvas),
never through ``pyplot``: no global figure registry, no backend switch in the
caller's process, safe on machines without a display.  Save with
:func:`save_figure`, which writes atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from eigenrnn.errors import bad_value
from eigenrnn.io import atomic_path

__all__ = [
    "plot_eigenvalues",
    "plot_modulus_histogram",
    "plot_decay_curves",
    "plot_eigenvalue_trajectories",
    "plot_mode_energy",
    "new_figure",
    "save_figure",
]


def new_figure(width: float = 6.0, height: float = 5.0):
    """An empty ``width`` x ``height`` inch Figure on its own Agg canvas (no pyplot), constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _numpy(values: Any, name: str, *, complex_: bool = False) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.number)):
        raise TypeError(bad_value(name, str(array.dtype), "numbers"))
    return array.astype(np.complex128 if complex_ else np.float64)


def _check_mapping(series: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(series, Mapping) or not series:
        raise TypeError(bad_value(name, type(series).__name__, "a non-empty mapping label -> values"))
    return series


def _unit_circle(ax) -> None:
    theta = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(theta), np.sin(theta), color="0.4", lw=1, ls="--", label="unit circle")


def plot_eigenvalues(spectra: Mapping[str, Any], *, title: str = "Eigenvalues") -> Any:
    """Eigenvalues on the complex plane with the unit circle, one marker set per entry.

    Pass ``{"init": λ0, "trained": λ1}`` for the init-vs-trained overlay.

    Args:
        spectra: ``{label: complex values (n,)}``.
        title: figure title.
    """
    spectra = _check_mapping(spectra, "spectra")
    fig = new_figure()
    ax = fig.add_subplot()
    _unit_circle(ax)
    markers = "o^sxD+v*"
    extent = 1.0
    for i, (label, values) in enumerate(spectra.items()):
        lam = _numpy(values, f"spectra[{label!r}]", complex_=True).ravel()
        extent = max(extent, float(np.nanmax(np.abs(lam), initial=0.0)))
        ax.scatter(lam.real, lam.imag, s=16, marker=markers[i % len(markers)], alpha=0.75, label=f"{label} (ρ={np.nanmax(np.abs(lam), initial=0):.3g})")
    lim = 1.08 * extent
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.axhline(0, color="0.8", lw=0.5)
    ax.axvline(0, color="0.8", lw=0.5)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    return fig


def plot_modulus_histogram(
    spectra: Mapping[str, Any], *, bins: int = 30, title: str = "Eigenvalue moduli", density: bool = False
) -> Any:
    """Histogram of |λ| per entry, with the stability boundary |λ| = 1 marked.

    Args:
        spectra: ``{label: complex values (n,)}``.
        bins: number of bins shared by all entries.
        title: figure title.
        density: normalize each entry to unit area, to compare sets of different sizes.
    """
    spectra = _check_mapping(spectra, "spectra")
    moduli = {label: np.abs(_numpy(v, f"spectra[{label!r}]", complex_=True).ravel()) for label, v in spectra.items()}
    top = max(1.05, max(float(np.nanmax(m, initial=0.0)) for m in moduli.values()) * 1.02)
    edges = np.linspace(0.0, top, bins + 1)
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    for label, m in moduli.items():
        ax.hist(m[np.isfinite(m)], bins=edges, alpha=0.55, label=f"{label} (n={m.size})", density=density)
    ax.axvline(1.0, color="k", ls="--", lw=1, label="|λ| = 1")
    ax.set_xlabel("|λ|")
    ax.set_ylabel("density" if density else "count")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return fig


def plot_decay_curves(
    curves: Mapping[str, Any],
    *,
    title: str = "Memory and gradient decay",
    xlabel: str = "lag s (steps)",
    ylabel: str = "norm ratio",
) -> Any:
    """Curves such as :func:`linear_memory_curve` and :func:`gradient_decay_curve` on a log y axis.

    Non-positive values (an exactly vanished product) are left out of the log axis.

    Args:
        curves: ``{label: values (s_max + 1,)}``, index = lag.
    """
    curves = _check_mapping(curves, "curves")
    fig = new_figure(6.5, 4.0)
    ax = fig.add_subplot()
    for label, values in curves.items():
        y = _numpy(values, f"curves[{label!r}]").ravel()
        y = np.where(y > 0, y, np.nan)
        ax.plot(np.arange(y.shape[0]), y, label=label)
    ax.set_yscale("log")
    ax.axhline(1.0, color="0.5", lw=0.8, ls=":", label="1")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize="small")
    return fig


def plot_eigenvalue_trajectories(tracked: Any, block: str, *, highlight: int = 5, title: str | None = None) -> Any:
    """How one block's eigenvalues moved during training (from :class:`SpectrumTracker`).

    Left: |λ_k| against the optimizer step for every modulus rank ``k`` (the
    ``highlight`` largest labelled).  Right: all snapshots on the complex plane,
    coloured by step, with the first and last snapshot marked.

    Args:
        tracked: a :class:`~eigenrnn.analysis.TrackedSpectra`.
        block: block key, e.g. ``"rnn.l0.fwd.h"``.
        highlight: number of leading modes drawn in colour and labelled.
    """
    if block not in tracked.spectra:
        raise ValueError(bad_value("block", block, f"one of {list(tracked.spectra)}"))
    steps = np.asarray(tracked.steps)
    lam = np.asarray(tracked.spectra[block])
    if lam.shape[0] == 0:
        raise ValueError(bad_value("tracked", "no snapshots", "at least one snapshot"))
    fig = new_figure(11.0, 4.6)
    left, right = fig.subplots(1, 2)
    modulus = np.abs(lam)
    for k in range(modulus.shape[1] - 1, -1, -1):
        if k < highlight:
            left.plot(steps, modulus[:, k], lw=1.6, marker="." if steps.size < 30 else None, label=f"|λ_{k + 1}|")
        else:
            left.plot(steps, modulus[:, k], color="0.75", lw=0.6, label="other modes" if k == highlight else None)
    left.axhline(1.0, color="k", ls="--", lw=1, label="|λ| = 1")
    left.set_xlabel("optimizer step")
    left.set_ylabel("|λ_k| (rank k by modulus)")
    left.set_title("moduli over training")
    handles, labels = left.get_legend_handles_labels()
    left.legend(handles[::-1], labels[::-1], fontsize="small")

    _unit_circle(right)
    colours = np.repeat(steps, lam.shape[1])
    points = right.scatter(lam.real.ravel(), lam.imag.ravel(), c=colours, s=6, cmap="viridis", alpha=0.6)
    right.scatter(lam[0].real, lam[0].imag, facecolors="none", edgecolors="tab:red", s=28, label=f"step {steps[0]}")
    right.scatter(lam[-1].real, lam[-1].imag, marker="x", color="k", s=22, label=f"step {steps[-1]}")
    fig.colorbar(points, ax=right, label="optimizer step")
    right.set_aspect("equal")
    right.set_xlabel("Re λ")
    right.set_ylabel("Im λ")
    right.set_title("eigenvalues over training")
    right.legend(fontsize="small", loc="upper right")
    fig.suptitle(title or f"Eigenvalue trajectories: {block}")
    return fig


def plot_mode_energy(energy: Any, *, eigenvalues: Any = None, top: int = 4, title: str = "Hidden-state energy per mode") -> Any:
    """Energy of the hidden state in each eigenmode over time (from :func:`project`).

    Top: heatmap of :math:`\\log_{10}` energy, modes (sorted by |λ|) against time.
    Bottom: share of the total energy held by the ``top`` most energetic modes.

    Args:
        energy: ``(T, n)`` non-negative, e.g. ``project(h, d).energy``.
        eigenvalues: optional ``(n,)``; adds |λ| to the bottom panel's legend.
        top: number of modes in the bottom panel.
    """
    e = _numpy(energy, "energy")
    if e.ndim != 2 or e.shape[0] == 0 or e.shape[1] == 0:
        raise ValueError(bad_value("energy.shape", e.shape, "(T, n) with T, n >= 1"))
    fig = new_figure(7.0, 6.0)
    heat, share = fig.subplots(2, 1, height_ratios=(2, 1), sharex=True)
    positive = e[e > 0]
    floor = positive.min() if positive.size else 1e-300
    image = heat.imshow(
        np.log10(np.maximum(e, floor)).T,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        extent=(-0.5, e.shape[0] - 0.5, 0.5, e.shape[1] + 0.5),
    )
    fig.colorbar(image, ax=heat, label="log10 energy")
    heat.set_ylabel("mode k (by |λ| desc.)")
    heat.set_title(title)
    total = e.sum(axis=1)
    fraction = e / np.where(total > 0, total, 1.0)[:, None]
    lam = None if eigenvalues is None else np.abs(_numpy(eigenvalues, "eigenvalues", complex_=True).ravel())
    for k in np.argsort(-e.sum(axis=0), kind="stable")[:top]:
        suffix = "" if lam is None else f", |λ|={lam[k]:.3f}"
        share.plot(np.arange(e.shape[0]), fraction[:, k], label=f"mode {k + 1}{suffix}")
    share.set_xlabel("time step t")
    share.set_ylabel("energy share")
    share.set_ylim(0, 1)
    share.legend(fontsize="small", ncols=2)
    return fig


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int = 110) -> None:
    """Write ``fig`` as PNG to ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)
