"""init-show and analyze: the effective spectrum on data next to W's, before and after calibration (issue 12, item 5)."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from eigenrnn.analysis import mean_jacobian_eigenvalues
from eigenrnn.analysis.effective import effective_spectra
from eigenrnn.cli import main
from eigenrnn.init import init_rnn


def test_effective_spectra_match_the_analysis_and_leave_the_module_alone():
    rnn = nn.RNN(1, 16)
    init_rnn(rnn, "orthogonal", generator=torch.Generator().manual_seed(0))
    x = torch.rand(30, 8, 1, generator=torch.Generator().manual_seed(1))
    before = rnn.weight_hh_l0.detach().clone()
    (spec,), calibration = effective_spectra(rnn, x, calibrate="jacobian_radius=1.0")
    assert torch.equal(rnn.weight_hh_l0.detach(), before)
    n = spec.numbers()
    assert n["w_radius_before"] == pytest.approx(float(torch.linalg.eigvals(before.double()).abs().max()))
    assert n["jacobian_radius_before"] == pytest.approx(mean_jacobian_eigenvalues(rnn, x).spectral_radius)
    assert n["jacobian_radius_after"] == pytest.approx(1.0, rel=0.02) and calibration["converged"]
    assert n["w_radius_after"] == pytest.approx(n["scale"] * n["w_radius_before"], rel=1e-6)


def test_init_show_with_task_and_calibrate_writes_both_figures(tmp_path, capsys):
    out = tmp_path / "gru.png"
    argv = ["init-show", "--init", "eigen", "--horizon", "30", "--cell", "gru", "--size", "16", "--task", "tomita3",
            "--batch", "16", "--calibrate", "jacobian_radius=0.9", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and (tmp_path / "gru_effective.png").read_bytes()[:4] == b"\x89PNG"
    assert "effective spectrum on 16 example inputs of tomita3" in printed and "converged True" in printed
    row = next(line for line in printed.splitlines() if line.startswith("l0.fwd "))
    assert float(row.split()[-1]) == pytest.approx(0.9, rel=0.02)  # rho(J) after calibration


def test_init_show_calibrate_needs_a_task(tmp_path, capsys):
    assert main(["init-show", "--init", "xavier", "--calibrate", "--out", str(tmp_path / "x.png")]) == 2
    assert "--calibrate" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_analyze_reports_the_effective_spectrum_and_calibration(tmp_path, capsys):
    rnn = nn.RNN(2, 12)
    init_rnn(rnn, "xavier", generator=torch.Generator().manual_seed(2))
    path = tmp_path / "rnn.pt"
    torch.save(rnn.state_dict(), path)
    out = tmp_path / "report"
    argv = ["analyze", str(path), "--cell", "rnn", "--hidden", "12", "--steps", "25", "--batch", "4", "--calibrate", "--out", str(out)]
    assert main(argv) == 0
    data = json.loads((out / "effective.json").read_text())
    layer = data["layers"]["l0.fwd"]
    assert layer["jacobian_radius_after"] == pytest.approx(1.0, rel=0.02)
    assert data["calibration"][""]["converged"] is True
    analysis = json.loads((out / "analysis.json").read_text())
    assert layer["jacobian_radius_before"] == pytest.approx(analysis["layers"]["l0.fwd"]["mean_jacobian"]["spectral_radius"])
    report = (out / "report.md").read_text()
    assert "## Effective spectrum on data" in report and "effective_l0_fwd.png" in report
    assert (out / "effective_l0_fwd.png").is_file()
