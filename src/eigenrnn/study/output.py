"""The trained-spectra study's outputs: figures, the markdown page, and :func:`run_study` that writes them.

See :mod:`eigenrnn.study.spectra` for the grid, the thresholds and the summary.
"""

from __future__ import annotations

import datetime
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from eigenrnn.bench.runner import commit_label, hardware_label, run_grid
from eigenrnn.errors import EigenRNNError
from eigenrnn.io import atomic_write_json, atomic_write_text
from eigenrnn.rnn import GATES
from eigenrnn.study.spectra import (
    STUDY_PROFILES,
    TASK_TYPES,
    THRESHOLDS,
    RunSpectra,
    _gate,
    read_run,
    run_table,
    study_grid,
    summarize,
    train_with_init_snapshot,
)


def _pooled(runs: Sequence[RunSpectra], *, ttype: str | None, cell: str, gate: str | None, which: str) -> np.ndarray:
    arrays = []
    for run in runs:
        if not run.well_trained or run.cell != cell or (ttype is not None and run.task_type != ttype):
            continue
        source = run.init_eigenvalues if which == "init" else {k: d.eigenvalues.numpy() for k, d in run.trained.items()}
        arrays.extend(v for k, v in source.items() if gate is None or _gate(k) == gate)
    return np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.complex128)


def write_figures(runs: Sequence[RunSpectra], root: Path, figures: Path) -> list[str]:
    """Complex-plane overlays per cell and gate, |λ| histograms per cell, and trajectories."""
    from eigenrnn.analysis.plots import (
        plot_eigenvalue_trajectories,
        plot_eigenvalues,
        plot_modulus_histogram,
        save_figure,
    )
    from eigenrnn.analysis.tracking import SpectrumTracker

    written = []
    for cell, cell_gates in GATES.items():
        for gate in cell_gates:
            spectra = {}
            init = _pooled(runs, ttype=None, cell=cell, gate=gate, which="init")
            if init.size:
                spectra["init (all runs)"] = init
            for ttype in TASK_TYPES:
                trained = _pooled(runs, ttype=ttype, cell=cell, gate=gate, which="trained")
                if trained.size:
                    spectra[f"{ttype}, trained"] = trained
            if len(spectra) < 2:
                continue
            name = f"plane_{cell}_{gate}.png"
            save_figure(plot_eigenvalues(spectra, title=f"{cell.upper()} gate {gate}: init vs trained"), figures / name)
            written.append(name)
        hist = {}
        for ttype in TASK_TYPES:
            trained = _pooled(runs, ttype=ttype, cell=cell, gate=None, which="trained")
            if trained.size:
                hist[ttype] = trained
        if hist:
            name = f"hist_{cell}.png"
            title = f"{cell.upper()}: |λ| of well-trained networks, all gates"
            save_figure(plot_modulus_histogram(hist, title=title, density=True), figures / name)
            written.append(name)
    # One trajectory figure per task type: the first well-trained GRU (else any) run.
    for ttype in TASK_TYPES:
        candidates = [r for r in runs if r.well_trained and r.task_type == ttype]
        candidates.sort(key=lambda r: (r.cell != "gru", r.path))
        if not candidates:
            continue
        run = candidates[0]
        tracked = SpectrumTracker.load(root / run.path / "spectra.npz")
        block = next(iter(tracked.spectra))
        name = f"trajectory_{ttype}.png"
        title = f"{run.task} {run.cell.upper()} ({run.init}): |λ| over training, {block}"
        save_figure(plot_eigenvalue_trajectories(tracked, block, title=title), figures / name)
        written.append(name)
    return written


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.{digits}f}"
    return str(value)


def markdown(result: Mapping[str, Any], figures: Sequence[str]) -> str:
    meta = result["meta"]
    lines = [
        "# Spectra of trained recurrent networks",
        "",
        f"Profile `{meta['profile']}` ({meta['note']}); commit `{meta['commit']}`; hardware: {meta['hardware']}; "
        f"seeds per configuration: {meta['seeds']}; written {meta['written']}.",
        "",
        "## Runs",
        "",
        "| task | type | cell | init | seed | test metric | threshold | well-trained |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['task']} | {run['task_type']} | {run['cell']} | {run['init']} | {run['seed']} | "
            f"{_fmt(run['test_metric'], 4)} | {run['threshold']} | {'yes' if run['well_trained'] else '**no**'} |"
        )
    lines += [
        "",
        "Only well-trained runs enter the tables below.",
        "",
        "## Eigenvalue statistics per task type, cell and gate (trained; init in parentheses)",
        "",
        "| type | cell | gate | runs | bulk radius (q90 of \\|λ\\|) | median \\|λ\\| | max \\|λ\\| | share \\|λ\\|>1 | median \\|arg λ\\| | real fraction | Henrici/‖W‖_F | log10 cond(V) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in result["summary"]["groups"]:
        t, i = row["trained"], row["init"] or {}

        def pair(key: str, digits: int = 3) -> str:
            return f"{_fmt(t.get(key), digits)} ({_fmt(i.get(key), digits)})"

        lines.append(
            f"| {row['task_type']} | {row['cell']} | {row['gate']} | {row['runs']} | {pair('bulk_radius')} | "
            f"{pair('modulus_q50')} | {pair('max_modulus')} | {pair('share_above_1')} | {pair('phase_median')} | "
            f"{pair('real_fraction')} | {_fmt(row['henrici_rel_median'])} ({_fmt(row['init_henrici_rel_median'])}) | "
            f"{_fmt(row['log10_cond_median'], 2)} ({_fmt(row['init_log10_cond_median'], 2)}) |"
        )
    lines += ["", "## Fitted spectra (eigenrnn.spectrum.fit_spectrum of the pooled trained eigenvalues)", ""]
    lines += ["| type | cell | gate | radius | distribution | max phase | real fraction |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for ttype, cells in result["summary"]["fits"].items():
        for cell, gates in cells.items():
            items = [("all", gates)] if cell == "all" else list(gates.items())
            for gate, fit in items:
                if fit is None:
                    continue
                lines.append(
                    f"| {ttype} | {cell if cell != 'all' else 'pooled'} | {gate if cell != 'all' else 'all'} | "
                    f"[{fit['radius'][0]:.3f}, {fit['radius'][1]:.3f}] | {fit['distribution']} | "
                    f"{fit['max_phase']:.3f} | {fit['real_fraction']:.3f} |"
                )
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{name}](figures/{name})" for name in figures]
    return "\n".join(lines) + "\n"


def run_study(profile: str, out: str | os.PathLike, *, workers: int | None = None, progress: bool = True,
              backend: Any = None, threads: int = 1) -> dict[str, Any]:
    """Train the study grid under ``out/runs`` (resumably) and write the summary, figures and page.

    ``backend``: where the runs train, a :mod:`eigenrnn.bench.backends` backend
    (default: the local pool with ``workers`` processes).
    Returns the result dictionary also written to ``out/summary.json``.
    """
    from eigenrnn.io import check_output, directory_lock, mark_output, sweep_stale_tmp

    check_output(out, "study", mode="resume", legacy=(("summary.json", "runs/study"),))
    out = Path(out)
    specs = study_grid(profile)
    with directory_lock(out):
        mark_output(out, "study")
        sweep_stale_tmp(out, ("summary.json", "summary.md"))
        if backend is None:
            sweep = run_grid(specs, out / "runs", workers=workers, progress=progress,
                             train_fn=train_with_init_snapshot, threads=threads)
        else:
            sweep = backend.run_grid(specs, out / "runs", progress=progress, train_fn=train_with_init_snapshot)
    apply = STUDY_PROFILES[profile].apply_thresholds
    runs = [r for r in (read_run(out / "runs", s, apply_thresholds=apply) for s in specs) if r is not None]
    if not runs:
        raise EigenRNNError(f"no run of the study finished under {out / 'runs'}; see the error.txt files there")
    result = {
        "meta": {
            "profile": profile,
            "note": STUDY_PROFILES[profile].note,
            "commit": commit_label(),
            "hardware": hardware_label(),
            "seeds": STUDY_PROFILES[profile].seeds,
            "written": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "thresholds": {task: str(t) for task, t in THRESHOLDS.items()} if apply else "not applied",
            "sweep": sweep.counts,
            "failed": sweep.errors,
        },
        "runs": run_table(runs),
        "summary": summarize(runs),
    }
    figures = out / "figures"
    names = write_figures(runs, out / "runs", figures)
    atomic_write_json(out / "summary.json", result)
    atomic_write_text(out / "summary.md", markdown(result, names))
    return result
