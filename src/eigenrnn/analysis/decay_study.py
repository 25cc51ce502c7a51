"""How information decays in vanilla RNN, LSTM and GRU: the linear λ^s picture against the real dynamics.

    .venv/bin/eigenrnn study spectra --profile cpu --out runs/study-cpu
    .venv/bin/python scripts/information_decay.py runs/study-cpu/runs --out docs/analysis

In the linear state-space model h_t = W h_{t-1} + U x_t, mode k of W carries an
input from s steps back scaled by λ_k^s (Dou & Principe, 2023).  A trained
network is not linear: tanh saturation and gates rescale every step.  For each
task and cell :func:`information_decay` loads the trained model (``best.pt`` of the study run
``RUNS_DIR/study/<task>/<cell>/<init>/seed0``) and the same model at
initialization (rebuilt from the run's config and seed, checked against the
first snapshot of the run's ``spectra.npz``), drives both with the task's
example inputs, and measures

* the linear memory curve m(s) = ‖W^s U‖_F / ‖U‖_F of the candidate block
  (``h`` for RNN, GRU ``n``, LSTM ``g``; U = that gate's rows of ``weight_ih``),
* the gradient-decay curve g(s) = ‖J_T ⋯ J_{T-s+1}‖₂ along the real
  trajectories (mean over sequences; the state is (h, c) for LSTM),
* the eigenvalues of W against those of the time-averaged Jacobian J̄,
* the mean tanh slope and gate openings that make J differ from W.

:mod:`eigenrnn.analysis.decay_outputs` writes ``OUT/information_decay.json`` and the
figures ``OUT/decay_<task>.png`` and ``OUT/eigenvalues_<task>.png``;
``scripts/information_decay.py`` is its command line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from eigenrnn.analysis import (
    SpectrumTracker,
    decompose,
    gradient_decay_curve,
    linear_memory_curve,
    mean_jacobian_eigenvalues,
)
from eigenrnn.analysis.overview import lag_below
from eigenrnn.analysis.trajectory import Trajectory, layer_trajectory, resolve_trajectory
from eigenrnn.errors import EigenRNNError, bad_value, check_int
from eigenrnn.rnn import CELLS, MAIN_GATE, recurrent_blocks


#: The gate block that plays the role of a vanilla RNN's W_hh: the candidate
#: (GRU ``n``) / cell input (LSTM ``g``) transform, the only one inside a tanh.
CANDIDATE_GATE = MAIN_GATE
DEFAULT_TASKS = ("tomita5", "adding")
THRESHOLD = 1e-3
#: Eigenvalues stored in spectra.npz are complex64: a rebuilt initial model
#: must match them to about float32 precision.
INIT_MATCH_TOL = 1e-4


@dataclass(frozen=True)
class StateDecay:
    """Decay measurements of one model (at initialization or trained) on fixed inputs.

    Attributes:
        w_eigenvalues: eigenvalues of the candidate block W, complex ``(H,)``, by modulus.
        w_radius: ρ(W).
        jacobian_eigenvalues: eigenvalues of J̄ = E_{t,b} J_t, complex ``(S,)``
            (``S = 2H`` for LSTM: the state is (h, c)).
        jacobian_radius: ρ(J̄).
        memory: m(s) for ``s = 0..T``.
        gradient: g(s) for ``s = 0..T``, mean over sequences.
        log_gradient: per-sequence ``ln g_b(s)``, ``(B, T + 1)``.
        gates: mean activations along the trajectories (see :func:`gate_means`).
        top_mode_cell_share: LSTM only: share of the squared norm of J̄'s
            leading eigenvector on the cell state c (``None`` for RNN/GRU).
    """

    w_eigenvalues: np.ndarray
    w_radius: float
    jacobian_eigenvalues: np.ndarray
    jacobian_radius: float
    memory: np.ndarray
    gradient: np.ndarray
    log_gradient: np.ndarray
    gates: dict[str, float]
    top_mode_cell_share: float | None = None

    @property
    def per_step_factor(self) -> float:
        """r with r^T = geometric mean over sequences of g_b(T): the average per-step shrink of the gradient."""
        steps = self.log_gradient.shape[1] - 1
        return math.exp(float(self.log_gradient[:, -1].mean()) / steps) if steps else 1.0

    def summary(self) -> dict[str, Any]:
        steps = self.gradient.shape[0] - 1
        rate = self.per_step_factor
        return {
            "w_spectral_radius": self.w_radius,
            "mean_jacobian_spectral_radius": self.jacobian_radius,
            "gradient_per_step_factor": rate,
            "gradient_lag_below_threshold": lag_below(self.gradient, THRESHOLD),
            "gradient_lag_below_threshold_extrapolated": extrapolated_lag(rate, THRESHOLD),
            "memory_lag_below_threshold": lag_below(self.memory, THRESHOLD),
            "memory_lag_below_threshold_extrapolated": extrapolated_lag(self.w_radius, THRESHOLD),
            "gradient_at_T": float(self.gradient[steps]),
            "gradient_at_T_per_sequence": {
                name: float(fn(np.exp(self.log_gradient[:, -1]))) for name, fn in (("min", np.min), ("median", np.median), ("max", np.max))
            },
            "memory_at_T": float(self.memory[steps]),
            "w_radius_pow_T": self.w_radius**steps,
            "gates": dict(self.gates),
            "mean_jacobian_top_mode_cell_share": self.top_mode_cell_share,
            "w_eigenvalues": _complex_pairs(self.w_eigenvalues),
            "mean_jacobian_eigenvalues": _complex_pairs(self.jacobian_eigenvalues),
            "memory_curve": self.memory.tolist(),
            "gradient_curve": self.gradient.tolist(),
        }


@dataclass(frozen=True)
class CellDecay:
    """Init and trained decay measurements of one study run."""

    task: str
    cell: str
    init: str
    run_dir: str
    gate: str
    steps: int
    sequences: int
    test_metric: float | None
    metric_name: str
    init_match: float
    init_state: StateDecay
    trained: StateDecay

    def summary(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "cell": self.cell,
            "init_scheme": self.init,
            "run_dir": self.run_dir,
            "w_block": f"{self.gate} ({_GATE_NAMES[self.cell]})",
            "state": "(h, c)" if self.cell == "lstm" else "h",
            "steps": self.steps,
            "sequences": self.sequences,
            "test_metric": self.test_metric,
            "metric_name": self.metric_name,
            "init_eigenvalue_match": self.init_match,
            "init": self.init_state.summary(),
            "trained": self.trained.summary(),
        }


_GATE_NAMES = {"rnn": "W_hh", "gru": "candidate W_hn", "lstm": "cell input W_hg"}


def _complex_pairs(values: np.ndarray) -> list[list[float]]:
    return [[float(v.real), float(v.imag)] for v in np.asarray(values, dtype=np.complex128)]


def extrapolated_lag(factor: float, threshold: float) -> float | None:
    """Lag at which ``factor**s`` falls below ``threshold``; ``None`` if ``factor >= 1`` (no decay).

    >>> extrapolated_lag(0.5, 1e-3)
    10
    """
    if not 0.0 <= factor < 1.0:
        return None
    if factor == 0.0:
        return 1
    return math.ceil(math.log(threshold) / math.log(factor))


def candidate_block(model: nn.Module, cell: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(W, U)`` of the candidate gate of ``model.rnn``: square recurrent block and its rows of ``weight_ih``."""
    gate = CANDIDATE_GATE[cell]
    blocks = [b for b in recurrent_blocks(model.rnn) if b.gate == gate and b.layer == 0 and b.direction == 0]
    if len(blocks) != 1:
        raise EigenRNNError(f"{type(model).__name__}.rnn has no single layer-0 forward '{gate}' block (cell {cell!r})")
    block = blocks[0]
    with torch.no_grad():
        w = block.matrix().detach().double()
        u = getattr(block.module, block.parameter.replace("weight_hh", "weight_ih"))[block.rows].detach().double()
    return w, u


def gate_means(module: nn.Module, x: torch.Tensor | None, cell: str, *, trajectory: Trajectory | None = None) -> dict[str, float]:
    """Mean activations that scale the Jacobian away from W, along the trajectories of ``x``.

    RNN: ``tanh_slope`` = E[1 − h_t²] (J_t = diag(1 − h_t²) W).  GRU: ``z`` (the
    update gate, the weight of the identity path h_{t−1} → h_t) and
    ``candidate_slope`` = E[1 − n_t²].  LSTM: ``f`` (the forget gate, the
    diagonal c_{t−1} → c_t block of J_t), ``i`` and ``g_slope`` = E[1 − g_t²].
    ``*_top_unit``: the largest per-unit mean of that gate.  ``trajectory``: the
    layer-0 :func:`layer_trajectory` of ``x``, if already computed (``x`` is then ``None``).
    """
    traj = resolve_trajectory(module, x, trajectory=trajectory)
    p = traj.params.to(torch.float64)
    xs = traj.inputs.to(torch.float64)
    prev = traj.states[:-1].to(torch.float64)
    if cell == "rnn":
        return {"tanh_slope": float((1 - traj.states[1:].double().square()).mean())}
    h_prev = prev[..., : p.output_size]
    gi = xs @ p.weight_ih.mT + (p.bias_ih if p.bias_ih is not None else 0.0)
    gh = h_prev @ p.weight_hh.mT + (p.bias_hh if p.bias_hh is not None else 0.0)
    if cell == "gru":
        gi_r, gi_z, gi_n = gi.chunk(3, dim=-1)
        gh_r, gh_z, gh_n = gh.chunk(3, dim=-1)
        r = torch.sigmoid(gi_r + gh_r)
        z = torch.sigmoid(gi_z + gh_z)
        n = torch.tanh(gi_n + r * gh_n)
        return {
            "z": float(z.mean()),
            "z_top_unit": _top_unit(z),
            "candidate_slope": float((1 - n.square()).mean()),
        }
    i, f, g, _ = (gi + gh).chunk(4, dim=-1)
    f = torch.sigmoid(f)
    return {
        "f": float(f.mean()),
        "f_top_unit": _top_unit(f),
        "i": float(torch.sigmoid(i).mean()),
        "g_slope": float((1 - torch.tanh(g).square()).mean()),
    }


def _top_unit(gate: torch.Tensor) -> float:
    """Largest per-unit mean of a ``(T, B, H)`` gate: the most persistent unit's leak/forget factor."""
    return float(gate.mean(dim=(0, 1)).max())


def measure(model: nn.Module, tokens: torch.Tensor, cell: str) -> StateDecay:
    """All decay measurements of ``model`` (a :class:`~eigenrnn.models.SequenceModel`) on model inputs ``tokens``."""
    with torch.no_grad():
        x = model.rnn_inputs(tokens).detach()
    steps = int(x.shape[0])
    w, u = candidate_block(model, cell)
    memory = linear_memory_curve(w, u, steps)
    traj = layer_trajectory(model.rnn, x)  # one trajectory for the gradient, the mean Jacobian and the gates
    decay = gradient_decay_curve(model.rnn, trajectory=traj)
    jbar = mean_jacobian_eigenvalues(model.rnn, trajectory=traj)
    w_dec = memory.decomposition
    share = None
    if cell == "lstm":
        top = jbar.eigenvectors[:, 0]
        share = float(top[jbar.size - model.rnn.hidden_size :].abs().square().sum())
    return StateDecay(
        w_eigenvalues=w_dec.eigenvalues.numpy(),
        w_radius=w_dec.spectral_radius,
        jacobian_eigenvalues=jbar.eigenvalues.numpy(),
        jacobian_radius=jbar.spectral_radius,
        memory=memory.curve.numpy(),
        gradient=decay.curve.numpy(),
        log_gradient=decay.log_per_sequence.numpy(),
        gates=gate_means(model.rnn, None, cell, trajectory=traj),
        top_mode_cell_share=share,
    )


def eigenvalue_set_distance(a: Any, b: Any) -> float:
    """Hausdorff distance between two eigenvalue sets (insensitive to the order of near-ties)."""
    a = np.asarray(a, dtype=np.complex128).ravel()
    b = np.asarray(b, dtype=np.complex128).ravel()
    d = np.abs(a[:, None] - b[None, :])
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def initial_model(loaded: Any) -> nn.Module:
    """The run's model as it was before the first optimizer step.

    :func:`eigenrnn.train.build.build_model` without a generator seeds the
    weights exactly as the trainer does (``seeds(config.seed)[0]``).
    """
    from eigenrnn.train.build import build_model

    return build_model(loaded.config, loaded.spec).eval()


def analyze_run(run_dir: str | Path, *, sequences: int = 16, data_seed: int = 0) -> CellDecay:
    """Measure information decay of one finished study run, at initialization and trained (``best.pt``).

    Raises:
        FileNotFoundError: the run has no ``summary.json`` (unfinished), ``best.pt`` or ``spectra.npz``.
        EigenRNNError: the rebuilt initial model does not match the recorded initial spectrum.
    """
    from eigenrnn.tasks import get_task
    from eigenrnn.train.checkpoint import load_checkpoint

    run = Path(run_dir)
    for name in ("summary.json", "best.pt", "spectra.npz"):
        if not (run / name).is_file():
            raise FileNotFoundError(f"{run / name} not found (is the run finished?)")
    summary = json.loads((run / "summary.json").read_text())
    loaded = load_checkpoint(run / "best.pt")
    cell = loaded.config.cell
    if cell not in CANDIDATE_GATE:
        raise EigenRNNError(f"{run}: cell {cell!r} is not one of {CELLS}")
    task = get_task(loaded.config.task, **dict(loaded.config.task_options))
    tokens = task.example_inputs(sequences, data_seed)

    start = initial_model(loaded)
    tracked = SpectrumTracker.load(run / "spectra.npz")
    if not tracked.steps.size or int(tracked.steps[0]) != 0:
        raise EigenRNNError(f"{run / 'spectra.npz'}: no snapshot at step 0 (steps {tracked.steps.tolist()[:5]}); cannot check the initialization")
    gate = CANDIDATE_GATE[cell]
    key = next(b.key for b in recurrent_blocks(start) if b.gate == gate and b.layer == 0 and b.direction == 0)
    if key not in tracked.spectra:
        raise EigenRNNError(f"{run / 'spectra.npz'}: no block {key!r} (recorded: {sorted(tracked.spectra)})")
    w0, _ = candidate_block(start, cell)
    match = eigenvalue_set_distance(decompose(w0).eigenvalues.numpy(), tracked.spectra[key][0])
    if not match <= INIT_MATCH_TOL:
        raise EigenRNNError(
            f"{run}: the model rebuilt from config.json (seed {loaded.config.seed}) has initial eigenvalues "
            f"{match:.3g} away from the first spectra.npz snapshot; it is not this run's initialization"
        )
    return CellDecay(
        task=loaded.config.task,
        cell=cell,
        init=loaded.config.init,
        run_dir=str(run),
        gate=gate,
        steps=int(tokens.shape[0]),
        sequences=int(tokens.shape[1]),
        test_metric=summary.get("test_metric"),
        metric_name=str(summary.get("metric_name", task.metric)),
        init_match=match,
        init_state=measure(start, tokens, cell),
        trained=measure(loaded.model, tokens, cell),
    )


def information_decay(
    runs_dir: str | Path,
    tasks: Sequence[str] = DEFAULT_TASKS,
    *,
    cells: Sequence[str] = CELLS,
    init: str = "xavier",
    sequences: int = 16,
    data_seed: int = 0,
) -> list[CellDecay]:
    """:func:`analyze_run` for every task and cell of a study directory (``RUNS_DIR/study/<task>/<cell>/<init>/seed0``)."""
    root = Path(runs_dir)
    if not (root / "study").is_dir():
        raise FileNotFoundError(f"RUNS_DIR: {root / 'study'} not found; pass the 'runs' directory of `eigenrnn study spectra --out`")
    for name in cells:
        if name not in CELLS:
            raise ValueError(bad_value("cells", name, f"one of {CELLS}"))
    check_int("sequences", sequences)
    return [
        analyze_run(root / "study" / task / cell / init / "seed0", sequences=sequences, data_seed=data_seed)
        for task in tasks
        for cell in cells
    ]


# -- figures -------------------------------------------------------------------
