"""The trainer's parts: the task is built once, the setup is one frozen bundle, the run state round-trips."""

from __future__ import annotations

import dataclasses
import functools

import pytest
import torch

from eigenrnn.tasks import registry
from eigenrnn.train.checkpoint import read_payload
from eigenrnn.train.trainer import Trainer

TINY = {"task": "tomita4", "hidden": 8, "epochs": 1, "batch_size": 32, "lr": 1e-2,
        "train_size": 64, "val_size": 32, "test_size": 32, "task_options": {"per_length": 8}}


def test_a_run_builds_its_task_once_and_its_setup_is_frozen(tmp_path, monkeypatch):
    calls = []
    original = registry.FACTORIES["tomita4"]

    @functools.wraps(original.make)  # keeps the signature, which says the task's options
    def counting(**options):
        calls.append(options)
        return original.make(**options)

    # The factory, not get_task: whichever name a module imported get_task under, each task built is counted.
    monkeypatch.setitem(registry.FACTORIES, "tomita4", dataclasses.replace(original, make=counting))
    trainer = Trainer({**TINY, "out": str(tmp_path / "r")}, progress=False)
    trainer.fit()
    assert calls == [{"per_length": 8}]
    assert trainer.setup.task is trainer.task
    with pytest.raises(dataclasses.FrozenInstanceError):
        trainer.setup.model = None


def test_the_checkpoint_holds_the_run_state(tmp_path):
    trainer = Trainer({**TINY, "out": str(tmp_path / "r")}, progress=False)
    result = trainer.fit()
    payload = read_payload(tmp_path / "r" / "checkpoint.pt")
    assert payload["run_id"] == trainer.state.run_id and len(payload["run_id"]) == 32
    assert (payload["epoch"], payload["step"]) == (result.epochs, result.steps) == (1, 2)
    assert payload["trainer"]["history"] == result.history
    assert payload["trainer"]["epoch_state"] is None  # the epoch finished
    for name, weight in trainer.model.state_dict().items():
        assert torch.equal(payload["model"][name], weight.cpu())


def test_the_trainer_reads_a_new_task_by_its_capabilities_not_its_name(tmp_path, monkeypatch):
    from eigenrnn.tasks import synthetic
    from eigenrnn.train.config import TrainConfig

    # A task train/ has never heard of: its factory alone says what the config may set.
    monkeypatch.setitem(registry.FACTORIES, "adding-copy", synthetic.ADDING)
    with pytest.raises(ValueError, match="embedding_dim: got 4; expected None for task 'adding-copy' \\(float inputs\\)"):
        TrainConfig.from_dict({"task": "adding-copy", "embedding_dim": 4})
    with pytest.raises(ValueError, match="vocab_size: got 9; expected None for task 'adding-copy' \\(multi30k only\\)"):
        TrainConfig.from_dict({"task": "adding-copy", "vocab_size": 9})
    resolved = TrainConfig.from_dict({"task": "adding-copy", "task_options": {"length": 7}, "device": "cpu"}).resolve()
    assert resolved.task_options == {"length": 7} and resolved.vocab_size is None and resolved.beam_size is None
    result = Trainer({"task": "adding-copy", "task_options": {"length": 7}, "hidden": 4, "epochs": 1, "train_size": 16,
                      "val_size": 8, "test_size": 8, "out": str(tmp_path / "r")}, progress=False).fit()
    assert result.metric_name == "mse" and result.status == "finished"
