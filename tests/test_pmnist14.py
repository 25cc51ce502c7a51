"""pmnist14: 14x14 pixel MNIST under one fixed, pinned permutation."""

from __future__ import annotations

import gzip
import hashlib
import pickle

import numpy as np
import pytest
import torch

from eigenrnn.errors import DataError
from eigenrnn.tasks import get_task, mnist

# Written down here, independently of the module's constant, so that neither a
# new torch generator nor an edit of PMNIST14_SEED/SHA256 can change the task unnoticed.
FIRST_ENTRIES = [195, 64, 42, 73, 139, 15, 8, 126, 28, 145, 122, 154]
SHA256 = "72cce7c235e6613f0b2177dc7c445d1d978848704184dc516c33274b72c0d1db"


def test_the_permutation_is_fixed_and_pinned():
    perm = mnist.pmnist14_permutation()
    assert perm.dtype == torch.int64 and perm.shape == (196,)
    assert torch.equal(perm.sort().values, torch.arange(196))
    assert perm[:12].tolist() == FIRST_ENTRIES
    assert hashlib.sha256(perm.numpy().astype("<i8").tobytes()).hexdigest() == SHA256 == mnist.PMNIST14_SHA256
    assert torch.equal(perm, torch.randperm(196, generator=torch.Generator().manual_seed(mnist.PMNIST14_SEED)))


def test_a_changed_permutation_is_refused(monkeypatch):
    monkeypatch.setattr(mnist, "PMNIST14_SEED", 15)
    with pytest.raises(DataError, match="pmnist14: torch .* different permutation"):
        mnist.pmnist14_permutation()
    with pytest.raises(DataError, match="pmnist14"):
        mnist.to_sequence(torch.zeros(1, 784), "pmnist14")


def test_pmnist14_is_mnist14_permuted():
    images = torch.rand(4, 784)
    small = mnist.to_sequence(images, "mnist14")
    permuted = mnist.to_sequence(images, "pmnist14")
    assert permuted.shape == (196, 4, 1) and permuted.is_contiguous()
    assert torch.equal(permuted, small[mnist.pmnist14_permutation()])
    assert not torch.equal(permuted, small)
    with pytest.raises(ValueError, match="permutation_seed: got 1"):
        mnist.to_sequence(images, "pmnist14", permutation_seed=1)


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    monkeypatch.setenv("EIGENRNN_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)

    def split(n):
        return (rng.integers(0, 256, (n, 784)) / 256.0).astype(np.float32), rng.integers(0, 10, n).astype(np.int64)

    directory = tmp_path / "mnist"
    directory.mkdir()
    with gzip.open(directory / "mnist.pkl.gz", "wb") as fh:
        pickle.dump((split(40), split(12), split(12)), fh)
    return str(directory)


def test_pmnist14_task_batches_are_mnist14_batches_permuted(tiny_mnist):
    plain = get_task("mnist14", data_dir=tiny_mnist)
    task = get_task("pmnist14", data_dir=tiny_mnist)
    assert (task.kind, task.metric, task.input_spec.size, task.output_size, task.horizon) == (
        "classification", "accuracy", 1, 10, 196)
    perm = mnist.pmnist14_permutation()
    a = plain.build(seed=3, train_size=16, val_size=8, test_size=8)
    b = task.build(seed=3, train_size=16, val_size=8, test_size=8)
    index = torch.tensor([5, 0, 7])
    for split in ("train", "val", "test"):
        mine, theirs = b.splits[split].batch(index), a.splits[split].batch(index)
        assert torch.equal(mine.y, theirs.y)
        assert torch.equal(mine.x, theirs.x[perm])
    assert torch.equal(task.example_inputs(3, seed=1), plain.example_inputs(3, seed=1)[perm])
