"""Pixel-by-pixel MNIST: loading, the sequence views and the task adapter.

Splits (the classic ``mnist.pkl.gz`` split): ``train`` is the first 50,000
images of the official 60,000-image training set, ``val`` its last 10,000 and
``test`` the official 10,000 test images.  Images are returned as float32 in
``[0, 1]`` (grey level / 255) whatever file they came from: the classic pickle
stores ``level / 256``, so its exact 8-bit levels are recovered first.  Where
the files come from (and how they are verified and cached):
:mod:`eigenrnn.tasks.mnist_source`.

The task adapter (:func:`task_factory`) serves each of :data:`VARIANTS` as a
task of that name: classification of the pixel sequence, read at its end.
"""

from __future__ import annotations

import functools
import hashlib
import os

import numpy as np
import torch
import torch.nn.functional as F

from eigenrnn.errors import DataError, bad_value
from eigenrnn.models import InputSpec
from eigenrnn.tasks import mnist_source
from eigenrnn.tasks.base import DATA_SPLITS, SequenceDataset, Task, TaskData, TaskFactory, split_seed, subsample
from eigenrnn.tasks.download import default_data_dirs
from eigenrnn.tasks.mnist_source import PIXELS, SIDE

__all__ = [
    "SIZES",
    "VARIANTS",
    "load",
    "permutation",
    "pmnist14_permutation",
    "to_sequence",
    "sequence_length",
    "default_data_dirs",
    "task_factory",
]

SIZES = {"train": 50_000, "val": 10_000, "test": 10_000}
VARIANTS = ("mnist", "pmnist", "mnist14", "pmnist14")

# pmnist14's one fixed permutation of the 196 pooled pixels: torch.randperm(196)
# from torch.Generator().manual_seed(PMNIST14_SEED), pinned by the SHA-256 of its
# int64 little-endian bytes so that a change in torch's generator cannot alter
# the task silently (pmnist14_permutation refuses to return anything else).
PMNIST14_SEED = 14
PMNIST14_SHA256 = "72cce7c235e6613f0b2177dc7c445d1d978848704184dc516c33274b72c0d1db"


def load(split: str, data_dir: str | os.PathLike | None = None, *, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one MNIST split as flat images and labels.

    Args:
        split: ``"train"`` (50,000), ``"val"`` (10,000, the last sixth of the
            official training set) or ``"test"`` (10,000).
        data_dir: directory to look in instead of :func:`default_data_dirs`.
        download: whether steps 3-4 of the acquisition order (:mod:`~eigenrnn.tasks.mnist_source`)
            may use the network.

    Returns:
        ``(images, labels)``: float32 ``(N, 784)`` in ``[0, 1]`` and int64 ``(N,)``.

    Raises:
        ValueError: unknown ``split``.
        DataError: no usable copy was found or obtained, or a file is corrupt;
            the message says which file, where it looked and how to obtain it.

    >>> images, labels = load("test")  # doctest: +SKIP
    >>> images.shape, labels[:5].tolist()  # doctest: +SKIP
    (torch.Size([10000, 784]), [7, 2, 1, 0, 4])
    """
    if split not in DATA_SPLITS:
        raise ValueError(bad_value("split", split, f"one of {', '.join(map(repr, DATA_SPLITS))}"))
    levels, labels = mnist_source.levels(split, data_dir, download)
    images = levels.astype(np.float32)  # a writable copy; the uint8 source may be a read-only buffer
    images /= 255.0
    return torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64))


def permutation(seed: int) -> torch.Tensor:
    """The fixed pixel permutation of permuted MNIST for ``seed``.

    Drawn with ``torch.randperm`` from a private ``torch.Generator`` seeded with
    ``seed``, so it does not touch or depend on the global RNG.

    Returns:
        int64 ``(784,)``, a permutation of ``0..783``.

    >>> bool(torch.equal(permutation(0), permutation(0)))
    True
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(bad_value("seed", seed, "an int"))
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(PIXELS, generator=generator)


def pmnist14_permutation() -> torch.Tensor:
    """The fixed permutation of the 196 pixels of pmnist14 (14x14 pooled MNIST).

    ``torch.randperm(196)`` drawn from ``torch.Generator().manual_seed(14)``
    (:data:`PMNIST14_SEED`); its first entries are ``195, 64, 42, 73``.

    Returns:
        int64 ``(196,)``, a permutation of ``0..195``.

    Raises:
        DataError: this torch draws a different permutation (its SHA-256 is not
            :data:`PMNIST14_SHA256`), so results would not be comparable.

    >>> pmnist14_permutation()[:4].tolist()
    [195, 64, 42, 73]
    """
    drawn = torch.randperm(196, generator=torch.Generator().manual_seed(PMNIST14_SEED))
    digest = hashlib.sha256(drawn.numpy().astype("<i8").tobytes()).hexdigest()
    if digest != PMNIST14_SHA256:
        raise DataError(f"pmnist14: torch {torch.__version__} draws a different permutation from seed "
                        f"{PMNIST14_SEED} (SHA-256 {digest}, expected {PMNIST14_SHA256}); pmnist14 results "
                        "would not be comparable with earlier ones")
    return drawn


def sequence_length(variant: str) -> int:
    """Number of time steps of a sequence view: 784 for mnist/pmnist, 196 for mnist14/pmnist14."""
    _check_variant(variant)
    return 196 if variant in ("mnist14", "pmnist14") else PIXELS


def to_sequence(images: torch.Tensor, variant: str, permutation_seed: int = 0) -> torch.Tensor:
    """Turn flat images into time-first pixel sequences with one input feature.

    * ``"mnist"``: the 784 pixels in row-major (scan-line) order, one per step
      (Le et al. 2015).
    * ``"pmnist"``: the same pixels reordered by the fixed :func:`permutation`
      of ``permutation_seed``.
    * ``"mnist14"``: a CPU-sized variant: each image is reduced to 14x14 by
      averaging non-overlapping 2x2 blocks, then scanned row-major (196 steps).
    * ``"pmnist14"``: the mnist14 pixels reordered by the one fixed
      :func:`pmnist14_permutation` (step ``t`` reads mnist14 pixel ``perm[t]``).

    Args:
        images: ``(N, 784)`` floating tensor, as returned by :func:`load`.
        variant: one of :data:`VARIANTS`.
        permutation_seed: seed of the pmnist permutation; any other variant
            refuses a non-default value rather than ignore it.

    Returns:
        ``(T, N, 1)`` contiguous tensor, ``T`` = :func:`sequence_length`.

    >>> to_sequence(torch.zeros(3, 784), "mnist14").shape
    torch.Size([196, 3, 1])
    """
    _check_variant(variant)
    if variant != "pmnist" and permutation_seed != 0:
        raise ValueError(bad_value("permutation_seed", permutation_seed, f"0 for variant {variant!r} (only 'pmnist' is permuted)"))
    if not isinstance(images, torch.Tensor) or images.dim() != 2 or images.shape[1] != PIXELS or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(bad_value("images", shape, "a floating tensor of shape (N, 784)"))
    if variant == "pmnist":
        flat = images[:, permutation(permutation_seed).to(images.device)]
    elif variant in ("mnist14", "pmnist14"):
        pooled = F.avg_pool2d(images.reshape(-1, 1, SIDE, SIDE), kernel_size=2)
        flat = pooled.reshape(images.shape[0], -1)
        if variant == "pmnist14":
            flat = flat[:, pmnist14_permutation().to(images.device)]
    else:
        flat = images
    return flat.t().contiguous().unsqueeze(-1)


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(bad_value("variant", variant, f"one of {', '.join(map(repr, VARIANTS))}"))


# --------------------------------------------------------------------------- the task adapter


def _permutation(task: Task) -> dict[str, int]:
    return {"permutation_seed": task.options["permutation_seed"]} if task.options["variant"] == "pmnist" else {}


def _build(task: Task, seed: int, sizes: dict[str, int | None]) -> TaskData:
    splits = {}
    for name in DATA_SPLITS:
        images, labels = load(name, data_dir=task.options["data_dir"])
        images, labels = torch.as_tensor(images), torch.as_tensor(labels).long()
        index = subsample(len(labels), sizes[name], split_seed(seed, name))
        if index is not None:
            images, labels = images[index], labels[index]
        x = to_sequence(images, task.options["variant"], **_permutation(task))
        splits[name] = SequenceDataset(torch.as_tensor(x), labels)
    return TaskData(splits, task.input_spec, task.output_size)


def _examples(task: Task, n: int, seed: int) -> torch.Tensor:
    images, _ = load("test", data_dir=task.options["data_dir"])
    images = torch.as_tensor(images)
    index = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(seed))[:n]
    return torch.as_tensor(to_sequence(images[index], task.options["variant"], **_permutation(task)))


def _make(variant: str, options: dict) -> Task:
    return Task(
        name=variant,
        kind="classification",
        input_spec=InputSpec("features", 1),
        output_size=10,
        readout="last",
        loss="cross_entropy",
        metric="accuracy",
        higher_is_better=True,
        target=0.9,
        target_split="val",
        sizes=tuple(SIZES[name] for name in DATA_SPLITS),
        options=options,
        horizon=sequence_length(variant),
        _builder=_build,
        _examples=_examples,
    )


def _task(variant: str, data_dir: str | None = None) -> Task:
    return _make(variant, {"variant": variant, "data_dir": data_dir})


def _pmnist_task(data_dir: str | None = None, permutation_seed: int = 0) -> Task:
    seed = 0 if permutation_seed is None else permutation_seed
    return _make("pmnist", {"variant": "pmnist", "data_dir": data_dir, "permutation_seed": seed})


def task_factory(variant: str) -> TaskFactory:
    """The factory of the task ``variant`` (one of :data:`VARIANTS`).

    Its options: ``data_dir`` (see :func:`load`) and, for pmnist only,
    ``permutation_seed`` (see :func:`permutation`).
    """
    _check_variant(variant)
    make = _pmnist_task if variant == "pmnist" else functools.partial(_task, variant)
    return TaskFactory(make, kind="classification", inputs="features")
