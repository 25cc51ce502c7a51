"""Atomic file and directory writes, so that a killed process never leaves half a file."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the mode a plain open() would.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
        _fsync_dir(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike, *, overwrite: bool = False, marker: str | None = None) -> Iterator[Path]:
    """Build a directory in a temporary sibling and rename it into place at the end.

    Nothing appears at ``path`` unless the block finishes without an exception.
    An existing empty directory at ``path`` is replaced; a non-empty one only
    with ``overwrite`` (check it first with :func:`check_output`).  ``marker``
    (a command name) is written as the directory's :data:`OUTPUT_MARKER`.
    The temporary siblings are named ``.<name>.<pid>.<random>.tmp`` (and
    ``.old``); those that a killed process left for ``path`` are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _sweep_dead_siblings(path)
    prefix = f".{path.name}.{os.getpid()}."
    tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if marker is not None:
            (tmp / OUTPUT_MARKER).write_text(marker + "\n", encoding="utf-8")
        if path.exists():
            if not overwrite and (not path.is_dir() or any(path.iterdir())):
                raise FileExistsError(f"{path} already exists")
            # A fresh name: never remove a ".old" folder that this call did not move aside.
            old = Path(tempfile.mkdtemp(prefix=prefix, suffix=".old", dir=path.parent))
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _sweep_dead_siblings(path: Path) -> list[Path]:
    """Remove the temporary siblings of ``path`` that :func:`atomic_directory` made in a process no longer running."""
    import re

    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[A-Za-z0-9_]{{8}}\.(tmp|old)")
    removed = []
    for entry in path.parent.iterdir():
        found = pattern.fullmatch(entry.name)
        if found and entry.is_dir() and not entry.is_symlink() and not _alive(int(found.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON line and flush it to disk (a crash loses at most this line)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(record, sort_keys=True, default=float) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


# ---------------------------------------------------------------------------
# Output directories: a command writes only where it may (see check_output)
# ---------------------------------------------------------------------------

#: File naming the command that wrote a directory; its presence makes the directory that command's own output.
OUTPUT_MARKER = ".eigenrnn-output"


def output_owner(path: str | os.PathLike) -> str | None:
    """The command named by ``path``'s :data:`OUTPUT_MARKER`, or ``None`` (no marker, unreadable)."""
    try:
        return (Path(path) / OUTPUT_MARKER).read_text(encoding="utf-8").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def mark_output(path: str | os.PathLike, command: str) -> None:
    """Record in ``path`` that ``command`` wrote it (creates the directory)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if output_owner(path) != command:
        atomic_write_text(path / OUTPUT_MARKER, command + "\n")


def check_output(
    path: str | os.PathLike,
    command: str,
    *,
    argument: str = "--out",
    inputs: tuple[str | os.PathLike, ...] = (),
    mode: str = "replace",
    force: bool = False,
    legacy: tuple[str | tuple[str, ...], ...] = (),
) -> str:
    """Check, before any work, that ``command`` may write its output at ``path``; return its state.

    The rule shared by every command that writes (``docs/ARCHITECTURE.md``, "Output paths"):

    * ``''``, ``.``, the current directory or one of its parents is refused;
    * a path under a regular file, or (``mode="file"``) one that is a directory,
      or (other modes) one that is not a directory, is refused;
    * (``mode="file"``) an existing file is replaced only with ``force``;
    * a path that is one of ``inputs`` or holds one is refused;
    * an existing non-empty directory is written only if its :data:`OUTPUT_MARKER`
      names ``command`` (or, for directories written before markers existed, it
      holds one of the ``legacy`` entries: a name, or a tuple of names that must all exist).  With ``mode="replace"`` such an
      earlier output is replaced only with ``force``; ``mode="resume"``
      continues it (train, bench, study).

    Nothing is written or created here.

    Returns:
        ``"new"`` (absent or empty) or ``"own"`` (this command's earlier
        output); with ``mode="file"``, ``"new"`` or ``"file"`` (an existing file, with ``force``).

    Raises:
        EigenRNNError: one line naming ``argument`` and the path.

    >>> check_output(".", "report")
    Traceback (most recent call last):
    ...
    eigenrnn.errors.EigenRNNError: --out: got '.'; expected a new or empty directory, not the current directory or one that holds it
    """
    from eigenrnn.errors import EigenRNNError, bad_value

    if mode not in ("replace", "resume", "file"):
        raise ValueError(bad_value("mode", mode, "'replace', 'resume' or 'file'"))
    text = os.fspath(path)

    def refuse(allowed: str) -> EigenRNNError:
        return EigenRNNError(bad_value(argument, text, allowed))

    what = "a file name" if mode == "file" else "a new or empty directory"
    target = _check_target(text, inputs, what, refuse)
    if mode == "file":
        if target.is_dir():
            raise refuse(f"{what}; it is a directory")
        if target.exists() and not force:
            raise refuse("a new file (it exists; --force replaces it)")
        return "file" if target.exists() else "new"
    if not target.exists():
        return "new"
    if not target.is_dir():
        raise refuse(f"{what}; it exists and is not a directory")
    return _check_existing_directory(target, command, mode, force, legacy, what, refuse)


def _check_target(text: str, inputs: tuple[str | os.PathLike, ...], what: str, refuse) -> Path:
    """The absolute output path, unless it is the working directory or above it, lies under a file, or is or holds an input."""
    if text.strip() in ("", "."):
        raise refuse(f"{what}, not the current directory or one that holds it")
    target = Path(os.path.abspath(text))
    cwd = Path(os.getcwd())
    if target == cwd or target in cwd.parents:
        raise refuse(f"{what}, not the current directory or one that holds it")
    for parent in reversed(target.parents):
        if parent.exists() and not parent.is_dir():
            raise refuse(f"{what}; {parent} is not a directory")
    real = Path(os.path.realpath(target))
    for item in inputs:
        source = Path(os.path.abspath(os.fspath(item)))
        real_source = Path(os.path.realpath(source))  # also through symbolic links
        if source == target or target in source.parents or real_source == real or real in real_source.parents:
            raise refuse(f"a path other than the input {os.fspath(item)!r} and not one that holds it")
    return target


def _check_existing_directory(target: Path, command: str, mode: str, force: bool, legacy, what: str, refuse) -> str:
    """``"new"`` for an empty directory, ``"own"`` for ``command``'s earlier output it may resume or (with ``force``) replace."""
    try:
        # A lock alone (directory_lock creates it before the command writes) leaves a directory empty.
        empty = not any(entry.name != LOCK_NAME for entry in target.iterdir())
    except OSError as exc:
        raise refuse(f"{what} that can be read ({exc.strerror})") from None
    if empty:
        return "new"
    owner = output_owner(target)

    def holds(entry: str | tuple[str, ...]) -> bool:
        return all((target / name).exists() for name in ((entry,) if isinstance(entry, str) else entry))

    if owner != command and not (owner is None and any(holds(entry) for entry in legacy)):
        by = f"written by `eigenrnn {owner}`" if owner else "not written by eigenrnn"
        raise refuse(f"{what}; it is a non-empty directory {by} (eigenrnn {command} replaces only its own output)")
    if mode == "replace" and not force:
        raise refuse(f"{what}; it holds an earlier `eigenrnn {command}` output: pass --force to replace it")
    return "own"


def sweep_stale_tmp(directory: str | os.PathLike, names: tuple[str, ...]) -> list[Path]:
    """Remove the temporary files :func:`atomic_path` left for ``names`` in ``directory`` when killed.

    Only files of exactly that pattern (``.<name>.<8 random characters>.tmp``)
    are removed; returns them.  Call it only where no other process writes.
    """
    import re

    directory = Path(directory)
    if not directory.is_dir():
        return []
    patterns = [re.compile(rf"\.{re.escape(name)}\.[A-Za-z0-9_]{{8}}\.tmp") for name in names]
    removed = []
    for entry in directory.iterdir():
        if entry.is_file() and not entry.is_symlink() and any(p.fullmatch(entry.name) for p in patterns):
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


LOCK_NAME = ".eigenrnn-lock"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _start_token(pid: int) -> str | None:
    """Which process ``pid`` is: the boot id and its start time (Linux ``/proc``), or None where unknown.

    A lock records it next to the PID, so that a PID reused by another process
    (after a crash or a reboot) does not make a dead holder's lock look live.
    """
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
        return f"{boot}:{fields[19]}"  # field 22 of stat, starttime; fields[0] is field 3
    except (OSError, IndexError, UnicodeDecodeError):
        return None


def _holder(text: str) -> tuple[int | None, bool]:
    """The PID a lock file names and whether that process still runs (the same process, not a reuse of its PID)."""
    parts = text.split()
    try:
        pid = int(parts[0])
    except (ValueError, IndexError):
        return None, False  # half-written by a process killed between create and write
    if pid == os.getpid() or not _alive(pid):
        return pid, False
    recorded = parts[1] if len(parts) > 1 else None  # locks written before tokens hold the PID alone
    now = _start_token(pid)
    return pid, recorded is None or now is None or now == recorded


@contextlib.contextmanager
def directory_lock(path: str | os.PathLike, *, argument: str = "--out") -> Iterator[Path]:
    """Hold ``path/.eigenrnn-lock`` (this process's PID) for the block, so that one process works on ``path``.

    A lock of a live process is refused with :class:`~eigenrnn.errors.EigenRNNError`;
    the lock of a dead process (killed) is taken over with a notice on stderr.
    The lock is removed at the end of the block, and so are the directories
    the lock created (``path`` and missing parents) if the block left them empty.
    """
    path = Path(path)
    created = next((p for p in reversed((path, *path.parents)) if not p.exists()), None)
    path.mkdir(parents=True, exist_ok=True)
    try:
        with _pid_lock(path, argument) as lock:
            yield lock
    finally:
        if created is not None:
            _remove_empty(path, created)


def _remove_empty(path: Path, top: Path) -> None:
    """``rmdir`` ``path`` and its parents up to ``top`` while they are empty."""
    for directory in (path, *path.parents):
        try:
            directory.rmdir()
        except OSError:
            return
        if directory == top:
            return


@contextlib.contextmanager
def _pid_lock(path: Path, argument: str) -> Iterator[Path]:
    """Create ``path/.eigenrnn-lock`` exclusively with this PID (taking over a dead process's), remove it after."""
    import sys

    from eigenrnn.errors import EigenRNNError

    lock = path / LOCK_NAME
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid, live = _holder(lock.read_text(encoding="utf-8"))
            except OSError:
                pid, live = None, False
            if live:
                raise EigenRNNError(
                    f"{argument}: {os.fspath(path)!r} is in use by process {pid} (lock {lock}); "
                    "wait for it to finish or stop it"
                ) from None
            print(f"eigenrnn: taking over the stale lock {lock} of process {pid}, which is no longer running",
                  file=sys.stderr)
            lock.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            token = _start_token(os.getpid())
            fh.write(f"{os.getpid()}{'' if token is None else ' ' + token}\n")
        break
    else:  # pragma: no cover - another process won the race three times
        raise EigenRNNError(f"{argument}: could not lock {os.fspath(path)!r} ({lock})")
    try:
        yield lock
    finally:
        try:
            if lock.read_text(encoding="utf-8").split()[0] == str(os.getpid()):
                lock.unlink()
        except (OSError, IndexError):
            pass
