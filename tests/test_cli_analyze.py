"""`eigenrnn analyze` on small saved models, a project checkpoint, and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from eigenrnn.analysis import decompose, gradient_decay_curve
from eigenrnn.cli import main

torch.set_num_threads(1)


def _save(module: nn.Module, path: Path) -> Path:
    torch.save(module.state_dict(), path)
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["analyze", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _assert_clean_failure(status: int, err: str, out_dir: Path, *needles: str) -> None:
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eigenrnn: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]
    assert not out_dir.exists()
    assert not [p for p in out_dir.parent.iterdir() if p.name.startswith(f".{out_dir.name}")]


def test_plain_gru_state_dict(tmp_path, capsys):
    gru = nn.GRU(3, 8)
    path = _save(gru, tmp_path / "gru.pt")
    out = tmp_path / "report"
    status, stdout, _ = _run(capsys, str(path), "--cell", "gru", "--hidden", "8", "--steps", "20", "--batch", "3", "--out", str(out))
    assert status == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(
        [".eigenrnn-output", "analysis.json", "report.md", "eigenvalues_l0_fwd.png", "moduli_l0_fwd.png", "decay_l0_fwd.png",
         "energy_l0_fwd.png"]
    )
    assert (out / ".eigenrnn-output").read_text() == "analyze\n"
    data = json.loads((out / "analysis.json").read_text())
    for gate, rows in (("r", slice(0, 8)), ("z", slice(8, 16)), ("n", slice(16, 24))):
        truth = decompose(gru.weight_hh_l0[rows].detach())
        block = data["blocks"][f"l0.fwd.{gate}"]
        assert block["spectral_radius"] == pytest.approx(truth.spectral_radius)
        assert block["henrici"] == pytest.approx(truth.henrici)
        assert block["eigenvalues_real"] == pytest.approx(truth.eigenvalues.real.tolist())
        assert len(block["linear_memory"]) == 21 and block["linear_memory"][0] == 1.0
        assert f"l0.fwd.{gate}" in stdout and f"{truth.spectral_radius:.4g}" in stdout
    # the trajectory is driven by the seeded Gaussian inputs the report announces
    x = torch.randn(20, 3, 3, generator=torch.Generator().manual_seed(0))
    layer = data["layers"]["l0.fwd"]
    assert layer["gradient_decay"]["curve"] == pytest.approx(gradient_decay_curve(gru, x).curve.tolist(), rel=1e-9)
    assert layer["input_source"].startswith("random")
    report = (out / "report.md").read_text()
    assert "random Gaussian inputs" in report and "![" in report and "`l0.fwd.n`" in report
    for header in ("spectral radius", "|λ|>1", "henrici", "cond(V)", "max finite τ"):
        assert header in stdout


def test_plain_bidirectional_projected_lstm(tmp_path, capsys):
    lstm = nn.LSTM(2, 4, bidirectional=True, proj_size=3)
    path = _save(lstm, tmp_path / "lstm.pt")
    out = tmp_path / "report"
    args = [str(path), "--cell", "lstm", "--hidden", "4", "--layers", "1", "--input-size", "2", "--steps", "12", "--batch", "2", "--out", str(out)]
    assert _run(capsys, *args)[0] == 0
    data = json.loads((out / "analysis.json").read_text())
    assert sorted(data["layers"]) == ["l0.bwd", "l0.fwd"]
    assert len(data["blocks"]) == 8
    assert data["blocks"]["l0.bwd.f"]["size"] == 3  # the P×P loop matrix
    assert data["layers"]["l0.bwd"]["main_block"] == "l0.bwd.g"
    assert len(data["layers"]["l0.bwd"]["gradient_decay"]["curve"]) == 13
    assert len(data["layers"]["l0.bwd"]["fixed_points"]["points"][0]) == 3 + 4  # (h, c) state


def test_json_has_no_infinities_and_rerun_replaces(tmp_path, capsys):
    rnn = nn.RNN(2, 3, nonlinearity="relu")
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.diag(torch.tensor([1.5, 0.5, 0.25])))
    path = _save(rnn, tmp_path / "rnn.pt")
    out = tmp_path / "r"
    assert _run(capsys, str(path), "--cell", "rnn", "--hidden", "3", "--nonlinearity", "relu", "--steps", "5", "--out", str(out))[0] == 0
    text = (out / "analysis.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    block = json.loads(text)["blocks"]["l0.fwd.h"]
    assert block["time_constants"] == [None, pytest.approx(1 / math.log(2)), pytest.approx(1 / math.log(4))]
    assert block["n_unstable"] == 1
    # an earlier report is refused without --force, and with it replaced, not merged
    (out / "stale.png").write_bytes(b"x")
    argv = [str(path), "--cell", "rnn", "--hidden", "3", "--nonlinearity", "relu", "--steps", "5", "--out", str(out)]
    status, _, err = _run(capsys, *argv)
    assert status == 2 and "pass --force" in err and (out / "stale.png").exists()
    assert _run(capsys, *argv, "--force")[0] == 0
    assert not (out / "stale.png").exists() and (out / "report.md").is_file()


def test_project_checkpoint_with_task(tmp_path, capsys):
    from eigenrnn.train.trainer import train

    run = tmp_path / "run"
    train(
        {"task": "tomita4", "cell": "rnn", "hidden": 6, "epochs": 1, "batch_size": 16, "train_size": 32,
         "val_size": 16, "test_size": 16, "track_spectrum_every": 1, "out": str(run), "device": "cpu"},
        progress=False,
    )
    out = tmp_path / "report"
    status, stdout, _ = _run(capsys, str(run / "best.pt"), "--task", "tomita4", "--batch", "4", "--out", str(out))
    assert status == 0
    assert "rnn.l0.fwd.h" in stdout
    data = json.loads((out / "analysis.json").read_text())
    assert data["layers"]["rnn.l0.fwd"]["input_source"].startswith("task 'tomita4'")
    assert "init_eigenvalues" in data["blocks"]["rnn.l0.fwd.h"]  # from the run's spectra.npz
    assert (out / "training_rnn_l0_fwd.png").is_file()
    assert "tomita4" in (out / "report.md").read_text()


def test_plain_state_dict_with_float_task(tmp_path, capsys):
    path = _save(nn.GRU(2, 5), tmp_path / "gru.pt")
    out = tmp_path / "r"
    assert _run(capsys, str(path), "--cell", "gru", "--hidden", "5", "--task", "adding", "--batch", "2", "--out", str(out))[0] == 0
    layer = json.loads((out / "analysis.json").read_text())["layers"]["l0.fwd"]
    assert layer["steps"] == 100 and layer["batch"] == 2 and "adding" in layer["input_source"]
    status, _, err = _run(capsys, str(path), "--cell", "gru", "--hidden", "5", "--task", "tomita4", "--out", str(tmp_path / "t"))
    _assert_clean_failure(status, err, tmp_path / "t", "token ids")


def test_junk_file(tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_text("this is not a checkpoint")
    out = tmp_path / "out"
    status, _, err = _run(capsys, str(junk), "--cell", "gru", "--hidden", "4", "--out", str(out))
    _assert_clean_failure(status, err, out, "junk.pt", "not a PyTorch state_dict")
    status, _, err = _run(capsys, str(junk), "--out", str(out))
    _assert_clean_failure(status, err, out, "junk.pt", "--cell")


def test_junk_file_console_script_has_no_traceback(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00\x01garbage")
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "eigenrnn.cli", "analyze", str(junk), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("eigenrnn: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_nan_weights(tmp_path, capsys):
    gru = nn.GRU(3, 4)
    with torch.no_grad():
        gru.weight_hh_l0[0, 0] = float("nan")
    path = _save(gru, tmp_path / "nan.pt")
    out = tmp_path / "out"
    status, _, err = _run(capsys, str(path), "--cell", "gru", "--hidden", "4", "--out", str(out))
    _assert_clean_failure(status, err, out, "weight_hh_l0", "NaN or inf")


@pytest.mark.parametrize(
    "argv, needles",
    [
        (["--cell", "lstm", "--hidden", "4"], ["weight_ih_l0", "(12, 3)", "(16, input_size)"]),
        (["--cell", "gru", "--hidden", "5"], ["weight_ih_l0", "(15, input_size)"]),
        (["--cell", "gru", "--hidden", "4", "--input-size", "2"], ["input size 3", "--input-size 2"]),
        (["--cell", "gru", "--hidden", "4", "--layers", "2"], ["1 layer", "--layers 2"]),
        (["--cell", "transformer", "--hidden", "4"], ["--cell", "'transformer'", "rnn, lstm, gru"]),
        (["--cell", "gru", "--hidden", "4", "--nonlinearity", "relu"], ["--nonlinearity"]),
        (["--hidden", "4"], ["--hidden", "--cell"]),
        (["--cell", "gru"], ["--hidden"]),
        (["--cell", "gru", "--hidden", "4", "--batch", "0"], ["--batch", "positive"]),
        (["--cell", "gru", "--hidden", "4", "--task", "adding", "--steps", "5"], ["--steps", "--task"]),
    ],
)
def test_bad_arguments_and_mismatched_shapes(tmp_path, capsys, argv, needles):
    path = _save(nn.GRU(3, 4), tmp_path / "gru.pt")
    out = tmp_path / "out"
    status, _, err = _run(capsys, str(path), *argv, "--out", str(out))
    _assert_clean_failure(status, err, out, *needles)


def test_missing_file_and_unsafe_out_dir(tmp_path, capsys):
    out = tmp_path / "out"
    status, _, err = _run(capsys, str(tmp_path / "nope.pt"), "--cell", "gru", "--hidden", "4", "--out", str(out))
    _assert_clean_failure(status, err, out, "nope.pt", "not found")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("precious")
    path = _save(nn.GRU(3, 4), tmp_path / "gru.pt")
    status, _, err = _run(capsys, str(path), "--cell", "gru", "--hidden", "4", "--out", str(busy))
    assert status == 2 and "not written by eigenrnn" in err
    assert (busy / "thesis.tex").read_text() == "precious"


def test_failure_while_writing_leaves_nothing(tmp_path, capsys, monkeypatch):
    import eigenrnn.analysis.overview as report_module

    def broken(report, out_dir):
        (Path(out_dir) / "report.md").write_text("half")
        raise ValueError("disk full (simulated)")

    monkeypatch.setattr(report_module, "write_report", broken)
    path = _save(nn.GRU(3, 4), tmp_path / "gru.pt")
    out = tmp_path / "out"
    status, _, err = _run(capsys, str(path), "--cell", "gru", "--hidden", "4", "--steps", "4", "--out", str(out))
    _assert_clean_failure(status, err, out, "disk full")
