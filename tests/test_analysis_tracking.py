"""SpectrumTracker: standalone snapshots, the trainer callback protocol, resume, and the real trainer."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from eigenrnn.analysis import SpectrumTracker, decompose_module
from eigenrnn.errors import EigenRNNError

torch.set_num_threads(1)


class _Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(2, 4, bidirectional=True)
        self.head = nn.Linear(8, 1)


def _perturb(model: nn.Module, scale: float) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)


def _fit(tracker: SpectrumTracker, trainer: SimpleNamespace, steps: int) -> None:
    """Drive the callback hooks like the trainer: one epoch of ``steps`` optimizer steps."""
    for _ in range(steps):
        _perturb(trainer.model, 0.97)
        trainer.step += 1
        tracker.on_step_end(trainer, trainer.step)
    trainer.epoch += 1
    tracker.on_epoch_end(trainer, trainer.epoch, {})


def test_snapshot_save_load_roundtrip(tmp_path):
    model = _Model()
    tracker = SpectrumTracker(model, every=5)
    tracker.snapshot(0)
    first = decompose_module(model)
    _perturb(model, 0.5)
    tracker.snapshot(7)
    path = tracker.save(tmp_path / "s.npz")
    loaded = SpectrumTracker.load(path)
    assert loaded.steps.tolist() == [0, 7]
    assert loaded.blocks == list(first)
    for key, dec in first.items():
        values = loaded.spectra[key]
        assert values.dtype == np.complex64 and values.shape == (2, 4)
        assert np.allclose(values[0], dec.eigenvalues.numpy(), atol=1e-5)
        # every weight halved: every eigenvalue halves
        assert np.allclose(values[1], 0.5 * values[0], atol=1e-5)
    assert np.allclose(loaded.at(7)["rnn.l0.bwd.g"], loaded.spectra["rnn.l0.bwd.g"][1])
    with pytest.raises(ValueError, match="step"):
        loaded.at(3)


def test_callback_schedule_and_default_path(tmp_path):
    model = _Model()
    trainer = SimpleNamespace(model=model, run_dir=tmp_path, step=0, epoch=0, config=None)
    tracker = SpectrumTracker(model, every=3)
    tracker.on_train_start(trainer)
    _fit(tracker, trainer, 7)
    tracker.on_train_end(trainer)
    loaded = SpectrumTracker.load(tmp_path / "spectra.npz")
    assert loaded.steps.tolist() == [0, 3, 6, 7]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spectra.npz"]  # atomic: no temporaries left


def test_resume_continues_history(tmp_path):
    model = _Model()
    trainer = SimpleNamespace(model=model, run_dir=tmp_path, step=0, epoch=0, config=None)
    tracker = SpectrumTracker(model, every=2)
    tracker.on_train_start(trainer)
    _fit(tracker, trainer, 4)  # snapshots 0, 2, 4 saved at the epoch end
    _fit(tracker, trainer, 1)
    tracker.on_step_end(trainer, 6)  # a snapshot after the checkpoint we resume from (step 5)
    before = SpectrumTracker.load(tmp_path / "spectra.npz")
    assert before.steps.tolist() == [0, 2, 4, 6]

    resumed = SimpleNamespace(model=model, run_dir=tmp_path, step=5, epoch=2, config=None)
    tracker2 = SpectrumTracker(model, every=2)
    tracker2.on_train_start(resumed)
    _fit(tracker2, resumed, 3)
    tracker2.on_train_end(resumed)
    after = SpectrumTracker.load(tmp_path / "spectra.npz")
    assert after.steps.tolist() == [0, 2, 4, 5, 6, 8]
    for key in before.spectra:
        assert np.array_equal(after.spectra[key][:3], before.spectra[key][:3])


def test_fresh_run_replaces_old_file(tmp_path):
    model = _Model()
    old = SpectrumTracker(model, every=1)
    old.snapshot(0)
    old.snapshot(1)
    old.save(tmp_path / "spectra.npz")
    trainer = SimpleNamespace(model=nn.GRU(2, 3), run_dir=tmp_path, step=0, epoch=0, config=None)
    tracker = SpectrumTracker(trainer.model, every=1)
    tracker.on_train_start(trainer)
    assert SpectrumTracker.load(tmp_path / "spectra.npz").blocks == ["l0.fwd.r", "l0.fwd.z", "l0.fwd.n"]


def test_resume_with_other_model_is_an_error(tmp_path):
    SpectrumTracker(_Model(), every=1).save(tmp_path / "spectra.npz")
    trainer = SimpleNamespace(model=nn.GRU(2, 3), run_dir=tmp_path, step=3, epoch=1, config=None)
    with pytest.raises(EigenRNNError, match="do not match"):
        SpectrumTracker(trainer.model).on_train_start(trainer)


def test_bad_arguments_and_files(tmp_path):
    with pytest.raises(ValueError, match="every"):
        SpectrumTracker(_Model(), every=0)
    with pytest.raises(TypeError, match="every"):
        SpectrumTracker(_Model(), every=1.5)
    with pytest.raises(TypeError, match="module"):
        SpectrumTracker(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="path"):
        SpectrumTracker(_Model()).save()
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(EigenRNNError, match="junk.npz"):
        SpectrumTracker.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, steps=np.zeros(2))
    with pytest.raises(EigenRNNError, match="not an eigenrnn spectra file"):
        SpectrumTracker.load(other)
    with pytest.raises(FileNotFoundError):
        SpectrumTracker.load(tmp_path / "missing.npz")


def test_plugs_into_the_trainer_and_resumes(tmp_path):
    from eigenrnn.train.trainer import train

    out = tmp_path / "run"
    config = {
        "task": "tomita4", "cell": "gru", "hidden": 6, "epochs": 1, "batch_size": 16,
        "train_size": 48, "val_size": 16, "test_size": 16, "track_spectrum_every": 2,
        "out": str(out), "device": "cpu",
    }
    train(config, progress=False)
    first = SpectrumTracker.load(out / "spectra.npz")
    steps_per_epoch = int(first.steps[-1])
    assert first.steps.tolist() == sorted(set(list(range(0, steps_per_epoch + 1, 2)) + [steps_per_epoch]))
    assert first.blocks == ["rnn.l0.fwd.r", "rnn.l0.fwd.z", "rnn.l0.fwd.n"]
    train({**config, "epochs": 2}, progress=False, resume=True)
    second = SpectrumTracker.load(out / "spectra.npz")
    assert second.steps[-1] == 2 * steps_per_epoch
    assert np.array_equal(second.spectra["rnn.l0.fwd.n"][: len(first.steps)], first.spectra["rnn.l0.fwd.n"])
    assert json.loads((out / "summary.json").read_text())  # the run finished
    assert not any(p.name.endswith(".tmp") for p in Path(out).iterdir())


def test_tracker_without_model_attaches_to_the_trainer(tmp_path):
    from eigenrnn.train import TrainConfig, train

    tracker = SpectrumTracker(every=2)
    with pytest.raises(ValueError, match="model"):
        tracker.snapshot(0)
    config = TrainConfig.from_dict({"task": "tomita4", "hidden": 4, "epochs": 1, "train_size": 32, "val_size": 16,
                                    "test_size": 16, "batch_size": 8, "device": "cpu", "out": str(tmp_path / "run")})
    train(config, callbacks=[tracker], progress=False)
    loaded = SpectrumTracker.load(tmp_path / "run" / "spectra.npz")
    assert loaded.steps[0] == 0 and loaded.steps[-1] == 4
    assert sorted(loaded.spectra) == ["rnn.l0.fwd.n", "rnn.l0.fwd.r", "rnn.l0.fwd.z"]
