"""The outputs of the information-decay study: figures, ``information_decay.json``, a table and the command line.

The numbers come from :mod:`eigenrnn.analysis.decay_study`;
``scripts/information_decay.py`` calls :func:`main`.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from eigenrnn.analysis.decay_study import _GATE_NAMES, DEFAULT_TASKS, THRESHOLD, CellDecay, information_decay
from eigenrnn.analysis.plots import new_figure, save_figure
from eigenrnn.bench.runner import commit_label, hardware_label
from eigenrnn.errors import EigenRNNError
from eigenrnn.io import atomic_write_json


def plot_decay(results: Sequence[CellDecay], task: str) -> Any:
    """One panel per cell: m(s) and g(s) on a log axis, trained (solid) and at initialization (dashed)."""
    rows = [r for r in results if r.task == task]
    fig = new_figure(4.2 * len(rows), 4.0)
    axes = fig.subplots(1, len(rows), sharey=True, squeeze=False)[0]
    for ax, r in zip(axes, rows):
        lags = np.arange(r.steps + 1)
        for state, style, label in ((r.trained, "-", "trained"), (r.init_state, "--", "init")):
            ax.plot(lags, np.where(state.memory > 0, state.memory, np.nan), style, color="tab:blue",
                    label=f"linear memory ‖W^s U‖/‖U‖, {label}")
            ax.plot(lags, np.where(state.gradient > 0, state.gradient, np.nan), style, color="tab:red",
                    label=f"gradient ‖J_T⋯J_(T-s+1)‖₂, {label}")
        # The λ^s prediction with the trained mean Jacobian in place of W.
        ax.plot(lags, r.trained.jacobian_radius ** lags.astype(np.float64), color="k", lw=0.9, ls="-.",
                label="ρ(J̄)^s, trained")
        ax.axhline(THRESHOLD, color="0.5", lw=0.8, ls=":")
        ax.set_yscale("log")
        ax.set_xlabel("lag s (steps)")
        ax.set_title(f"{r.cell.upper()} (W = {_GATE_NAMES[r.cell]})", fontsize="medium")
    axes[0].set_ylabel(f"norm ratio (dotted: {THRESHOLD:g})")
    axes[0].legend(fontsize="x-small", loc="lower left")
    fig.suptitle(f"{task}: linear λ^s memory vs gradient through the real Jacobians ({rows[0].sequences} sequences, T = {rows[0].steps})")
    return fig


def plot_spectra(results: Sequence[CellDecay], task: str) -> Any:
    """Rows init/trained, one column per cell: eigenvalues of W (o) and of the mean Jacobian J̄ (x)."""
    rows = [r for r in results if r.task == task]
    fig = new_figure(4.0 * len(rows), 8.0)
    grid = fig.subplots(2, len(rows), squeeze=False)
    theta = np.linspace(0, 2 * np.pi, 361)
    for col, r in enumerate(rows):
        for row, (state, label) in enumerate(((r.init_state, "init"), (r.trained, "trained"))):
            ax = grid[row, col]
            ax.plot(np.cos(theta), np.sin(theta), color="0.4", lw=1, ls="--")
            w, j = state.w_eigenvalues, state.jacobian_eigenvalues
            ax.scatter(w.real, w.imag, s=14, facecolors="none", edgecolors="tab:blue", label=f"W ({len(w)}), ρ={state.w_radius:.3f}")
            ax.scatter(j.real, j.imag, s=14, marker="x", color="tab:red", label=f"J̄ ({len(j)}), ρ={state.jacobian_radius:.3f}")
            lim = 1.08 * max(1.0, state.w_radius, state.jacobian_radius)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_title(f"{r.cell.upper()} {label}", fontsize="medium")
            ax.legend(fontsize="x-small", loc="upper right")
            ax.set_xlabel("Re λ")
            ax.set_ylabel("Im λ")
    fig.suptitle(f"{task}: eigenvalues of W (o, {', '.join(f'{r.cell} {r.gate}' for r in rows)}) vs time-averaged Jacobian J̄ (x)")
    return fig


# -- report ----------------------------------------------------------------------


def write_outputs(results: Sequence[CellDecay], out: str | Path, *, command: str, runs_dir: str | Path) -> list[Path]:
    """Write ``information_decay.json`` and two figures per task into ``out``; return the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    tasks = list(dict.fromkeys(r.task for r in results))
    for task in tasks:
        for name, fig in ((f"decay_{task}.png", plot_decay(results, task)), (f"eigenvalues_{task}.png", plot_spectra(results, task))):
            save_figure(fig, out / name)
            written.append(out / name)
    study_meta = {}
    study_summary = Path(runs_dir).parent / "summary.json"
    if study_summary.is_file():
        study_meta = {k: v for k, v in json.loads(study_summary.read_text()).get("meta", {}).items() if k != "failed"}
    payload = {
        "meta": {
            "command": command,
            "commit": commit_label(),
            "hardware": hardware_label(),
            "written": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "threshold": THRESHOLD,
            "study": study_meta,
            "notes": [
                "memory = ||W^s U||_F / ||U||_F of the candidate block (linear SSM, no nonlinearity)",
                "gradient = mean over sequences of ||J_T ... J_(T-s+1)||_2 along the example trajectories",
                "gradient_per_step_factor r: r^T = geometric mean over sequences of the lag-T gradient norm",
                "*_extrapolated: lag at which r^s (gradient) or rho(W)^s (memory) reaches the threshold",
                "init = the run's model rebuilt from its config and seed; init_eigenvalue_match = distance to spectra.npz step 0",
            ],
        },
        "runs": [r.summary() for r in results],
    }
    atomic_write_json(out / "information_decay.json", payload)
    written.append(out / "information_decay.json")
    return written


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def table(results: Sequence[CellDecay]) -> str:
    """Markdown table of the key numbers (what ``docs/ANALYSIS.md`` shows)."""
    head = ("task", "cell", "model", "ρ(W)", "m(T)", "ρ(J̄)", "r", f"g < {THRESHOLD:g} at s", "r^s extrap.",
            "g(T) mean", "g(T) median [min, max]", "mean gates / slopes")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        for label, state in (("init", r.init_state), ("trained", r.trained)):
            s = state.summary()
            spread = s["gradient_at_T_per_sequence"]
            gates = ", ".join(f"{k} {v:.2f}" for k, v in state.gates.items())
            if state.top_mode_cell_share is not None:
                gates += f", top J̄ mode on c {state.top_mode_cell_share:.0%}"
            lines.append("| " + " | ".join((
                r.task, r.cell, label, _fmt(s["w_spectral_radius"]), f"{s['memory_at_T']:.1e}",
                _fmt(s["mean_jacobian_spectral_radius"]), _fmt(s["gradient_per_step_factor"]),
                _fmt(s["gradient_lag_below_threshold"]), _fmt(s["gradient_lag_below_threshold_extrapolated"]),
                f"{s['gradient_at_T']:.1e}", f"{spread['median']:.1e} [{spread['min']:.0e}, {spread['max']:.0e}]", gates,
            )) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="How information decays in vanilla RNN, LSTM and GRU: the linear λ^s picture against the real dynamics."
    )
    parser.add_argument("runs_dir", metavar="RUNS_DIR", type=Path, help="the 'runs' directory of `eigenrnn study spectra --out`")
    parser.add_argument("--out", type=Path, default=Path("docs/analysis"), help="output directory (default docs/analysis)")
    parser.add_argument("--tasks", nargs="+", default=list(DEFAULT_TASKS), help=f"tasks to analyse (default {' '.join(DEFAULT_TASKS)})")
    parser.add_argument("--init", default="xavier", help="initializer of the study runs (default xavier)")
    parser.add_argument("--sequences", type=int, default=16, help="example sequences per task (default 16)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the example sequences (default 0)")
    args = parser.parse_args(argv)
    # One thread: the small batched SVDs are slower multi-threaded on a busy 2-core machine.
    torch.set_num_threads(1)
    try:
        results = information_decay(args.runs_dir, args.tasks, init=args.init, sequences=args.sequences, data_seed=args.data_seed)
        command = "python scripts/information_decay.py " + " ".join(sys.argv[1:] if argv is None else argv)
        paths = write_outputs(results, args.out, command=command, runs_dir=args.runs_dir)
    except (EigenRNNError, FileNotFoundError, ValueError) as exc:
        print(f"information_decay: error: {exc}", file=sys.stderr)
        return 2
    print(table(results))
    print("\nwrote " + ", ".join(str(p) for p in paths))
    return 0

