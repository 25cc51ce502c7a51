"""Horizon rules: the timescale spectrum of ``init_rnn(..., horizon=T)`` and chrono gate biases."""

from __future__ import annotations

import math

import torch

from eigenrnn.errors import bad_value
from eigenrnn.spectrum import Spectrum

#: ``tau_min`` of :func:`horizon_spectrum`, in steps.
HORIZON_TAU_MIN = 1.0


def horizon_spectrum(horizon: int, base: Spectrum | None = None) -> Spectrum:
    r"""The timescale spectrum ``init_rnn(m, "eigen", horizon=T)`` uses: :math:`\tau \sim \mathrm{LogUniform}[1, T]`.

    Rule: :math:`\tau_{max} = T` and :math:`\tau_{min} = 1`
    (:data:`HORIZON_TAU_MIN`), with ``|lambda| = exp(-1/tau)``.  Why: a mode of
    time constant ``tau`` keeps ``exp(-s/tau)`` of an input ``s`` steps back,
    so the slowest modes keep about ``1/e`` of the first input of a length-``T``
    sequence at its end: memory reaches the whole horizon, while every mode
    stays strictly inside the unit circle (nothing grows in the linear
    system).  ``tau_min = 1`` (``|lambda| ~ 0.37``) gives fast modes for the
    local structure, and the log-uniform law spends as many modes on each
    octave of lags (1-2, 2-4, ...) as on any other, since a task's
    dependencies have no preferred scale.  The phase law and real fraction are
    those of ``base`` (the preset's, in :func:`init_rnn`).

    Args:
        horizon: the task's sequence length ``T >= 2``.
        base: where ``max_phase`` and ``real_fraction`` come from (default: all phases, no real eigenvalues).

    >>> round(horizon_spectrum(196).tau[1], 6)
    196.0
    """
    horizon = check_horizon(horizon)
    base = Spectrum() if base is None else base
    return Spectrum.timescales((HORIZON_TAU_MIN, float(horizon)), max_phase=base.max_phase, real_fraction=base.real_fraction)


def check_horizon(horizon) -> int:
    # Above ~1e16 steps exp(-1/T) rounds to 1 in float64: no finite time constant is left.
    if isinstance(horizon, bool) or not isinstance(horizon, int) or not 2 <= horizon <= 10**15:
        raise ValueError(bad_value("horizon", horizon, "the task's sequence length, an int from 2 to 10**15"))
    return horizon


def chrono_bias(count: int, horizon: int, generator: torch.Generator | None = None, *, dtype=torch.float64, device=None) -> torch.Tensor:
    r"""Chrono gate biases :math:`b = \log u,\ u \sim U(1, T_{max} - 1)`, Tallec & Ollivier (2018).

    "Can recurrent neural networks warp time?": a leaky unit
    :math:`h' = \sigma(b) h + (1 - \sigma(b)) \tilde h` has characteristic
    time :math:`1 / (1 - \sigma(b)) = 1 + e^{b} = 1 + u`, so drawing ``u``
    uniformly on ``[1, T_max - 1]`` spreads the gates' memory over ``[2, T_max]``.

    Args:
        count: number of biases.
        horizon: ``T_max >= 2``.
        generator: source of randomness.

    >>> b = chrono_bias(1000, 100, torch.Generator().manual_seed(0))
    >>> 0.0 <= float(b.min()) and float(b.max()) <= math.log(99)
    True
    """
    horizon = check_horizon(horizon)
    u = torch.rand(count, generator=generator, dtype=torch.float64, device=device)
    return torch.log1p(u * (horizon - 2)).to(dtype)
