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
