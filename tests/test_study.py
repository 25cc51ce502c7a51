from __future__ import annotations

import json
import math

import numpy as np
import pytest

from eigenrnn.study.spectra import THRESHOLDS, Threshold, spectrum_stats, study_grid, task_type
from eigenrnn.cli import main


def test_smoke_study_writes_summary_and_figures(tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["study", "spectra", "--profile", "smoke", "--out", str(out), "--workers", "2", "--no-progress"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["meta"]["profile"] == "smoke" and summary["meta"]["thresholds"] == "not applied"
    assert {r["task_type"] for r in summary["runs"]} == {"classification", "regression"}
    groups = {(g["task_type"], g["cell"], g["gate"]) for g in summary["summary"]["groups"]}
    assert ("regression", "lstm", "f") in groups and ("classification", "gru", "z") in groups
    pngs = list((out / "figures").glob("*.png"))
    assert pngs and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    page = (out / "summary.md").read_text()
    assert "commit" in page and "Profile `smoke`" in page
    for name in (p.name for p in pngs):
        assert f"figures/{name}" in page
    printed = capsys.readouterr().out
    assert "6 runs finished" in printed
    # A rerun trains nothing again: the run summaries are untouched.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/**/summary.json")}
    assert main(["study", "spectra", "--profile", "smoke", "--out", str(out), "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/**/summary.json")} == stamps


def test_spectrum_stats_on_known_eigenvalues():
    lam = np.array([1.5, 0.5, 0.5j, -0.5j, -0.25, 0.8 * np.exp(1j * np.pi / 8), 0.8 * np.exp(-1j * np.pi / 8), 0.0])
    stats = spectrum_stats(lam)
    assert stats["n"] == 8
    assert stats["count_above_1"] == 1 and stats["share_above_1"] == pytest.approx(1 / 8)
    assert stats["max_modulus"] == pytest.approx(1.5)
    assert stats["real_fraction"] == pytest.approx(4 / 8)
    assert stats["share_negative_real"] == pytest.approx(1 / 8)
    assert stats["modulus_q50"] == pytest.approx(0.5)
    # nonzero phases: 0, 0, pi/2, pi/2, pi, pi/8, pi/8 -> median pi/8
    assert stats["phase_median"] == pytest.approx(math.pi / 8)


def test_thresholds_and_grid():
    assert Threshold(0.95, True).met(0.96) and not Threshold(0.95, True).met(0.9)
    assert Threshold(0.01, False).met(0.005) and not Threshold(0.01, False).met(float("nan"))
    specs = study_grid("cpu")
    assert len(specs) == 9 * 3 * 2
    assert {s.task for s in specs} == set(THRESHOLDS)
    assert all(s.config["track_spectrum_every"] > 0 for s in specs)
    assert task_type("adding") == "regression" and task_type("copy") == "classification"
    with pytest.raises(ValueError, match="profile"):
        study_grid("huge")
