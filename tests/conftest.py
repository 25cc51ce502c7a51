from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# Keep the suite light on a 2-core machine.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The read-only dev/CI data copy beside the checkout; skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"no shared dev data at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def tamper_loss(monkeypatch):
    """``tamper_loss(first, edit)``: from the ``first``-th batch on, training sees ``edit(loss, stats.clone())``.

    Patches :meth:`eigenrnn.train.objective.Objective.loss_and_stats` (counting
    calls from 1), so a test can make one epoch's loss diverge on purpose.
    """
    from eigenrnn.train.objective import Objective

    original = Objective.loss_and_stats

    def tamper(first: int, edit) -> None:
        calls = {"n": 0}

        def tampered(self, model, batch):
            calls["n"] += 1
            loss, stats = original(self, model, batch)
            if calls["n"] >= first:
                loss, stats = edit(loss, stats.clone())
            return loss, stats

        monkeypatch.setattr(Objective, "loss_and_stats", tampered)

    return tamper
