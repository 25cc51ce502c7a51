"""Synthetic regression and memory tasks, all seeded explicitly and time-first.

* :func:`adding` - the adding problem (regression, long-range dependency);
* :func:`copy_memory` - the copy-memory task (classification with long memory);
* :func:`sine_mixture` - next-step prediction of random mixtures of sines;
* :func:`mackey_glass` - next-step prediction of the chaotic Mackey-Glass series.

Each function draws from a private ``torch.Generator`` seeded with ``seed``;
nothing touches the global random state.

The task adapters (:data:`ADDING`, :data:`COPY`, :data:`SINE`,
:data:`MACKEY_GLASS`) serve them as the tasks ``adding``, ``copy``, ``sine``
and ``mackey-glass``; each split is generated from its own seed.

>>> COPY(delay=50, copy_len=10).horizon
70
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from eigenrnn.errors import bad_value, check_int
from eigenrnn.models import InputSpec
from eigenrnn.tasks.base import DATA_SPLITS, SequenceDataset, Task, TaskData, TaskFactory, split_seed

__all__ = [
    "adding",
    "copy_memory",
    "CopyMemoryVocab",
    "copy_memory_vocab",
    "copy_memory_baseline",
    "sine_mixture",
    "mackey_glass",
    "mackey_glass_series",
    "ADDING",
    "COPY",
    "SINE",
    "MACKEY_GLASS",
]


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(bad_value(name, value, "a finite number > 0"))


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(bad_value("seed", seed, "an int"))
    return torch.Generator().manual_seed(seed)


def adding(n: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997; protocol of Le et al. 2015).

    Each step carries two inputs: a value drawn from U[0, 1] and a marker.
    Exactly two markers are 1, one at a uniformly random step of the first half
    ``[0, length // 2)`` and one in the second half ``[length // 2, length)``;
    the target is the sum of the two marked values.  Predicting 1 (the mean)
    gives a mean squared error of 1/6 ~ 0.167, the usual baseline.

    Args:
        n: number of sequences.
        length: sequence length ``T`` (>= 2).
        seed: int seed.

    Returns:
        ``(x, y)``: float32 ``(T, n, 2)`` with features ``[value, marker]``, and
        float32 ``(n, 1)``.

    >>> x, y = adding(4, 10, seed=0)
    >>> x.shape, y.shape, x[..., 1].sum(0).tolist()
    (torch.Size([10, 4, 2]), torch.Size([4, 1]), [2.0, 2.0, 2.0, 2.0])
    """
    check_int("n", n)
    check_int("length", length, 2)
    g = _generator(seed)
    values = torch.rand(length, n, generator=g)
    half = length // 2
    first = torch.randint(0, half, (n,), generator=g)
    second = torch.randint(half, length, (n,), generator=g)
    columns = torch.arange(n)
    markers = torch.zeros(length, n)
    markers[first, columns] = 1.0
    markers[second, columns] = 1.0
    target = values[first, columns] + values[second, columns]
    return torch.stack([values, markers], dim=-1), target.unsqueeze(1)


@dataclass(frozen=True)
class CopyMemoryVocab:
    """Token ids of :func:`copy_memory` for ``n_symbols`` data symbols.

    ``blank`` = 0, data symbols ``1..n_symbols``, ``delimiter`` = ``n_symbols + 1``;
    ``vocab_size`` = ``n_symbols + 2`` covers both inputs and targets.
    """

    n_symbols: int
    blank: int
    delimiter: int
    vocab_size: int


def copy_memory_vocab(n_symbols: int = 8) -> CopyMemoryVocab:
    """The token layout of :func:`copy_memory`.

    >>> copy_memory_vocab(8).vocab_size
    10
    """
    check_int("n_symbols", n_symbols)
    return CopyMemoryVocab(n_symbols=n_symbols, blank=0, delimiter=n_symbols + 1, vocab_size=n_symbols + 2)


def copy_memory(
    n: int, delay: int, n_symbols: int = 8, copy_len: int = 10, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """The copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016).

    An input sequence of ``T = copy_len + delay + copy_len`` tokens starts with
    ``copy_len`` symbols drawn uniformly from ``1..n_symbols``, followed by
    blanks (0); the delimiter ``n_symbols + 1`` sits at step
    ``copy_len + delay - 1`` (the last step of the delay) and tells the model to
    reproduce the symbols during the final ``copy_len`` steps.  The target is
    blank everywhere except the last ``copy_len`` steps, which equal the first
    ``copy_len`` inputs.  A per-step classification over
    ``copy_memory_vocab(n_symbols).vocab_size`` classes; a memoryless model's
    best cross-entropy is :func:`copy_memory_baseline`.

    Args:
        n: number of sequences.
        delay: steps between the end of the symbols and the start of recall (>= 1).
        n_symbols: number of distinct data symbols.
        copy_len: number of symbols to remember.
        seed: int seed.

    Returns:
        ``(x, y)``: int64 ``(T, n)`` each.

    >>> x, y = copy_memory(2, delay=5, copy_len=3, seed=0)
    >>> x.shape, bool(torch.equal(y[-3:], x[:3]))
    (torch.Size([11, 2]), True)
    """
    check_int("n", n)
    check_int("delay", delay)
    check_int("copy_len", copy_len)
    vocab = copy_memory_vocab(n_symbols)
    g = _generator(seed)
    total = copy_len + delay + copy_len
    symbols = torch.randint(1, n_symbols + 1, (copy_len, n), generator=g)
    x = torch.full((total, n), vocab.blank, dtype=torch.long)
    x[:copy_len] = symbols
    x[copy_len + delay - 1] = vocab.delimiter
    y = torch.full((total, n), vocab.blank, dtype=torch.long)
    y[-copy_len:] = symbols
    return x, y


def copy_memory_baseline(delay: int, n_symbols: int = 8, copy_len: int = 10) -> float:
    """Mean per-step cross-entropy of the memoryless strategy for :func:`copy_memory`.

    Predicting blank until the recall, then the uniform distribution over the
    symbols, costs ``copy_len * log(n_symbols) / T`` (Arjovsky et al. 2016).

    >>> round(copy_memory_baseline(100), 4)
    0.1733
    """
    check_int("delay", delay)
    check_int("n_symbols", n_symbols)
    check_int("copy_len", copy_len)
    return copy_len * math.log(n_symbols) / (2 * copy_len + delay)


def _next_step(series: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``(T + 1, n)`` series into time-first inputs and next-step targets ``(T, n, 1)``."""
    series = series.to(torch.float32).unsqueeze(-1)
    return series[:-1].contiguous(), series[1:].contiguous()


def sine_mixture(
    n: int,
    length: int,
    seed: int,
    *,
    n_components: int = 3,
    min_period: float = 8.0,
    max_period: float = 64.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-step prediction of random mixtures of sines.

    Each sequence is its own mixture

    .. math::
        s_t = \\frac{1}{K} \\sum_{k=1}^{K} a_k \\sin(2 \\pi t / P_k + \\phi_k),

    with amplitudes ``a_k ~ U[0.5, 1]``, periods ``P_k ~ U[min_period, max_period]``
    (in steps) and phases ``phi_k ~ U[0, 2 pi)``.  A sum of ``K`` sines obeys a
    linear recurrence of order ``2K``, so the task is solvable exactly by a
    recurrent net whose linearised dynamics hold eigenvalues ``exp(+-2 pi i / P_k)``.

    Args:
        n: number of sequences.
        length: number of prediction steps ``T``.
        seed: int seed.
        n_components: ``K``.
        min_period, max_period: range of the periods, in steps.

    Returns:
        ``(x, y)``: float32 ``(T, n, 1)``; ``y[t] = x[t + 1]``.

    >>> x, y = sine_mixture(2, 50, seed=0)
    >>> bool(torch.equal(x[1:], y[:-1]))
    True
    """
    check_int("n", n)
    check_int("length", length)
    check_int("n_components", n_components)
    _check_positive("min_period", min_period)
    _check_positive("max_period", max_period)
    if max_period < min_period:
        raise ValueError(bad_value("max_period", max_period, f">= min_period ({min_period})"))
    g = _generator(seed)
    shape = (n_components, n)
    amplitude = 0.5 + 0.5 * torch.rand(shape, generator=g, dtype=torch.float64)
    period = min_period + (max_period - min_period) * torch.rand(shape, generator=g, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(shape, generator=g, dtype=torch.float64)
    t = torch.arange(length + 1, dtype=torch.float64).view(-1, 1, 1)
    series = (amplitude * torch.sin(2 * math.pi * t / period + phase)).mean(dim=1)
    return _next_step(series)


def mackey_glass_series(
    length: int,
    tau: float = 17.0,
    *,
    beta: float = 0.2,
    gamma: float = 0.1,
    exponent: float = 10.0,
    dt: float = 0.1,
    sample_interval: float = 1.0,
    washout: float = 500.0,
    x0: float = 1.2,
) -> np.ndarray:
    """Integrate the Mackey-Glass delay equation and sample it (unnormalised).

    .. math::
        \\frac{dx}{dt} = \\beta \\frac{x(t - \\tau)}{1 + x(t - \\tau)^{n}} - \\gamma x(t)

    (Mackey & Glass 1977) with the constant history ``x(t) = x0`` for ``t <= 0``,
    by classical Runge-Kutta with step ``dt``; the delayed value at a half step
    is the mean of its two grid neighbours.  The first ``washout`` time units
    are dropped, then one value is kept every ``sample_interval`` time units.
    With tau = 17 the trajectory is chaotic and stays within about (0.4, 1.35).

    Args:
        length: number of samples returned.
        tau: the delay; ``tau / dt`` must be a whole number of steps.
        beta, gamma, exponent: the equation's constants (0.2, 0.1, 10).
        dt: integration step.
        sample_interval: time between samples; a whole number of steps.
        washout: time discarded before the first sample.
        x0: the constant initial history.

    Returns:
        float64 array ``(length,)``.
    """
    check_int("length", length)
    for name, value in (("tau", tau), ("beta", beta), ("gamma", gamma), ("exponent", exponent),
                        ("dt", dt), ("sample_interval", sample_interval), ("x0", x0)):
        _check_positive(name, value)
    if isinstance(washout, bool) or not isinstance(washout, (int, float)) or not washout >= 0:
        raise ValueError(bad_value("washout", washout, "a number >= 0"))
    delay = round(tau / dt)
    every = round(sample_interval / dt)
    if abs(delay * dt - tau) > 1e-9 * max(1.0, tau):
        raise ValueError(bad_value("tau", tau, f"a multiple of dt={dt}"))
    if abs(every * dt - sample_interval) > 1e-9 * max(1.0, sample_interval):
        raise ValueError(bad_value("sample_interval", sample_interval, f"a multiple of dt={dt}"))
    skip = round(washout / dt)
    steps = skip + every * (length - 1)

    def rate(x: float, lagged: float) -> float:
        return beta * lagged / (1.0 + lagged**exponent) - gamma * x

    # history[i] is x at time (i - delay) * dt; the first delay + 1 entries are the initial history.
    history = [float(x0)] * (delay + 1)
    for i in range(delay, delay + steps):
        x, lag0, lag1 = history[i], history[i - delay], history[i - delay + 1]
        lag_mid = 0.5 * (lag0 + lag1)
        k1 = rate(x, lag0)
        k2 = rate(x + 0.5 * dt * k1, lag_mid)
        k3 = rate(x + 0.5 * dt * k2, lag_mid)
        k4 = rate(x + dt * k3, lag1)
        history.append(x + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4))
    return np.asarray(history[delay + skip :: every], dtype=np.float64)


def mackey_glass(
    n: int,
    length: int,
    tau: float = 17.0,
    seed: int = 0,
    *,
    series_length: int | None = None,
    dt: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-step prediction windows of the Mackey-Glass series (beta 0.2, gamma 0.1, n 10).

    One long series of ``series_length`` samples (one per time unit, from
    :func:`mackey_glass_series`) is normalised to zero mean and unit variance
    with its own statistics; ``n`` windows of ``length + 1`` samples start at
    offsets drawn uniformly from a generator seeded with ``seed`` (windows may
    overlap).  Inputs are the first ``length`` samples of a window, targets the
    last ``length``.

    Args:
        n: number of windows.
        length: number of prediction steps ``T``.
        tau: the delay (17 gives the standard chaotic regime).
        seed: int seed of the window offsets.
        series_length: samples in the long series (default ``max(5000, 4 * (length + 1))``).
        dt: integration step of :func:`mackey_glass_series`.

    Returns:
        ``(x, y)``: float32 ``(T, n, 1)``; ``y[t] = x[t + 1]``.
    """
    check_int("n", n)
    check_int("length", length)
    if series_length is None:
        series_length = max(5000, 4 * (length + 1))
    check_int("series_length", series_length, length + 1)
    g = _generator(seed)
    series = torch.from_numpy(mackey_glass_series(series_length, tau, dt=dt))
    series = (series - series.mean()) / series.std()
    offsets = torch.randint(0, series_length - length, (n,), generator=g)
    windows = series[offsets.view(1, -1) + torch.arange(length + 1).view(-1, 1)]
    return _next_step(windows)


# --------------------------------------------------------------------------- the task adapters

Generate = Callable[..., tuple[torch.Tensor, torch.Tensor]]  # (n, seed=...) -> (x, y)


def _build(generate: Generate, task: Task, seed: int, sizes: dict[str, int | None]) -> TaskData:
    defaults = dict(zip(DATA_SPLITS, task.sizes))
    splits = {}
    for name in DATA_SPLITS:
        x, y = generate(sizes[name] or defaults[name], seed=split_seed(seed, name))
        splits[name] = SequenceDataset(x, y, y_time_first=task.readout == "every")
    return TaskData(splits, task.input_spec, task.output_size)


def _examples(generate: Generate, task: Task, n: int, seed: int) -> torch.Tensor:
    return generate(n, seed=seed)[0]


def _task(name: str, generate: Generate, options: dict, horizon: int, **fields) -> Task:
    """A generated task: ``fields`` are the :class:`Task` fields that differ between them."""
    return Task(name=name, target_split="val", sizes=(10_000, 1_000, 1_000), options=options, horizon=horizon,
                _builder=functools.partial(_build, generate), _examples=functools.partial(_examples, generate), **fields)


def _regression(name: str, generate: Generate, options: dict, readout: str, features: int, target: float) -> Task:
    return _task(name, generate, options, options["length"], kind="regression", input_spec=InputSpec("features", features),
                 output_size=1, readout=readout, loss="mse", metric="mse", higher_is_better=False, target=target)


def _adding_task(length: int = 100) -> Task:
    # Always answering 1 scores MSE 1/6 (the variance of a sum of two U(0,1));
    # 0.01 is the usual "solved" line (Le et al. 2015 plot MSE against it).
    options = {"length": check_int("length", length)}
    return _regression("adding", functools.partial(adding, length=length), options, "last", 2, 0.01)


def _sine_task(length: int = 100) -> Task:
    options = {"length": check_int("length", length)}
    return _regression("sine", functools.partial(sine_mixture, length=length), options, "every", 1, 1e-3)


def _mackey_glass_task(length: int = 100, tau: int = 17) -> Task:
    options = {"length": check_int("length", length), "tau": check_int("tau", tau)}
    return _regression("mackey-glass", functools.partial(mackey_glass, length=length, tau=tau), options, "every", 1, 1e-3)


def _copy_task(delay: int = 100, n_symbols: int = 8, copy_len: int = 10) -> Task:
    options = {
        "delay": check_int("delay", delay),
        "n_symbols": check_int("n_symbols", n_symbols),
        "copy_len": check_int("copy_len", copy_len),
    }
    # Inputs and targets share the token ids: data symbols, blank and delimiter.
    vocab = copy_memory_vocab(n_symbols).vocab_size
    generate = functools.partial(copy_memory, delay=delay, n_symbols=n_symbols, copy_len=copy_len)
    return _task("copy", generate, options, delay + 2 * copy_len, kind="classification",
                 input_spec=InputSpec("tokens", vocab), output_size=vocab, readout="every", loss="cross_entropy",
                 metric="accuracy", higher_is_better=True, target=0.99, score_last=copy_len)


#: ``adding`` (option ``length``): the sum of the two marked values, read at the last step.
ADDING = TaskFactory(_adding_task, kind="regression", inputs="features")
#: ``sine`` (option ``length``): next-step prediction at every step.
SINE = TaskFactory(_sine_task, kind="regression", inputs="features")
#: ``mackey-glass`` (options ``length``, ``tau``): next-step prediction at every step.
MACKEY_GLASS = TaskFactory(_mackey_glass_task, kind="regression", inputs="features")
#: ``copy`` (options ``delay``, ``n_symbols``, ``copy_len``): recall scored on the last ``copy_len`` steps.
COPY = TaskFactory(_copy_task, kind="classification", inputs="tokens")
