"""The trained-spectra study: what the eigenvalues of well-trained RNN, LSTM and GRU look like.

Dou & Principe (2023) derive their initializer "from the observations on
well-trained recurrent neural networks" and report that eigenvalues behave
differently in regression and classification tasks.  This module repeats that
observation reproducibly: it trains every cell from standard initializations
(PyTorch's default and Xavier) with :class:`eigenrnn.analysis.SpectrumTracker`
on, over two task groups, keeps the runs that reach a stated threshold, and
summarizes the hidden-to-hidden spectra per task type, cell and gate.

The runs are ordinary training runs driven by :func:`eigenrnn.bench.runner.run_grid`
(parallel, resumable); :mod:`eigenrnn.study.output` writes the figures and the page
(:func:`~eigenrnn.study.output.run_study`).  ``eigenrnn study spectra`` is the command line.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from eigenrnn.bench.profiles import RunSpec
from eigenrnn.errors import bad_value
from eigenrnn.rnn import CELLS, parse_block_key

TASK_TYPES: dict[str, tuple[str, ...]] = {
    "classification": ("tomita3", "tomita4", "tomita5", "tomita6", "mnist14", "copy"),
    "regression": ("adding", "sine", "mackey-glass"),
}
INITS = ("pytorch", "xavier")
PROFILES = ("smoke", "cpu", "gpu")


@dataclass(frozen=True)
class Threshold:
    """A run is *well-trained* when its test metric is on the right side of ``value``."""

    value: float
    higher_is_better: bool

    def met(self, metric: float | None) -> bool:
        if metric is None or not math.isfinite(metric):
            return False
        return metric >= self.value if self.higher_is_better else metric <= self.value

    def __str__(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {self.value:g}"


#: Test-set thresholds for "well-trained" (accuracy for classification, MSE
#: for regression).  The regression series are normalized to unit variance
#: (sine, Mackey-Glass), so an MSE of 0.01 explains 99 % of the variance; the
#: adding problem's trivial predictor has MSE ~0.167.
THRESHOLDS: dict[str, Threshold] = {
    **{f"tomita{k}": Threshold(0.95, True) for k in (3, 4, 5, 6)},
    "mnist14": Threshold(0.85, True),
    "copy": Threshold(0.90, True),
    "adding": Threshold(0.02, False),
    "sine": Threshold(0.01, False),
    "mackey-glass": Threshold(0.01, False),
}


@dataclass(frozen=True)
class StudyProfile:
    """Budgets of one study profile, the same for every cell and initializer."""

    tasks: tuple[str, ...]
    cells: tuple[str, ...]
    inits: tuple[str, ...]
    seeds: int
    hidden: int
    track_every: int
    per_task: Mapping[str, Mapping[str, Any]]
    common: Mapping[str, Any]
    note: str
    apply_thresholds: bool = True


_ALL_TASKS = TASK_TYPES["classification"] + TASK_TYPES["regression"]

STUDY_PROFILES: dict[str, StudyProfile] = {
    "smoke": StudyProfile(
        tasks=("tomita4", "adding"),
        cells=CELLS,
        inits=("xavier",),
        seeds=1,
        hidden=8,
        track_every=5,
        per_task={
            "tomita4": {"epochs": 1, "train_size": 64, "val_size": 32, "test_size": 32},
            "adding": {"epochs": 1, "train_size": 64, "val_size": 32, "test_size": 32, "task_options": {"length": 10}},
        },
        common={"batch_size": 16, "lr": 3e-3, "device": "cpu"},
        note="seconds, for CI: checks the pipeline, not the science; thresholds are NOT applied",
        apply_thresholds=False,
    ),
    "cpu": StudyProfile(
        tasks=_ALL_TASKS,
        cells=CELLS,
        inits=INITS,
        seeds=1,
        hidden=64,
        track_every=50,
        per_task={
            **{f"tomita{k}": {"epochs": 40, "early_stopping_patience": 8} for k in (3, 4)},
            # parity-like grammars plateau for many epochs before they are learned
            **{f"tomita{k}": {"epochs": 150, "early_stopping_patience": 40} for k in (5, 6)},
            "mnist14": {"epochs": 10, "train_size": 5000, "val_size": 2000, "test_size": 2000},
            "copy": {"epochs": 12, "task_options": {"delay": 30}, "train_size": 6000},
            "adding": {"epochs": 12, "task_options": {"length": 50}, "train_size": 6000},
            "sine": {"epochs": 6, "train_size": 4000},
            "mackey-glass": {"epochs": 6, "train_size": 4000},
        },
        common={"batch_size": 64, "lr": 2e-3, "clip": 1.0, "device": "cpu"},
        note="54 runs, about 30 minutes on 2 CPU cores (measured 2026-11-26)",
    ),
    "gpu": StudyProfile(
        tasks=_ALL_TASKS,
        cells=CELLS,
        inits=INITS,
        seeds=3,
        hidden=128,
        track_every=100,
        per_task={
            **{f"tomita{k}": {"epochs": 60, "early_stopping_patience": 10} for k in (3, 4)},
            # as in the cpu profile: a patience of 10 stops Tomita 5/6 on their plateau
            **{f"tomita{k}": {"epochs": 200, "early_stopping_patience": 50} for k in (5, 6)},
            "mnist14": {"epochs": 20},
            "copy": {"epochs": 30, "task_options": {"delay": 100}},
            "adding": {"epochs": 30, "task_options": {"length": 100}},
            "sine": {"epochs": 15},
            "mackey-glass": {"epochs": 15},
        },
        common={"batch_size": 128, "lr": 1e-3, "clip": 1.0, "device": "auto"},
        note="paper scale on one GPU",
    ),
}


def task_type(task: str) -> str:
    for name, tasks in TASK_TYPES.items():
        if task in tasks:
            return name
    raise ValueError(bad_value("task", task, f"one of {', '.join(_ALL_TASKS)}"))


def study_grid(profile: str) -> list[RunSpec]:
    """The runs of the study under ``profile``, ordered task, cell, init, seed."""
    if profile not in STUDY_PROFILES:
        raise ValueError(bad_value("profile", profile, f"one of {', '.join(STUDY_PROFILES)}"))
    p = STUDY_PROFILES[profile]
    specs = []
    for task in p.tasks:
        for cell in p.cells:
            for init in p.inits:
                for seed in range(p.seeds):
                    config = {
                        **p.common,
                        **p.per_task.get(task, {}),
                        "task": task,
                        "cell": cell,
                        "init": init,
                        "hidden": p.hidden,
                        "seed": seed,
                        "track_spectrum_every": p.track_every,
                    }
                    specs.append(RunSpec(suite="study", task=task, cell=cell, init=init, seed=seed, config=config))
    return specs


# --------------------------------------------------------------------------
# Reading finished runs
# --------------------------------------------------------------------------


@dataclass
class RunSpectra:
    """Spectra of one finished run: at initialization and after training (best validation weights)."""

    path: str
    task: str
    task_type: str
    cell: str
    init: str
    seed: int
    test_metric: float | None
    well_trained: bool
    init_eigenvalues: dict[str, np.ndarray]  # block key -> complex (n,)
    trained: dict[str, Any]  # block key -> EigenDecomposition
    init_stats: dict[str, dict[str, float]]  # block key -> {"henrici_rel", "log10_cond"}


def _gate(block_key: str) -> str:
    return parse_block_key(block_key).gate


def _nonnormality(decomposition) -> dict[str, float]:
    frob = float(torch.linalg.matrix_norm(decomposition.matrix))
    cond = decomposition.eigenvector_condition
    return {
        "henrici_rel": decomposition.henrici / frob if frob > 0 else 0.0,
        "log10_cond": math.log10(cond) if math.isfinite(cond) and cond > 0 else math.inf,
    }


def read_run(root: Path, spec: RunSpec, *, apply_thresholds: bool = True) -> RunSpectra | None:
    """Load a finished run's spectra, or ``None`` if it did not finish."""
    from eigenrnn.analysis import decompose
    from eigenrnn.analysis.tracking import SpectrumTracker
    from eigenrnn.init import recurrent_blocks
    from eigenrnn.train.checkpoint import load_checkpoint

    run_dir = root / spec.path
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        return None
    summary = json.loads(summary_path.read_text())
    weights = run_dir / "best.pt" if (run_dir / "best.pt").is_file() else run_dir / "checkpoint.pt"
    loaded = load_checkpoint(weights)
    trained = {}
    for block in recurrent_blocks(loaded.model):
        trained[block.key] = decompose(block.matrix().detach().double())
    tracked = SpectrumTracker.load(run_dir / "spectra.npz")
    init_eigenvalues = {key: np.asarray(values[0]) for key, values in tracked.spectra.items()}
    init_stats = {}
    init_path = run_dir / "init_blocks.pt"
    if init_path.is_file():
        matrices = torch.load(init_path, weights_only=True)
        init_stats = {key: _nonnormality(decompose(m)) for key, m in matrices.items()}
    metric = summary.get("test_metric")
    return RunSpectra(
        path=spec.path,
        task=spec.task,
        task_type=task_type(spec.task),
        cell=spec.cell,
        init=spec.init,
        seed=spec.seed,
        test_metric=metric,
        well_trained=summary.get("status") == "finished" and (not apply_thresholds or THRESHOLDS[spec.task].met(metric)),
        init_eigenvalues=init_eigenvalues,
        trained=trained,
        init_stats=init_stats,
    )


class InitBlockSnapshot:
    """Trainer callback that saves the initial recurrent matrices once (``init_blocks.pt``).

    Non-normality needs the matrices, not only the eigenvalues the tracker
    keeps; a resumed run keeps the file written by its first start.
    """

    def on_train_start(self, trainer) -> None:
        from eigenrnn.init import recurrent_blocks

        path = Path(trainer.run_dir) / "init_blocks.pt"
        if path.exists() or getattr(trainer, "step", 0):
            return
        from eigenrnn.io import atomic_torch_save

        blocks = {b.key: b.matrix().detach().to("cpu", torch.float64).clone() for b in recurrent_blocks(trainer.model)}
        atomic_torch_save(blocks, path)


def train_with_init_snapshot(config, *, resume: bool = False, progress: bool = True):
    """:func:`eigenrnn.train.train` with :class:`InitBlockSnapshot` attached (picklable for workers)."""
    from eigenrnn.train import train

    return train(config, callbacks=[InitBlockSnapshot()], resume=resume, progress=progress)


# --------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------

MODULUS_QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.9, 0.95)


def spectrum_stats(eigenvalues: np.ndarray) -> dict[str, float]:
    """Distribution summary of a pooled set of eigenvalues ``(n,)``.

    ``bulk_radius`` is the 90th percentile of ``|λ|`` (the edge of the bulk,
    robust to a few outliers); ``share_above_1`` counts modes that grow in
    the linear system; ``real_fraction`` counts eigenvalues with zero
    imaginary part (as LAPACK returns them for real matrices).
    """
    lam = np.asarray(eigenvalues, dtype=np.complex128).ravel()
    moduli = np.abs(lam)
    phase = np.abs(np.angle(lam))
    nonzero = moduli > 1e-12
    stats = {f"modulus_q{int(q * 100):02d}": float(np.quantile(moduli, q)) for q in MODULUS_QUANTILES}
    stats.update(
        n=int(lam.size),
        bulk_radius=float(np.quantile(moduli, 0.9)),
        max_modulus=float(moduli.max()),
        mean_modulus=float(moduli.mean()),
        count_above_1=int((moduli > 1.0).sum()),
        share_above_1=float((moduli > 1.0).mean()),
        real_fraction=float((np.abs(lam.imag) <= 1e-9 * max(moduli.max(), 1e-300)).mean()),
        phase_median=float(np.median(phase[nonzero])) if nonzero.any() else 0.0,
        phase_q90=float(np.quantile(phase[nonzero], 0.9)) if nonzero.any() else 0.0,
        share_phase_below_pi_4=float((phase[nonzero] < math.pi / 4).mean()) if nonzero.any() else 0.0,
        share_negative_real=float((lam.real < 0).mean()),
    )
    return stats


def _median(values: Sequence[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(finite)) if finite else None


def summarize(runs: Sequence[RunSpectra]) -> dict[str, Any]:
    """Aggregate well-trained runs per (task type, cell, gate) and fit a Spectrum to each group."""
    from eigenrnn.spectrum import fit_spectrum

    groups: dict[tuple[str, str, str], dict[str, list]] = {}
    for run in runs:
        if not run.well_trained:
            continue
        for key, dec in run.trained.items():
            gate = _gate(key)
            group = groups.setdefault((run.task_type, run.cell, gate), {
                "trained": [], "init": [], "henrici": [], "cond": [], "init_henrici": [], "init_cond": [], "runs": set()})
            group["trained"].append(dec.eigenvalues.numpy())
            if key in run.init_eigenvalues:
                group["init"].append(run.init_eigenvalues[key])
            nn_stats = _nonnormality(dec)
            group["henrici"].append(nn_stats["henrici_rel"])
            group["cond"].append(nn_stats["log10_cond"])
            if key in run.init_stats:
                group["init_henrici"].append(run.init_stats[key]["henrici_rel"])
                group["init_cond"].append(run.init_stats[key]["log10_cond"])
            group["runs"].add(run.path)

    table = []
    fits: dict[str, dict[str, Any]] = {}
    pooled: dict[str, list[np.ndarray]] = {}
    for (ttype, cell, gate), group in sorted(groups.items()):
        trained = np.concatenate(group["trained"])
        init = np.concatenate(group["init"]) if group["init"] else np.zeros(0, dtype=np.complex128)
        row = {
            "task_type": ttype,
            "cell": cell,
            "gate": gate,
            "runs": len(group["runs"]),
            "trained": spectrum_stats(trained),
            "init": spectrum_stats(init) if init.size else None,
            "henrici_rel_median": _median(group["henrici"]),
            "log10_cond_median": _median(group["cond"]),
            "init_henrici_rel_median": _median(group["init_henrici"]),
            "init_log10_cond_median": _median(group["init_cond"]),
        }
        table.append(row)
        try:
            fit = fit_spectrum(trained).to_dict()
        except ValueError:
            fit = None
        fits.setdefault(ttype, {}).setdefault(cell, {})[gate] = fit
        pooled.setdefault(ttype, []).append(trained)
    for ttype, arrays in pooled.items():
        fits[ttype]["all"] = fit_spectrum(np.concatenate(arrays)).to_dict()
    return {"groups": table, "fits": fits}


def run_table(runs: Sequence[RunSpectra]) -> list[dict[str, Any]]:
    return [
        {
            "path": r.path,
            "task": r.task,
            "task_type": r.task_type,
            "cell": r.cell,
            "init": r.init,
            "seed": r.seed,
            "test_metric": r.test_metric,
            "threshold": str(THRESHOLDS[r.task]),
            "well_trained": r.well_trained,
        }
        for r in runs
    ]


# --------------------------------------------------------------------------
# Figures and the markdown page
# --------------------------------------------------------------------------
