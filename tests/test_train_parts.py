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
