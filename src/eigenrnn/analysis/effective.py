"""The effective spectrum on data next to W's spectrum, before and after :func:`eigenrnn.init.calibrate_`.

``W``'s eigenvalues are what an initializer sets; the eigenvalues of the time-
and batch-averaged state Jacobian :math:`\\bar J` (:func:`mean_jacobian_eigenvalues`)
are what the nonlinear network runs on for those inputs.  ``eigenrnn
init-show --task`` and ``eigenrnn analyze --calibrate`` show both, and what
calibration does to each.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from eigenrnn.analysis.jacobians import mean_jacobian_eigenvalues
from eigenrnn.errors import bad_value
from eigenrnn.rnn import MAIN_GATE, parse_block_key, recurrent_blocks

__all__ = ["EffectiveSpectrum", "effective_spectra", "effective_markdown", "plot_effective", "write_effective"]



@dataclass(frozen=True, eq=False)
class EffectiveSpectrum:
    """W's and the mean Jacobian's eigenvalues of one layer and direction, before and (optionally) after calibration.

    Attributes:
        label: layer label, e.g. ``"rnn.l0.fwd"``.
        main_block: key of the block whose ``W`` is shown (RNN ``h``, GRU ``n``, LSTM ``g``).
        w_before, jacobian_before: complex eigenvalues ``(n,)`` / ``(S,)``.
        w_after, jacobian_after: the same after calibration, or ``None``.
        scale: the calibration factor ``c`` of this layer, or ``None``.
    """

    label: str
    main_block: str
    w_before: torch.Tensor
    jacobian_before: torch.Tensor
    w_after: torch.Tensor | None = None
    jacobian_after: torch.Tensor | None = None
    scale: float | None = None

    def numbers(self) -> dict[str, Any]:
        rho = lambda lam: None if lam is None else float(lam.abs().max())  # noqa: E731
        return {
            "main_block": self.main_block,
            "w_radius_before": rho(self.w_before),
            "jacobian_radius_before": rho(self.jacobian_before),
            "w_radius_after": rho(self.w_after),
            "jacobian_radius_after": rho(self.jacobian_after),
            "scale": self.scale,
        }


def _layers(module: nn.Module, prefix: str) -> list[tuple[str, int, int, str, Any]]:
    out = []
    for block in recurrent_blocks(module):
        if block.module is module and block.gate == MAIN_GATE[block.cell]:
            label = f"{prefix}{'.' if prefix else ''}l{block.layer}.{'bwd' if block.direction else 'fwd'}"
            out.append((label, block.layer, block.direction, block.key, block))
    return out


def _measure(module: nn.Module, x: torch.Tensor, prefix: str) -> dict[str, tuple[str, torch.Tensor, torch.Tensor]]:
    result = {}
    for label, layer, direction, key, block in _layers(module, prefix):
        w = torch.linalg.eigvals(block.matrix().detach().to(torch.float64))
        jac = mean_jacobian_eigenvalues(module, x, layer=layer, direction=direction).eigenvalues
        result[label] = (f"{prefix}{'.' if prefix else ''}{key}", w, jac)
    return result


def effective_spectra(
    module: nn.Module, inputs: torch.Tensor, *, calibrate: str | None = None, prefix: str = ""
) -> tuple[list[EffectiveSpectrum], dict[str, Any] | None]:
    """Measure W's and the mean Jacobian's spectra on ``inputs``; with ``calibrate``, also on a calibrated copy.

    The module itself is never changed: calibration runs on a deep copy.

    Args:
        module: an nn.RNN/LSTM/GRU (or cell).
        inputs: ``(T, B, input_size)`` features.
        calibrate: ``"QUANTITY=TARGET"`` (see :func:`eigenrnn.calibration.parse_calibrate`) or ``None``.
        prefix: prepended to layer labels (the module's path in a model).

    Returns:
        ``(per-layer EffectiveSpectrum list, CalibrationResult.to_dict() or None)``.
    """
    from eigenrnn.calibration import calibrate_, parse_calibrate

    if not isinstance(module, (nn.RNNBase, nn.RNNCellBase)):
        raise TypeError(bad_value("module", type(module).__name__, "an nn.RNN/LSTM/GRU or cell"))
    spec = parse_calibrate(calibrate) if calibrate is not None else None
    before = _measure(module, inputs, prefix)
    if spec is None:
        return [EffectiveSpectrum(label, key, w, jac) for label, (key, w, jac) in before.items()], None
    calibrated = copy.deepcopy(module)
    result = calibrate_(calibrated, inputs, quantity=spec[0], target=spec[1])
    after = _measure(calibrated, inputs, prefix)
    out = []
    for label, (key, w, jac) in before.items():
        local = label[len(prefix) + 1 :] if prefix else label
        out.append(EffectiveSpectrum(label, key, w, jac, after[label][1], after[label][2], result.scales.get(local)))
    return out, result.to_dict()


def plot_effective(spectrum: EffectiveSpectrum, *, title: str | None = None) -> Any:
    """One complex-plane figure: W and mean-Jacobian eigenvalues, before and after calibration."""
    from eigenrnn.analysis.plots import plot_eigenvalues

    gate = parse_block_key(spectrum.main_block).gate
    sets: dict[str, Any] = {f"W_h{gate}": spectrum.w_before, "mean Jacobian on data": spectrum.jacobian_before}
    if spectrum.w_after is not None:
        sets[f"W_h{gate} calibrated (c={spectrum.scale:.3g})"] = spectrum.w_after
        sets["mean Jacobian calibrated"] = spectrum.jacobian_after
    return plot_eigenvalues(sets, title=title or f"{spectrum.label}: W and effective spectrum")


def effective_markdown(spectra: list[EffectiveSpectrum], calibration: dict[str, Any] | None) -> list[str]:
    """Report lines: ρ(W) and ρ(J̄) per layer, before and after calibration."""
    fmt = lambda v: "—" if v is None else f"{v:.4g}"  # noqa: E731
    lines = [
        "## Effective spectrum on data",
        "",
        "ρ(W) of the block playing W_hh's role (RNN h, GRU n, LSTM g) against ρ of the time- and batch-averaged "
        "state Jacobian J̄ on the same inputs (what the network runs on).",
        "",
    ]
    if calibration is not None:
        lines += [
            f"Calibration (`calibrate_` on a copy; the analysed weights are unchanged): {calibration['quantity']} → "
            f"{calibration['target']}, {calibration['evaluations']} evaluations, converged {calibration['converged']}.",
            "",
        ]
    lines += ["| layer | block | ρ(W) | ρ(J̄) | scale c | ρ(W) calibrated | ρ(J̄) calibrated |", "|---|---|---|---|---|---|---|"]
    for s in spectra:
        n = s.numbers()
        lines.append(
            f"| `{s.label}` | `{s.main_block}` | {fmt(n['w_radius_before'])} | {fmt(n['jacobian_radius_before'])} | {fmt(n['scale'])} | "
            f"{fmt(n['w_radius_after'])} | {fmt(n['jacobian_radius_after'])} |"
        )
    return lines + [""]


def write_effective(
    spectra: list[EffectiveSpectrum], calibration: dict[str, Any] | None, out_dir: str | os.PathLike
) -> list[str]:
    """Write ``effective_<layer>.png`` per layer and ``effective.json``; return the file names."""
    from eigenrnn.analysis.plots import save_figure
    from eigenrnn.analysis.overview import _jsonable, _slug
    from eigenrnn.io import atomic_write_json

    out_dir = Path(out_dir)
    names = []
    for s in spectra:
        name = f"effective_{_slug(s.label)}.png"
        save_figure(plot_effective(s), out_dir / name)
        names.append(name)
    data = {
        "layers": {
            s.label: {
                **s.numbers(),
                "w_eigenvalues": s.w_before,
                "jacobian_eigenvalues": s.jacobian_before,
                "w_eigenvalues_calibrated": s.w_after,
                "jacobian_eigenvalues_calibrated": s.jacobian_after,
            }
            for s in spectra
        },
        "calibration": calibration,
    }
    atomic_write_json(out_dir / "effective.json", _jsonable(data))
    return ["effective.json", *names]
