"""Figures: titled, labelled, with legends, written atomically as PNG, without pyplot state."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eigenrnn.analysis import (
    SpectrumTracker,
    decompose,
    plot_decay_curves,
    plot_eigenvalue_trajectories,
    plot_eigenvalues,
    plot_mode_energy,
    plot_modulus_histogram,
    project,
    save_figure,
)

torch.set_num_threads(1)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _check(fig, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    assert isinstance(fig.canvas, FigureCanvasAgg)
    titles = [ax.get_title() for ax in fig.axes] + [fig.get_suptitle()]
    assert any(title in t for t in titles)
    plotted = [ax for ax in fig.axes if ax.get_xlabel() and ax.get_ylabel()]
    assert plotted, "every plot has labelled axes"
    assert any(ax.get_legend() is not None for ax in fig.axes)


def _spectra():
    gen = torch.Generator().manual_seed(0)
    init = decompose(torch.randn(8, 8, generator=gen) / 3).eigenvalues
    trained = decompose(torch.randn(8, 8, generator=gen) / 2).eigenvalues
    return init, trained


def test_complex_plane_overlay(tmp_path):
    init, trained = _spectra()
    fig = plot_eigenvalues({"init": init, "trained": trained.numpy()}, title="overlay")
    _check(fig, "overlay")
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0] == "unit circle" and labels[1].startswith("init") and labels[2].startswith("trained")
    # both sets are drawn with their exact coordinates
    offsets = ax.collections[1].get_offsets()
    assert np.allclose(offsets[:, 0], trained.real.numpy()) and np.allclose(offsets[:, 1], trained.imag.numpy())
    save_figure(fig, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == PNG_MAGIC
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_histogram_counts_every_eigenvalue():
    init, trained = _spectra()
    fig = plot_modulus_histogram({"init": init, "trained": trained}, bins=10, title="hist")
    _check(fig, "hist")
    heights = [sum(p.get_height() for p in container) for container in fig.axes[0].containers]
    assert heights == [8, 8]


def test_decay_curves_use_log_axis():
    fig = plot_decay_curves({"memory": 0.9 ** np.arange(20), "gradient": torch.tensor([1.0, 0.5, 0.0, 0.1])}, title="decay")
    _check(fig, "decay")
    assert fig.axes[0].get_yscale() == "log"


def test_eigenvalue_trajectories(tmp_path):
    gru = torch.nn.GRU(2, 6)
    tracker = SpectrumTracker(gru, every=1)
    for step in range(4):
        tracker.snapshot(step)
        with torch.no_grad():
            gru.weight_hh_l0.mul_(1.1)
    tracked = SpectrumTracker.load(tracker.save(tmp_path / "s.npz"))
    fig = plot_eigenvalue_trajectories(tracked, "l0.fwd.n", highlight=2)
    _check(fig, "l0.fwd.n")
    left = fig.axes[0]
    largest = np.abs(tracked.spectra["l0.fwd.n"][:, 0])
    assert any(line.get_label() == "|λ_1|" and np.allclose(line.get_ydata(), largest) for line in left.lines)
    assert np.all(np.diff(largest) > 0)  # W_hn grew by 10% per snapshot
    with pytest.raises(ValueError, match="block"):
        plot_eigenvalue_trajectories(tracked, "nope")


def test_mode_energy_heatmap():
    d = decompose(torch.randn(5, 5, generator=torch.Generator().manual_seed(1)) / 3)
    energy = project(torch.randn(30, 4, 5), d).energy
    fig = plot_mode_energy(energy, eigenvalues=d.eigenvalues, top=3, title="energy")
    _check(fig, "energy")
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (5, 30)
    assert np.allclose(image, np.log10(energy.numpy()).T)
    with pytest.raises(ValueError, match="energy.shape"):
        plot_mode_energy(np.zeros(5))


def test_bad_series_are_rejected():
    with pytest.raises(TypeError, match="spectra"):
        plot_eigenvalues([1, 2])
    with pytest.raises(TypeError, match="curves"):
        plot_decay_curves({})


def test_histogram_density_integrates_to_one():
    init, trained = _spectra()
    fig = plot_modulus_histogram({"init": init, "trained": trained}, bins=10, density=True)
    assert fig.axes[0].get_ylabel() == "density"
    for container in fig.axes[0].containers:
        area = sum(p.get_height() * p.get_width() for p in container)
        assert abs(area - 1.0) < 1e-9
