"""TensorBoard logging of train and bench, read back with TensorBoard's own event reader."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from eigenrnn.bench import profiles  # noqa: E402
from eigenrnn.cli import main  # noqa: E402
from eigenrnn.init import recurrent_blocks  # noqa: E402
from eigenrnn.train import TrainConfig, load_checkpoint, train  # noqa: E402
from eigenrnn.train.tensorboard import TensorBoardLogger, grad_norm  # noqa: E402

TINY = {"task": "sine", "cell": "gru", "hidden": 8, "epochs": 2, "batch_size": 16, "lr": 1e-2,
        "train_size": 48, "val_size": 16, "test_size": 16, "log_every": 1, "task_options": {"length": 10}}


def _events(logdir: Path) -> EventAccumulator:
    events = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events


def test_train_logs_curves_lr_and_grad_norm_per_step_and_epoch(tmp_path):
    result = train(TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run")}), progress=False,
                   callbacks=[TensorBoardLogger(tmp_path / "tb")])
    events = _events(tmp_path / "tb")
    tags = set(events.Tags()["scalars"])
    assert {"loss/train", "loss/val", "metric/train", "metric/val", "optim/lr", "optim/grad_norm"} <= tags
    assert events.Tags()["histograms"] == []  # no spectrum tracking, no histograms
    # One point per epoch at the epoch's last step, equal to what metrics.jsonl says.
    for tag, key in (("loss/train", "train_loss"), ("loss/val", "val_loss"), ("metric/val", "val_metric"),
                     ("optim/lr", "lr")):
        points = events.Scalars(tag)
        assert [p.step for p in points] == [r["step"] for r in result.history]
        np.testing.assert_allclose([p.value for p in points], [r[key] for r in result.history], rtol=1e-6)
    norms = events.Scalars("optim/grad_norm")
    assert [p.step for p in norms] == list(range(1, result.steps + 1))  # log_every=1
    assert all(np.isfinite(p.value) and p.value > 0 for p in norms)


def test_spectrum_tracking_adds_radius_scalars_and_modulus_histograms(tmp_path):
    config = TrainConfig.from_dict({**TINY, "out": str(tmp_path / "run"), "track_spectrum_every": 2})
    result = train(config, progress=False, callbacks=[TensorBoardLogger(tmp_path / "tb")])
    events = _events(tmp_path / "tb")
    model = load_checkpoint(tmp_path / "run" / "checkpoint.pt").model
    blocks = recurrent_blocks(model)
    assert {f"spectrum/{b.key}/modulus" for b in blocks} == set(events.Tags()["histograms"])
    for block in blocks:
        radius = events.Scalars(f"spectrum/{block.key}/radius")
        histogram = events.Histograms(f"spectrum/{block.key}/modulus")
        # Snapshots at step 0 and every 2 steps (the tracker's); the final one
        # is taken after the logger's last hook and so is not among them.
        assert [p.step for p in radius] == list(range(0, result.steps + 1, 2))
        assert [h.step for h in histogram] == [p.step for p in radius]
        assert all(h.histogram_value.num == block.matrix().shape[0] for h in histogram)
        if radius[-1].step == result.steps:  # the logged radius is the trained matrix's
            moduli = torch.linalg.eigvals(block.matrix().detach().double()).abs()
            assert radius[-1].value == pytest.approx(float(moduli.max()), rel=1e-5)
            assert histogram[-1].histogram_value.max == pytest.approx(float(moduli.max()), rel=1e-5)
            assert histogram[-1].histogram_value.min == pytest.approx(float(moduli.min()), rel=1e-5)


def test_grad_norm_is_the_pre_clipping_global_norm():
    model = torch.nn.GRU(3, 4)
    model(torch.randn(5, 2, 3))[0].pow(2).sum().backward()
    expected = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))

    class Unclipped:  # a trainer after a step without clipping
        grad_norm, scaler = None, None

    Unclipped.model = model
    assert grad_norm(Unclipped()) == pytest.approx(float(expected), rel=1e-6)


def test_resumed_run_purges_the_interrupted_attempts_later_events(tmp_path):
    tiny = {**TINY, "out": str(tmp_path / "run"), "track_spectrum_every": 1}
    first = train(TrainConfig.from_dict({**tiny, "epochs": 1}), progress=False,
                  callbacks=[TensorBoardLogger(tmp_path / "tb")])
    again = train(TrainConfig.from_dict({**tiny, "epochs": 2}), resume=True,
                  progress=False, callbacks=[TensorBoardLogger(tmp_path / "tb")])
    events = _events(tmp_path / "tb")
    assert [p.step for p in events.Scalars("loss/train")] == [first.steps, again.steps]  # none lost, none doubled
    assert [p.step for p in events.Scalars("optim/grad_norm")] == list(range(1, again.steps + 1))
    histogram = events.Tags()["histograms"][0]
    assert [h.step for h in events.Histograms(histogram)] == list(range(0, again.steps + 1))


def test_train_cli_tensorboard_and_missing_extra(tmp_path, capsys, monkeypatch):
    argv = ["train", "--task", "sine", "--hidden", "8", "--epochs", "1", "--train-size", "32", "--val-size", "16",
            "--test-size", "16", "--option", "length=10", "--out", str(tmp_path / "run"), "--no-progress",
            "--tensorboard", str(tmp_path / "tb")]
    assert main(argv) == 0
    assert "loss/val" in _events(tmp_path / "tb").Tags()["scalars"]
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    argv[argv.index(str(tmp_path / "run"))] = str(tmp_path / "run2")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[tensorboard]"' in err
    assert not (tmp_path / "run2").exists()


def test_bench_tensorboard_gives_every_run_its_own_log(tmp_path, capsys):
    out, tb = tmp_path / "sweep", tmp_path / "tb"
    argv = ["bench", "--suite", "regression", "--profile", "smoke", "--out", str(out), "--workers", "2",
            "--schemes", "eigen,xavier", "--cells", "gru", "--tensorboard", str(tb)]
    assert main(argv) == 0
    specs = profiles.grid("regression", "smoke", inits=["eigen", "xavier"], cells=["gru"])
    for spec in specs:
        summary = json.loads((out / spec.path / "summary.json").read_text())
        points = _events(tb / spec.path).Scalars("metric/val")
        assert len(points) == summary["epochs"] and points[-1].step == summary["steps"]


def test_bench_tensorboard_without_the_extra_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    out = tmp_path / "sweep"
    argv = ["bench", "--suite", "regression", "--profile", "smoke", "--out", str(out), "--tensorboard", str(tmp_path / "tb")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[tensorboard]"' in err
    assert not out.exists() and not (tmp_path / "tb").exists()
