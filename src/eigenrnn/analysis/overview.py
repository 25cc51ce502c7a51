"""The ``eigenrnn analyze`` report: every analysis of this package on one model, written to a directory."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eigenrnn.analysis.decomposition import EigenDecomposition, decompose
from eigenrnn.analysis.fixed_points import FixedPoints, find_fixed_points
from eigenrnn.analysis.jacobians import GradientDecay, gradient_decay_curve, mean_jacobian_eigenvalues
from eigenrnn.analysis.memory import MemoryCurve, linear_memory_curve
from eigenrnn.analysis.projection import project
from eigenrnn.analysis.tracking import TrackedSpectra
from eigenrnn.analysis.trajectory import Trajectory, layer_trajectory
from eigenrnn.errors import bad_value
from eigenrnn.io import atomic_write_json, atomic_write_text
from eigenrnn.rnn import MAIN_GATE, RECURRENT_TYPES, cell_of, module_kind, recurrent_blocks

__all__ = ["BlockResult", "LayerResult", "Report", "analyze", "lag_below", "recurrent_modules", "summary_table", "write_report"]

@dataclass(frozen=True, eq=False)
class BlockResult:
    """Analysis of one recurrent gate block (see :func:`eigenrnn.init.recurrent_blocks`)."""

    key: str
    layer_label: str
    gate: str
    decomposition: EigenDecomposition
    memory: MemoryCurve
    mode_energy: torch.Tensor  # (T, n): the layer's hidden states projected on this block's eigenbasis
    init_eigenvalues: np.ndarray | None = None  # first tracked snapshot, if a spectra file was given


@dataclass(frozen=True, eq=False)
class LayerResult:
    """Trajectory-based analysis of one layer and direction of a recurrent module."""

    label: str
    kind: str
    input_source: str
    steps: int
    batch: int
    gradient: GradientDecay
    mean_jacobian: EigenDecomposition
    fixed_points: FixedPoints
    blocks: list[str]
    main_block: str


@dataclass(frozen=True, eq=False)
class Report:
    """Everything ``eigenrnn analyze`` computes; :func:`write_report` turns it into files."""

    title: str
    notes: list[str]
    blocks: dict[str, BlockResult]
    layers: dict[str, LayerResult]
    tracked: TrackedSpectra | None = None


def recurrent_modules(model: nn.Module) -> dict[str, nn.Module]:
    """``{path: module}`` of every nn.RNN/LSTM/GRU or cell inside ``model`` (``""`` for the root)."""
    found = {name: m for name, m in model.named_modules() if isinstance(m, RECURRENT_TYPES)}
    if not found:
        raise TypeError(bad_value("model", type(model).__name__, "a module containing nn.RNN/LSTM/GRU or their cells"))
    return found


def _layer_label(module_name: str, layer: int, direction: int) -> str:
    prefix = f"{module_name}." if module_name else ""
    return f"{prefix}l{layer}.{'bwd' if direction else 'fwd'}"


def _input_matrix(block: Any) -> torch.Tensor:
    """Input weights of a block: the gate's rows of ``weight_ih`` (times ``W_hr`` with projection)."""
    weight = getattr(block.module, block.parameter.replace("weight_hh", "weight_ih"))[block.rows]
    if block.projection is not None:
        weight = getattr(block.module, block.projection) @ weight
    return weight.detach()


def _blocks_by_layer(model: nn.Module) -> dict[str, list[Any]]:
    """``{layer label: [its recurrent blocks]}`` in module, layer, direction order."""
    by_layer: dict[str, list[Any]] = {}
    for block in recurrent_blocks(model):
        by_layer.setdefault(_layer_label(block.module_name, block.layer, block.direction), []).append(block)
    return by_layer


def _block_result(block: Any, label: str, hidden: torch.Tensor, steps: int, tracked: TrackedSpectra | None) -> BlockResult:
    """Decompose one block once; its memory curve and mode energy reuse that decomposition.

    ``hidden``: the layer's hidden states ``(T, B, P)`` along the driven trajectory.
    """
    with torch.no_grad():
        matrix = block.matrix().detach()
    dec = decompose(matrix)
    init = None
    if tracked is not None and block.key in tracked.spectra and tracked.steps.size:
        init = tracked.spectra[block.key][0]
    return BlockResult(
        key=block.key,
        layer_label=label,
        gate=block.gate,
        decomposition=dec,
        memory=linear_memory_curve(matrix, _input_matrix(block), steps, decomposition=dec),
        mode_energy=project(hidden.to(torch.float64), dec).energy,
        init_eigenvalues=init,
    )


def _layer_result(label: str, blocks: list[Any], traj: Trajectory, source: str, fixed_point_inits: int,
                  generator: torch.Generator) -> LayerResult:
    """Gradient decay, mean Jacobian and fixed points of one layer and direction, all on the one ``traj``."""
    first = blocks[0]
    module, where = first.module, {"layer": first.layer, "direction": first.direction}
    return LayerResult(
        label=label,
        kind=module_kind(module),
        input_source=source,
        steps=int(traj.states.shape[0]) - 1,
        batch=int(traj.states.shape[1]),
        gradient=gradient_decay_curve(module, trajectory=traj, **where),
        mean_jacobian=mean_jacobian_eigenvalues(module, trajectory=traj, **where),
        fixed_points=find_fixed_points(
            module, torch.zeros(traj.params.input_size), fixed_point_inits, trajectory=traj, **where, max_iters=500, generator=generator
        ),
        blocks=[b.key for b in blocks],
        main_block=next(b.key for b in blocks if b.gate == MAIN_GATE[cell_of(module)]),  # its eigenbasis is used for the energy figure
    )


def analyze(
    model: nn.Module,
    inputs: Mapping[str, tuple[torch.Tensor, str]],
    *,
    title: str,
    notes: list[str] | tuple[str, ...] = (),
    tracked: TrackedSpectra | None = None,
    fixed_point_inits: int = 32,
    seed: int = 0,
) -> Report:
    """Run every analysis on every recurrent block, layer and direction of ``model``.

    Per block: eigen-decomposition, linear memory curve over ``T`` lags (``U`` =
    the gate's rows of ``weight_ih``), energy of the layer's hidden states per
    eigenmode.  Per layer and direction: gradient-decay curve, time-averaged
    Jacobian, fixed points of the autonomous system (``x* = 0``) started from
    the visited states.  Each layer's trajectory and each block's
    decomposition is computed once and shared by the analyses that need it.

    Args:
        model: module containing recurrent modules (see :func:`recurrent_modules`).
        inputs: ``{module path: (inputs (T, B, input_size), description)}`` for
            every recurrent module of ``model``.
        title, notes: shown at the top of the report.
        tracked: spectra recorded during training; its first snapshot is
            overlaid as "init" and its trajectories plotted.
        fixed_point_inits: starting states per layer for :func:`find_fixed_points`.
        seed: seeds the fixed-point search.
    """
    modules = recurrent_modules(model)
    missing = sorted(set(modules) - set(inputs))
    if missing:
        raise ValueError(bad_value("inputs", sorted(inputs), f"inputs for every recurrent module, missing {missing}"))
    block_results: dict[str, BlockResult] = {}
    layer_results: dict[str, LayerResult] = {}
    generator = torch.Generator().manual_seed(seed)
    for label, blocks in _blocks_by_layer(model).items():
        first = blocks[0]
        x, source = inputs[first.module_name]
        traj = layer_trajectory(first.module, x, layer=first.layer, direction=first.direction)
        hidden = traj.states[1:, :, : traj.params.output_size]
        for block in blocks:
            block_results[block.key] = _block_result(block, label, hidden, int(x.shape[0]), tracked)
        layer_results[label] = _layer_result(label, blocks, traj, source, fixed_point_inits, generator)
    return Report(title=title, notes=list(notes), blocks=block_results, layers=layer_results, tracked=tracked)


# -- output -----------------------------------------------------------------


def _fmt(value: float, digits: int = 4) -> str:
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:.{digits}g}"


def summary_table(report: Report) -> str:
    """Fixed-width table: block, spectral radius, |λ|>1 count, Henrici, cond(V), max finite τ."""
    header = ("block", "spectral radius", "|λ|>1", "henrici", "cond(V)", "max finite τ")
    rows = [
        (
            key,
            _fmt(b.decomposition.spectral_radius),
            str(b.decomposition.n_unstable),
            _fmt(b.decomposition.henrici),
            _fmt(b.decomposition.eigenvector_condition),
            _fmt(b.decomposition.max_finite_time_constant),
        )
        for key, b in report.blocks.items()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths)))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    """Tensors/arrays to lists; NaN and ±inf to ``None`` (strict JSON has neither)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        if np.iscomplexobj(value):
            return {"real": _jsonable(value.real), "imag": _jsonable(value.imag)}
        value = value.tolist()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _slug(label: str) -> str:
    return label.replace(".", "_").replace("/", "_") or "root"


def lag_below(curve: Any, threshold: float) -> int | None:
    """First lag ``s`` with ``curve[s] < threshold``, ``None`` if it never gets there.

    A tensor is compared in its own dtype; anything else (a list, an array) as float64.

    >>> lag_below([1.0, 0.1, 0.01, 0.0005], 1e-3)
    3
    >>> lag_below(torch.tensor([1.0, 2.0]), 1e-3) is None
    True
    """
    if not isinstance(curve, torch.Tensor):
        curve = torch.as_tensor(np.asarray(curve, dtype=np.float64))
    below = torch.nonzero(curve < threshold)
    return int(below[0]) if below.numel() else None


def report_json(report: Report) -> dict[str, Any]:
    """Every number of the report as a JSON-ready dict (infinite values become ``null``)."""
    blocks = {}
    for key, b in report.blocks.items():
        entry = b.decomposition.to_dict()
        entry.update(
            layer=b.layer_label,
            gate=b.gate,
            linear_memory=b.memory.curve,
            linear_memory_modes=b.memory.modes,
            mode_energy_time_mean=b.mode_energy.mean(dim=0),
        )
        if b.init_eigenvalues is not None:
            entry["init_eigenvalues"] = np.asarray(b.init_eigenvalues)
        blocks[key] = entry
    layers = {}
    for label, layer in report.layers.items():
        fp = layer.fixed_points
        layers[label] = {
            "kind": layer.kind,
            "input_source": layer.input_source,
            "steps": layer.steps,
            "batch": layer.batch,
            "blocks": layer.blocks,
            "main_block": layer.main_block,
            "mode_energy_main_block": report.blocks[layer.main_block].mode_energy,
            "gradient_decay": {
                "curve": layer.gradient.curve,
                "log_per_sequence": layer.gradient.log_per_sequence,
                "top_singular_values_mean": layer.gradient.singular_values[..., : min(8, layer.gradient.singular_values.shape[-1])].mean(dim=0),
            },
            "mean_jacobian": layer.mean_jacobian.to_dict(),
            "fixed_points": {
                "x_star": fp.x_star,
                "n_inits": fp.n_inits,
                "n_converged": fp.n_converged,
                "points": fp.points,
                "q": fp.q,
                "eigenvalues": fp.eigenvalues.numpy(),
                "spectral_radius": fp.spectral_radius,
                "is_stable": fp.is_stable.tolist(),
            },
        }
    out: dict[str, Any] = {"title": report.title, "notes": report.notes, "blocks": blocks, "layers": layers}
    if report.tracked is not None:
        out["tracked"] = {"steps": report.tracked.steps, "spectra": dict(report.tracked.spectra)}
    return _jsonable(out)


def _write_figures(report: Report, out_dir: Path) -> list[tuple[str, str, str]]:
    """Write the PNGs; return ``(layer label, caption, file name)`` triples."""
    from eigenrnn.analysis import plots

    written = []

    def save(fig: Any, label: str, caption: str, name: str) -> None:
        plots.save_figure(fig, out_dir / name)
        written.append((label, caption, name))

    for label, layer in report.layers.items():
        slug = _slug(label)
        blocks = [report.blocks[k] for k in layer.blocks]
        spectra: dict[str, Any] = {}
        for b in blocks:
            if b.init_eigenvalues is not None:
                spectra[f"{b.gate} init"] = b.init_eigenvalues
            spectra[f"{b.gate} trained" if b.init_eigenvalues is not None else f"W_h{b.gate}"] = b.decomposition.eigenvalues
        spectra["mean Jacobian"] = layer.mean_jacobian.eigenvalues
        save(plots.plot_eigenvalues(spectra, title=f"{label}: eigenvalues"), label, "Eigenvalues on the complex plane", f"eigenvalues_{slug}.png")
        save(
            plots.plot_modulus_histogram({f"W_h{b.gate}": b.decomposition.eigenvalues for b in blocks}, title=f"{label}: |λ| histogram"),
            label,
            "Histogram of eigenvalue moduli",
            f"moduli_{slug}.png",
        )
        curves = {f"linear memory W_h{b.gate}": b.memory.curve for b in blocks}
        curves["gradient decay (batch mean)"] = layer.gradient.curve
        save(
            plots.plot_decay_curves(curves, title=f"{label}: memory and gradient decay"),
            label,
            "Linear memory ‖W^s U‖/‖U‖ and gradient decay ‖J_T⋯J_{T-s+1}‖₂",
            f"decay_{slug}.png",
        )
        main = report.blocks[layer.main_block]
        save(
            plots.plot_mode_energy(main.mode_energy, eigenvalues=main.decomposition.eigenvalues, title=f"{label}: energy per mode of W_h{main.gate}"),
            label,
            f"Hidden-state energy per eigenmode of W_h{main.gate}",
            f"energy_{slug}.png",
        )
        if report.tracked is not None and layer.main_block in report.tracked.spectra:
            save(
                plots.plot_eigenvalue_trajectories(report.tracked, layer.main_block),
                label,
                f"Eigenvalues of W_h{main.gate} during training",
                f"training_{slug}.png",
            )
    return written


def _markdown(report: Report, figures: list[tuple[str, str, str]]) -> str:
    lines = [f"# {report.title}", ""]
    lines += [f"- {note}" for note in report.notes]
    lines += ["", "## Recurrent blocks", "", "Eigen-decomposition W = V Λ V⁻¹ of every gate block (Dou & Principe, 2023).", ""]
    lines += ["| block | n | spectral radius | \\|λ\\|>1 | henrici | cond(V) | max τ (finite) | median τ |", "|---|---|---|---|---|---|---|---|"]
    for key, b in report.blocks.items():
        d = b.decomposition
        median = float(d.time_constants.median())
        lines.append(
            f"| `{key}` | {d.size} | {_fmt(d.spectral_radius)} | {d.n_unstable} | {_fmt(d.henrici)} | "
            f"{_fmt(d.eigenvector_condition)} | {_fmt(d.max_finite_time_constant)} | {_fmt(median)} |"
        )
    lines += ["", "## Dynamics along the driven trajectory", ""]
    lines += [
        "| layer | cell | inputs | T × B | ‖∂s_T/∂s_0‖₂ (mean) | lag where gradient < 1e-3 | mean-Jacobian ρ | fixed points (stable) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, layer in report.layers.items():
        lag = lag_below(layer.gradient.curve, 1e-3)
        fp = layer.fixed_points
        lines.append(
            f"| `{label}` | {layer.kind} | {layer.input_source} | {layer.steps} × {layer.batch} | {_fmt(float(layer.gradient.curve[-1]))} | "
            f"{'—' if lag is None else lag} | {_fmt(layer.mean_jacobian.spectral_radius)} | {len(fp)} ({int(fp.is_stable.sum())}) |"
        )
    current = None
    for label, caption, name in figures:
        if label != current:
            lines += ["", f"## Figures: `{label}`", ""]
            current = label
        lines += [f"**{caption}**", "", f"![{caption}]({name})", ""]
    lines += [
        "",
        "## Definitions",
        "",
        "- spectral radius ρ = max |λ_k|; `|λ|>1` counts modes that grow in the linear system.",
        "- henrici = sqrt(‖W‖_F² − Σ|λ_k|²), the departure from normality (0 for normal W); cond(V) is the 2-norm condition number of the eigenvector matrix.",
        "- τ_k = −1/ln|λ_k| steps (infinite for |λ_k| ≥ 1; `null` in analysis.json); the half-life is τ_k ln 2.",
        "- linear memory m(s) = ‖W^s U‖_F / ‖U‖_F with U the gate's rows of `weight_ih` (times `W_hr` with projection).",
        "- gradient decay g(s) = ‖J_T ⋯ J_{T−s+1}‖₂ with J_t = ∂s_t/∂s_{t−1} along the trajectory (s = h, or (h, c) for LSTM).",
        "- mean Jacobian: eigenvalues of the Jacobian averaged over time and batch.",
        "- fixed points: of the autonomous layer (x* = 0), found from the visited states; stable means spectral radius of the Jacobian < 1.",
        "- every number is in `analysis.json`.",
    ]
    return "\n".join(lines) + "\n"


def write_report(report: Report, out_dir: str | os.PathLike) -> list[str]:
    """Write ``report.md``, ``analysis.json`` and the PNG figures into ``out_dir``; return the file names.

    Call inside :func:`eigenrnn.io.atomic_directory` so that a failure leaves nothing behind.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = _write_figures(report, out_dir)
    atomic_write_json(out_dir / "analysis.json", report_json(report))
    atomic_write_text(out_dir / "report.md", _markdown(report, figures))
    return ["report.md", "analysis.json", *(name for _, _, name in figures)]
