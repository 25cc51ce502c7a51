"""Verified downloads, the user cache directory and the local data directories.

Every dataset in :mod:`eigenrnn.tasks` is looked for in this order:

1. the ``data_dir`` argument of its ``load`` function, or else the directories
   of :func:`default_data_dirs` (``$EIGENRNN_DATA``, then the development copy
   ``<checkout>/../shared/data``);
2. the user cache :func:`cache_dir`, which holds earlier verified downloads;
3. a download, verified against a pinned SHA-256 before it is kept.

Files a user puts in a data directory are used as they are (so a subset or a
test fixture works); only their structure is checked.  Downloaded and cached
files are always checked against their pinned SHA-256.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
from pathlib import Path

from eigenrnn.errors import DataError
from eigenrnn.io import atomic_path

_CHUNK = 1 << 20
_USER_AGENT = "eigenrnn (+https://pypi.org/project/eigenrnn) python-urllib"


def sha256_file(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 digest of a file, read in 1 MiB chunks.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:16]
    'ba7816bf8f01cfea'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: str | os.PathLike, sha256: str) -> None:
    """Raise :class:`DataError` unless ``path`` exists and has digest ``sha256``.

    The message names the file and both digests, so a user can tell a
    truncated download from a different release of the file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected SHA-256 {sha256})")
    actual = sha256_file(path)
    if actual != sha256.lower():
        raise DataError(
            f"{path}: SHA-256 mismatch: expected {sha256.lower()}, got {actual}; "
            "the file is corrupt or a different version; delete it and fetch it again"
        )


def cache_dir() -> Path:
    """The user cache directory for verified downloads and converted arrays.

    ``$EIGENRNN_CACHE`` if set, else ``$XDG_CACHE_HOME/eigenrnn``, else
    ``~/.cache/eigenrnn``.  It is not created here; writers create what they need.
    """
    explicit = os.environ.get("EIGENRNN_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "eigenrnn"
    return Path.home() / ".cache" / "eigenrnn"


def checkout_data_dir() -> Path | None:
    """``<checkout>/../shared/data`` when running from a source checkout, else None.

    A checkout is recognised by ``pyproject.toml`` three levels above this
    package (``<checkout>/src/eigenrnn/tasks``); an installed wheel has none, so
    this directory is only ever used for development and CI.
    """
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file():
        return None
    candidate = root.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


def default_data_dirs() -> list[Path]:
    """The data directories searched when ``load`` gets no ``data_dir``, in order.

    1. ``$EIGENRNN_DATA``, if set;
    2. :func:`checkout_data_dir` (``<checkout>/../shared/data``), if present.

    Each dataset looks in every directory and in its own sub-directory of it
    (``mnist/``, ``multi30k/``).
    """
    dirs: list[Path] = []
    env = os.environ.get("EIGENRNN_DATA")
    if env:
        dirs.append(Path(env).expanduser())
    dev = checkout_data_dir()
    if dev is not None and dev not in dirs:
        dirs.append(dev)
    return dirs


def fetch(url: str, dest: str | os.PathLike, sha256: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless a verified copy is already there.

    The body is streamed into a temporary file beside ``dest`` while it is
    hashed; only a file whose SHA-256 equals ``sha256`` is renamed onto
    ``dest``, so ``dest`` is never a partial or unverified file.

    Args:
        url: any URL ``urllib`` opens (``https://``, ``file://``).
        dest: final path of the file; parent directories are created.
        sha256: expected hex digest.
        timeout: socket timeout in seconds.

    Returns:
        ``dest`` as a :class:`~pathlib.Path`.

    Raises:
        DataError: the download failed (naming the URL and the reason) or the
            digest differs (naming the file and both digests; nothing is kept).
    """
    dest = Path(dest)
    expected = sha256.lower()
    if dest.is_file() and sha256_file(dest) == expected:
        return dest
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with atomic_path(dest) as tmp:
            digest = hashlib.sha256()
            with urllib.request.urlopen(request, timeout=timeout) as response, open(tmp, "wb") as out:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    digest.update(chunk)
                    out.write(chunk)
            actual = digest.hexdigest()
            if actual != expected:
                # Raising inside atomic_path deletes the temporary file.
                raise DataError(
                    f"{dest.name} downloaded from {url}: SHA-256 mismatch: expected {expected}, "
                    f"got {actual}; the file was not kept"
                )
    except (OSError, http.client.HTTPException, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"could not download {url} to {dest}: {reason}") from exc
    return dest
