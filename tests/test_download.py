from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import eigenrnn
from eigenrnn.errors import DataError
from eigenrnn.tasks import download

# FIPS 180-2 test vector.
ABC_SHA256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_sha256_file_matches_the_standard_vector_and_large_files(tmp_path):
    small = tmp_path / "abc"
    small.write_bytes(b"abc")
    assert download.sha256_file(small) == ABC_SHA256
    big = tmp_path / "big"
    payload = bytes(range(256)) * 9000  # > 1 chunk, so chunking is exercised
    big.write_bytes(payload)
    assert download.sha256_file(big) == hashlib.sha256(payload).hexdigest()


def test_verify_accepts_the_right_digest_and_names_both_on_mismatch(tmp_path):
    path = tmp_path / "abc"
    path.write_bytes(b"abc")
    download.verify(path, ABC_SHA256.upper())
    with pytest.raises(DataError) as info:
        download.verify(path, "0" * 64)
    message = str(info.value)
    assert str(path) in message and "0" * 64 in message and ABC_SHA256 in message
    with pytest.raises(DataError, match="not found"):
        download.verify(tmp_path / "missing", ABC_SHA256)


def test_fetch_downloads_verifies_and_renames(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"abc")
    dest = tmp_path / "cache" / "sub" / "abc.bin"
    assert download.fetch(source.as_uri(), dest, ABC_SHA256) == dest
    assert dest.read_bytes() == b"abc"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["abc.bin"]  # no temporary left behind


def test_fetch_mismatch_deletes_and_names_file_and_hashes(tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(b"abd")
    dest = tmp_path / "cache" / "abc.bin"
    with pytest.raises(DataError) as info:
        download.fetch(source.as_uri(), dest, ABC_SHA256)
    message = str(info.value)
    assert "abc.bin" in message and ABC_SHA256 in message and hashlib.sha256(b"abd").hexdigest() in message
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_fetch_reports_unreachable_url(tmp_path):
    url = (tmp_path / "nowhere.bin").as_uri()
    with pytest.raises(DataError, match="could not download") as info:
        download.fetch(url, tmp_path / "x.bin", ABC_SHA256)
    assert url in str(info.value)


def test_fetch_skips_a_verified_file_and_replaces_a_corrupt_one(tmp_path, monkeypatch):
    source = tmp_path / "src.bin"
    source.write_bytes(b"abc")
    dest = tmp_path / "abc.bin"
    dest.write_bytes(b"abc")

    def no_network(*args, **kwargs):
        raise AssertionError("fetch must not download a verified file")

    monkeypatch.setattr(download.urllib.request, "urlopen", no_network)
    assert download.fetch(source.as_uri(), dest, ABC_SHA256) == dest
    monkeypatch.undo()
    dest.write_bytes(b"corrupt")
    download.fetch(source.as_uri(), dest, ABC_SHA256)
    assert dest.read_bytes() == b"abc"


def test_cache_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("EIGENRNN_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert download.cache_dir() == tmp_path / "home" / ".cache" / "eigenrnn"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert download.cache_dir() == tmp_path / "xdg" / "eigenrnn"
    monkeypatch.setenv("EIGENRNN_CACHE", str(tmp_path / "explicit"))
    assert download.cache_dir() == tmp_path / "explicit"


def test_default_data_dirs_env_first_then_checkout_sibling(tmp_path, monkeypatch):
    checkout = Path(eigenrnn.__file__).resolve().parents[2]
    sibling = checkout.parent / "shared" / "data"
    expected_dev = [sibling] if (checkout / "pyproject.toml").is_file() and sibling.is_dir() else []
    monkeypatch.delenv("EIGENRNN_DATA", raising=False)
    assert download.default_data_dirs() == expected_dev
    monkeypatch.setenv("EIGENRNN_DATA", str(tmp_path))
    assert download.default_data_dirs() == [tmp_path] + expected_dev
