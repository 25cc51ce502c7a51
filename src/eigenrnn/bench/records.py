"""Finished benchmark runs as data: one compressed records file per suite instead of a directory per run.

A sweep (``eigenrnn bench --out ROOT``) writes one directory per run,
``ROOT/<suite>/<task>/<cell>/<init>/seed<k>/``.  :func:`pack_suite` gathers the
finished runs of a suite (those with ``summary.json``; diverged runs included)
into ``ROOT/<suite>.records.jsonl.gz``: a gzip (mtime 0, so equal records give
equal bytes) of JSON lines, a header line ``{"format": "eigenrnn-records",
"version": 1, "suite": ..., "runs": n}`` and then one line per run, sorted by
path, ``{"path", "config", "metrics", "summary", "files"}``: the parsed
``config.json``, every ``metrics.jsonl`` line, ``summary.json``, and the text of
``tokenizer.json`` and of ``hardware.json`` (the machine that finished the run,
:data:`HARDWARE_FILE`) where there is one.  Checkpoints
(``*.pt``) and ``spectra.npz`` are not packed.

:func:`iter_records` reads a sweep through one function, whatever mix of run
directories and packed files it holds; ``report``, ``bench`` planning and
``benchmarks/check_records.py`` all read through it.  Where a run has both,
**the directory wins if it holds** ``summary.json`` (it is newer: rerun after
packing), else the packed record (a directory without a summary is an
unfinished or failed attempt, and the run is already done).

:func:`pack_sweep` then removes the run directories it packed, after reading
the file back and finding every record equal, and only those that hold
nothing but the files the pack keeps; a run directory that is unfinished, or
holds a checkpoint, ``error.txt`` or any other file, stays.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from eigenrnn.errors import EigenRNNError, bad_value
from eigenrnn.io import OUTPUT_MARKER, atomic_path, check_output, directory_lock, output_owner

FORMAT = "eigenrnn-records"
VERSION = 1
SUFFIX = ".records.jsonl.gz"
#: The file in a finished bench run directory naming the machine that trained it (written by the bench worker).
HARDWARE_FILE = "hardware.json"
#: Text files of a run directory that a pack holds besides config, metrics and summary.
EXTRA_FILES = ("tokenizer.json", HARDWARE_FILE)
#: Every file a run directory may hold for :func:`pack_sweep` to remove it (besides the trainer's output marker).
PACKED_FILES = ("config.json", "metrics.jsonl", "summary.json", *EXTRA_FILES)
#: Suffix of a run directory moved aside for removal (left behind only by a kill during removal).
_REMOVING = ".packed-removing"


@dataclass(frozen=True)
class Record:
    """One finished run: what its directory's JSON files say.

    ``path`` is ``<suite>/<task>/<cell>/<init>/seed<k>`` relative to the sweep
    root (a :class:`~eigenrnn.bench.profiles.RunSpec` path); ``config`` is None
    for a run directory without ``config.json``; ``metrics`` holds the
    ``metrics.jsonl`` lines in order; ``files`` the text of :data:`EXTRA_FILES`
    present.  ``source`` (the run directory or the records file) is not data
    and is left out of comparisons.
    """

    path: str
    summary: dict
    config: dict | None = None
    metrics: tuple[dict, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    source: Path | None = field(default=None, compare=False)

    @property
    def suite(self) -> str:
        return self.path.split("/", 1)[0]

    def to_json(self) -> dict:
        return {"path": self.path, "config": self.config, "metrics": list(self.metrics),
                "summary": self.summary, "files": dict(self.files)}


def packed_path(root: str | os.PathLike, suite: str) -> Path:
    """``<root>/<suite>.records.jsonl.gz``.

    >>> packed_path("results/bench-cpu", "tomita").as_posix()
    'results/bench-cpu/tomita.records.jsonl.gz'
    """
    return Path(root) / f"{suite}{SUFFIX}"


def read_run_dir(root: str | os.PathLike, path: str) -> Record:
    """The :class:`Record` of the run directory ``root/path``, which must hold ``summary.json``."""
    run = Path(root) / path
    try:
        summary = json.loads((run / "summary.json").read_text())
        config = json.loads((run / "config.json").read_text()) if (run / "config.json").exists() else None
        metrics_file = run / "metrics.jsonl"
        lines = metrics_file.read_text().splitlines() if metrics_file.exists() else []
        metrics = tuple(json.loads(line) for line in lines if line.strip())
    except ValueError as exc:
        raise EigenRNNError(f"{run} holds a file that is not valid JSON ({exc})") from None
    files = {name: (run / name).read_text(encoding="utf-8") for name in sorted(EXTRA_FILES) if (run / name).is_file()}
    return Record(path=path, summary=summary, config=config, metrics=metrics, files=files, source=run)


def read_packed(file: str | os.PathLike) -> list[Record]:
    """Every :class:`Record` of one records file, in its order."""
    file = Path(file)
    try:
        with gzip.open(file, "rt", encoding="utf-8") as fh:
            lines = [json.loads(line) for line in fh if line.strip()]
    except (OSError, EOFError, ValueError) as exc:
        raise EigenRNNError(f"{file} is not a readable records file ({type(exc).__name__}: {exc})") from None
    header = lines[0] if lines else {}
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise EigenRNNError(f"{file} is not an {FORMAT} file of version {VERSION} (header {header!r})")
    records = [Record(path=r["path"], summary=r["summary"], config=r["config"], metrics=tuple(r["metrics"]),
                      files=r["files"], source=file) for r in lines[1:]]
    # A file renamed (or copied) to another suite's name would otherwise count its runs twice.
    named = file.name[:-len(SUFFIX)] if file.name.endswith(SUFFIX) else header.get("suite")
    foreign = next((r.path for r in records if r.path.split("/", 1)[0] != named), None)
    if foreign is not None or header.get("suite") != named:
        raise EigenRNNError(f"{file} should hold suite {named!r} but holds suite {header.get('suite')!r}"
                            + (f" (run {foreign})" if foreign else ""))
    if len(records) != header.get("runs"):
        raise EigenRNNError(f"{file} holds {len(records)} runs but its header says {header.get('runs')}")
    return records


def write_packed(file: str | os.PathLike, suite: str, records: list[Record]) -> Path:
    """Write ``records`` (sorted by path) to ``file`` atomically, with deterministic bytes."""
    records = sorted(records, key=lambda r: r.path)
    header = {"format": FORMAT, "version": VERSION, "suite": suite, "runs": len(records)}
    text = "".join(json.dumps(obj, sort_keys=True) + "\n" for obj in (header, *(r.to_json() for r in records)))
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    with atomic_path(file) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return Path(file)


def suite_names(root: str | os.PathLike) -> list[str]:
    """The suites of the sweep at ``root``: those with run directories or a packed records file, sorted."""
    root = Path(root)
    return sorted({p.split("/", 1)[0] for p in _run_dirs(root)} | {f.name[:-len(SUFFIX)] for f in root.glob(f"*{SUFFIX}")})


def _run_dirs(root: Path, suite: str = "*") -> list[str]:
    """Relative paths of the run directories under ``root`` (finished or not)."""
    return sorted(p.relative_to(root).as_posix() for p in root.glob(f"{suite}/*/*/*/seed*") if p.is_dir())


def packed_records(root: str | os.PathLike) -> dict[str, Record]:
    """``{path: Record}`` of every records file under ``root``."""
    found = {}
    for file in sorted(Path(root).glob(f"*{SUFFIX}")):
        for record in read_packed(file):
            found[record.path] = record
    return found


def iter_records(root: str | os.PathLike) -> Iterator[Record]:
    """Every finished run of the sweep at ``root``, from run directories and records files, sorted by path.

    A run directory holding ``summary.json`` wins over a packed record of the
    same path; otherwise the packed record is the run.
    """
    root = Path(root)
    runs = packed_records(root)
    for path in _run_dirs(root):
        if (root / path / "summary.json").is_file():
            runs[path] = read_run_dir(root, path)
    for path in sorted(runs):
        yield runs[path]


def find(root: str | os.PathLike, path: str) -> Record:
    """The finished run ``path`` (``<suite>/<task>/<cell>/<init>/seed<k>``) of the sweep at ``root``."""
    root = Path(root)
    if (root / path / "summary.json").is_file():
        return read_run_dir(root, path)
    file = packed_path(root, path.split("/", 1)[0])
    record = next((r for r in read_packed(file) if r.path == path), None) if file.is_file() else None
    if record is None:
        raise EigenRNNError(bad_value("record", path, f"a finished run of {root} (a run directory with "
                                      f"summary.json, or a run in its {SUFFIX} files)"))
    return record


def write_run_dir(record: Record, out: str | os.PathLike) -> Path:
    """Write ``record`` as a run directory at ``out`` (as the trainer writes it); returns ``out``.

    ``out`` must be new or empty.  ``config.json`` and ``summary.json`` are
    written as :func:`eigenrnn.io.atomic_write_json` writes them and
    ``metrics.jsonl`` as :func:`eigenrnn.io.append_jsonl`, so the bytes equal
    the files that were packed.
    """
    from eigenrnn.io import atomic_directory

    check_output(out, "pack")
    with atomic_directory(out) as tmp:
        if record.config is not None:
            (tmp / "config.json").write_text(json.dumps(record.config, indent=2, sort_keys=True, default=str) + "\n")
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(m, sort_keys=True) + "\n" for m in record.metrics))
        (tmp / "summary.json").write_text(json.dumps(record.summary, indent=2, sort_keys=True, default=str) + "\n")
        for name, text in record.files.items():
            (tmp / name).write_text(text, encoding="utf-8")
    return Path(out)


@dataclass(frozen=True)
class PackResult:
    """What :func:`pack_sweep` did for one suite.

    ``packed``: runs now in the records file; ``added``: run directories read
    into it this call; ``removed``: run directories removed; ``kept``: finished
    run directories left in place, ``{path: why}``; ``unfinished``: run
    directories without ``summary.json``, not packed and left in place.
    """

    suite: str
    file: Path
    packed: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    kept: dict[str, str]
    unfinished: tuple[str, ...]


def pack_suite(root: str | os.PathLike, suite: str) -> PackResult:
    """Pack the finished runs of ``suite`` into ``<root>/<suite>.records.jsonl.gz`` and remove their directories.

    Runs already in the file are kept; a finished run directory replaces its
    packed record.  The file is written atomically, read back and compared
    record by record with what was read, and only then is each packed run
    directory removed, if it holds nothing but :data:`PACKED_FILES`.  The
    caller holds the sweep (:func:`pack_sweep` takes its lock).
    """
    root = Path(root)
    file = packed_path(root, suite)
    old = {r.path: r for r in read_packed(file)} if file.is_file() else {}
    dirs = _run_dirs(root, suite)
    finished = [p for p in dirs if (root / p / "summary.json").is_file()]
    unfinished = tuple(p for p in dirs if p not in finished)
    fresh = {p: read_run_dir(root, p) for p in finished}
    records = {**old, **fresh}
    changed = any(p not in old or not _same(old[p], r) for p, r in fresh.items())
    if records and (changed or not file.is_file()):
        write_packed(file, suite, list(records.values()))
    if records:
        back = {r.path: r for r in read_packed(file)}
        wrong = sorted(p for p in records.keys() | back.keys()
                       if p not in back or p not in records or not _same(back[p], records[p]))
        if wrong:
            raise EigenRNNError(f"{file} does not read back as packed (first differing run {wrong[0]}); "
                                "no run directory was removed")
    removed, kept = [], {}
    for path in finished:
        run = root / path
        # The trainer marks each run directory as its output; that marker is no data to keep.
        own = {OUTPUT_MARKER} if output_owner(run) == "train" else set()
        others = sorted(p.name for p in run.iterdir() if p.name not in PACKED_FILES and p.name not in own)
        if others:
            kept[path] = f"holds {', '.join(others)}, which the pack does not keep"
            continue
        _remove_run_dir(root, run)
        removed.append(path)
    for leftover in root.glob(f"{suite}/*/*/*/.seed*{_REMOVING}"):  # a kill during an earlier removal
        shutil.rmtree(leftover)
    return PackResult(suite, file, len(records), tuple(fresh), tuple(removed), kept, unfinished)


def _same(a: Record, b: Record) -> bool:
    """Equal data; through JSON text, so that NaN losses of a diverged run compare equal."""
    return json.dumps(a.to_json(), sort_keys=True) == json.dumps(b.to_json(), sort_keys=True)


def _remove_run_dir(root: Path, run: Path) -> None:
    """Remove one packed run directory and the folders above it that it leaves empty (never ``root``)."""
    # Moved aside first, so that a kill mid-removal never leaves a half run directory that
    # could be read as a run; a later pack removes what was moved aside.
    aside = Path(tempfile.mkdtemp(prefix=f".{run.name}.", suffix=_REMOVING, dir=run.parent))
    os.replace(run, aside)
    shutil.rmtree(aside)
    parent = run.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()  # only if empty
        except OSError:
            break
        parent = parent.parent


def pack_sweep(root: str | os.PathLike, suites: tuple[str, ...] | None = None) -> list[PackResult]:
    """Pack every suite of the bench sweep at ``root`` (or ``suites``); see :func:`pack_suite`.

    ``root`` must be the output of ``eigenrnn bench`` (its marker, or a
    ``bench.json`` from before markers), so that the directories removed are
    ones bench wrote; the sweep is locked while packing, so a running bench
    is never packed under its feet.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"benchmark directory {root} does not exist")
    check_output(root, "bench", argument="sweep", mode="resume", legacy=("bench.json",))
    present = suite_names(root)
    if suites is not None:
        for suite in suites:
            if suite not in present:
                raise ValueError(bad_value("suite", suite, f"a suite of {root}: {', '.join(present) or 'none'}"))
    with directory_lock(root, argument="sweep"):
        return [pack_suite(root, suite) for suite in (suites or present)]
