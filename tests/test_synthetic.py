from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from eigenrnn.tasks import synthetic


def test_adding_shapes_markers_and_target():
    x, y = synthetic.adding(64, 31, seed=3)
    assert x.shape == (31, 64, 2) and y.shape == (64, 1)
    assert x.dtype == y.dtype == torch.float32
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values <= 1)).all()
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    half = 31 // 2
    assert (markers[:half].sum(0) == 1).all() and (markers[half:].sum(0) == 1).all()
    for i in range(64):
        marked = values[markers[:, i] == 1, i]
        assert torch.allclose(y[i, 0], marked.sum())
    # Both markers land on varied positions, not a fixed pair.
    assert len(set(markers[:half].argmax(0).tolist())) > 5


def test_adding_is_deterministic_per_seed():
    a, b, c = synthetic.adding(8, 20, seed=1), synthetic.adding(8, 20, seed=1), synthetic.adding(8, 20, seed=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_copy_memory_layout():
    n, delay, n_symbols, copy_len = 16, 7, 5, 4
    x, y = synthetic.copy_memory(n, delay, n_symbols=n_symbols, copy_len=copy_len, seed=0)
    vocab = synthetic.copy_memory_vocab(n_symbols)
    total = copy_len + delay + copy_len
    assert x.shape == y.shape == (total, n) and x.dtype == y.dtype == torch.long
    assert torch.equal(y[-copy_len:], x[:copy_len])  # the targets are the remembered inputs
    assert (y[:-copy_len] == vocab.blank).all()
    data = x[:copy_len]
    assert ((data >= 1) & (data <= n_symbols)).all()
    assert (x[copy_len + delay - 1] == vocab.delimiter).all()
    rest = torch.cat([x[copy_len : copy_len + delay - 1], x[copy_len + delay :]])
    assert (rest == vocab.blank).all()
    assert int(torch.cat([x, y]).max()) < vocab.vocab_size
    x2, _ = synthetic.copy_memory(n, delay, n_symbols=n_symbols, copy_len=copy_len, seed=0)
    assert torch.equal(x, x2)
    assert not torch.equal(x, synthetic.copy_memory(n, delay, n_symbols=n_symbols, copy_len=copy_len, seed=1)[0])


def test_copy_memory_baseline_is_memoryless_cross_entropy():
    delay, n_symbols, copy_len = 30, 8, 10
    _, y = synthetic.copy_memory(1, delay, n_symbols=n_symbols, copy_len=copy_len, seed=0)
    # Predict blank with certainty before the recall, uniform over the symbols during it.
    logits = torch.full((y.shape[0], 10), -1e9)
    logits[: -copy_len, 0] = 0.0
    logits[-copy_len:, 1 : n_symbols + 1] = 0.0
    loss = torch.nn.functional.cross_entropy(logits, y[:, 0])
    assert math.isclose(float(loss), synthetic.copy_memory_baseline(delay, n_symbols, copy_len), rel_tol=1e-6)


def test_sine_mixture_is_next_step_and_a_sum_of_k_sines():
    k, length = 2, 120
    x, y = synthetic.sine_mixture(5, length, seed=4, n_components=k)
    assert x.shape == y.shape == (length, 5, 1)
    assert torch.equal(x[1:], y[:-1])
    assert x.abs().max() <= 1.0
    # A sum of K sines obeys an order-2K linear recurrence: least squares leaves ~no residual.
    for i in range(5):
        s = torch.cat([x[:, i, 0], y[-1:, i, 0]]).double().numpy()
        lagged = np.stack([s[j : len(s) - 2 * k + j] for j in range(2 * k)], axis=1)
        coef, *_ = np.linalg.lstsq(lagged, s[2 * k :], rcond=None)
        assert np.abs(lagged @ coef - s[2 * k :]).max() < 1e-4
        # ...but not of order 2K - 2 (the components are really there).
        lagged = lagged[:, 2:]
        coef, *_ = np.linalg.lstsq(lagged, s[2 * k :], rcond=None)
        assert np.abs(lagged @ coef - s[2 * k :]).max() > 1e-3
    assert not torch.equal(x, synthetic.sine_mixture(5, length, seed=5, n_components=k)[0])


def test_mackey_glass_series_is_in_the_chaotic_range():
    series = synthetic.mackey_glass_series(3000)
    assert series.shape == (3000,)
    assert 0.2 < series.min() and series.max() < 1.4
    assert 0.15 < series.std() < 0.35 and 0.8 < series.mean() < 1.05
    assert series[-1000:].std() > 0.15  # it keeps moving: no fixed point or decay
    # Sensitive dependence on the initial history: a 1e-9 change grows a million-fold.
    nudged = synthetic.mackey_glass_series(3000, x0=1.2 + 1e-9)
    assert np.abs(series - nudged).max() > 1e-3
    # The integrator has converged at dt = 0.1: halving it changes the early trajectory very little.
    finer = synthetic.mackey_glass_series(100, dt=0.05)
    assert np.abs(series[:100] - finer).max() < 5e-3


def test_mackey_glass_windows_are_normalised_slices():
    x, y = synthetic.mackey_glass(6, 50, seed=1, series_length=800)
    assert x.shape == y.shape == (50, 6, 1)
    assert torch.equal(x[1:], y[:-1])
    series = torch.from_numpy(synthetic.mackey_glass_series(800))
    series = ((series - series.mean()) / series.std()).float()
    windows = series.unfold(0, 51, 1)  # every window of 51 samples
    for i in range(6):
        window = torch.cat([x[:, i, 0], y[-1:, i, 0]])
        assert torch.isclose(windows, window, atol=1e-6).all(dim=1).any()
    x2, _ = synthetic.mackey_glass(6, 50, seed=1, series_length=800)
    assert torch.equal(x, x2)
    assert not torch.equal(x, synthetic.mackey_glass(6, 50, seed=2, series_length=800)[0])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="length: got 1"):
        synthetic.adding(2, 1, seed=0)
    with pytest.raises(ValueError, match="delay: got 0"):
        synthetic.copy_memory(2, 0)
    with pytest.raises(ValueError, match="max_period"):
        synthetic.sine_mixture(2, 10, seed=0, min_period=10.0, max_period=5.0)
    with pytest.raises(ValueError, match="tau: got 17.05"):
        synthetic.mackey_glass_series(10, tau=17.05)
    with pytest.raises(TypeError, match="seed"):
        synthetic.adding(2, 10, seed=1.5)
