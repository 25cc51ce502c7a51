"""Run a benchmark grid over a pool of worker processes, resumably.

Each :class:`~eigenrnn.bench.profiles.RunSpec` trains in its own directory
``<root>/<suite>/<task>/<cell>/<init>/seed<k>/``.  On a rerun a directory
holding ``summary.json`` is skipped, one with ``checkpoint.pt`` but no summary is
resumed (``train(..., resume=True)``), and anything else starts afresh, so a
killed sweep loses at most the runs that were in flight.

A run that raises :class:`~eigenrnn.errors.TrainingDiverged` counts as
*diverged* (the trainer has written its summary); any other exception is
written to ``error.txt`` in the run directory, counted as *failed*, and the
sweep goes on.  A failed run is retried on the next rerun.

Workers are spawned processes (never forked: torch and CUDA do not survive a
fork), each limited to ``threads`` torch threads (default 1) so that ``workers``
runs share the cores without oversubscription.  They die with the process that started them,
even when it is SIGKILLed (:func:`die_with_parent`), so a killed sweep leaves
nothing running that could still write into it.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import traceback
from collections import Counter, deque
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from eigenrnn.bench.profiles import RunSpec
from eigenrnn.bench.records import HARDWARE_FILE
from eigenrnn.errors import EigenRNNError, check_int
from eigenrnn.io import atomic_write_text

STATUSES = ("finished", "diverged", "failed", "skipped")


@dataclass
class SweepResult:
    """What one call of :func:`run_grid` did: a status per run path, and failures."""

    status: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(self.status.values())
        return {name: counted.get(name, 0) for name in STATUSES}


def plan(specs: Sequence[RunSpec], root: str | os.PathLike) -> dict[str, str]:
    """The state of every run directory: ``"done"``, ``"resume"`` or ``"new"``.

    A run packed into ``<root>/<suite>.records.jsonl.gz`` (:mod:`eigenrnn.bench.records`)
    is ``"done"`` too, unless its directory holds a summary (that one wins).

    Raises :class:`EigenRNNError` if an existing run was trained with a
    different configuration than ``specs`` now asks for, because mixing budgets
    in one sweep would make the comparison meaningless.
    """
    from eigenrnn.bench.records import packed_records

    root = Path(root)
    packed = packed_records(root)  # finished runs packed by `eigenrnn pack`
    states = {}
    for spec in specs:
        run_dir = root / spec.path
        if (run_dir / "config.json").exists():
            _check_same_config(spec, root)
        if (run_dir / "summary.json").exists():
            states[spec.path] = "done"
        elif spec.path in packed:
            _check_same_config(spec, root, packed[spec.path].config)
            states[spec.path] = "done"
        elif (run_dir / "checkpoint.pt").exists():
            states[spec.path] = "resume"
        else:
            states[spec.path] = "new"
    return states


def inapplicable(specs: Sequence[RunSpec]) -> dict[str, str]:
    """The runs whose init refuses the model, as ``{path: reason}``.

    Some schemes are only defined for some sizes (rescaled Glorot needs a
    large hidden size), and some variants for some cells (chrono biases for
    gated cells, :attr:`eigenrnn.bench.variants.Variant.cells`).  Each
    distinct (cell, hidden, layers, init, init_kwargs) is tried once on a
    bare ``nn.RNN/LSTM/GRU``; a ValueError from :func:`eigenrnn.init.init_rnn`
    excludes those runs, and the sweep reports them as not run rather than failed.
    So are the runs of a calibrating variant on a task that calibration does
    not support (Multi30k: its TrainConfig refuses ``calibrate``).
    """
    import torch

    from eigenrnn.bench.variants import parse
    from eigenrnn.init import init_rnn
    from eigenrnn.rnn import CLASSES as modules
    from eigenrnn.train.build import decode_init_kwargs

    verdicts: dict[str, str | None] = {}
    excluded = {}
    for spec in specs:
        c = spec.config
        key = json.dumps([spec.cell, c["hidden"], c["layers"], spec.init, c["init_kwargs"]], sort_keys=True)
        variant = parse(spec.init)
        if key not in verdicts and not variant.applies_to(spec.cell):
            verdicts[key] = f"{variant.name} applies to cells {', '.join(variant.cells)} only, not {spec.cell}"
        if c.get("calibrate") is not None:
            task_key = json.dumps([c["task"], spec.init, c["calibrate"]])
            if task_key not in verdicts:
                from eigenrnn.train import TrainConfig

                try:
                    TrainConfig.from_dict({**c, "out": "unused"})
                    verdicts[task_key] = None
                except ValueError as exc:
                    verdicts[task_key] = str(exc)
            if verdicts[task_key] is not None:
                excluded[spec.path] = verdicts[task_key]
                continue
        if key not in verdicts:
            module = modules[spec.cell](1, c["hidden"], num_layers=c["layers"])
            try:
                init_rnn(module, c["init"], generator=torch.Generator().manual_seed(0),
                         **decode_init_kwargs(c["init_kwargs"]))
                verdicts[key] = None
            except ValueError as exc:
                verdicts[key] = str(exc)
        if verdicts[key] is not None:
            excluded[spec.path] = verdicts[key]
    return excluded


def run_grid(
    specs: Sequence[RunSpec],
    root: str | os.PathLike,
    *,
    workers: int | None = None,
    progress: bool = True,
    train_fn: Callable | None = None,
    threads: int = 1,
    planned: dict[str, str] | None = None,
) -> SweepResult:
    """Train every run of ``specs`` under ``root`` that has not finished yet.

    Args:
        specs: the grid, e.g. from :func:`eigenrnn.bench.profiles.grid`.
        root: the sweep directory.
        workers: number of worker processes (default ``os.cpu_count()``).
        progress: show progress over the whole grid on stderr (a tqdm bar on a
            terminal, one line per finished run otherwise; :class:`eigenrnn.progress.Progress`).
        train_fn: a picklable replacement for :func:`eigenrnn.train.train`
            with the same signature (default: that function).
        threads: torch threads of each worker (default 1). Runs are
            bit-identical only at an equal count (see docs/TRAINING.md).
        planned: the :func:`plan` of ``specs`` by a caller that validated them (default: both here).

    Returns:
        :class:`SweepResult` with one status per run path: ``"skipped"``
        (finished before this call), ``"finished"``, ``"diverged"`` or ``"failed"``.
    """
    from eigenrnn.progress import Progress

    workers = (os.cpu_count() or 1) if workers is None else workers
    check_int("workers", workers)
    root = Path(root)
    states, result, pending = _start(specs, root, planned)

    # A bar on a terminal, a plain line per finished run in a log file.
    bar = Progress(len(specs), initial=len(specs) - len(pending), desc=f"bench[local {workers} workers]", unit="run",
                   enabled=progress)
    bar.set_postfix(result.counts)
    if not pending:
        bar.close()
        return result

    # Submit no more than there are workers: an interrupted sweep then stops
    # after the runs in flight (which checkpoint on Ctrl-C) instead of draining a queue.
    queue = deque(pending)
    size = min(workers, len(pending))
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(size, mp_context=context, initializer=_init_worker,
                                initargs=(os.getpid(), threads)) as pool:
        running: dict[cf.Future, RunSpec] = {}
        try:
            while queue or running:
                while queue and len(running) < size:
                    spec = queue.popleft()
                    resume = states[spec.path] == "resume"
                    try:
                        future = pool.submit(_run_one, spec.config_for(root), resume, train_fn)
                    except BrokenProcessPool as exc:
                        raise EigenRNNError(f"a worker process died ({exc}); finished runs are kept, "
                                            "rerun the same command to continue") from None
                    running[future] = spec
                done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    spec = running.pop(future)
                    try:
                        status, message = future.result()
                    except Exception as exc:  # the worker process itself died
                        status, message = "failed", f"{type(exc).__name__}: {exc}"
                        atomic_write_text(root / spec.path / "error.txt", message + "\n")
                    _record(result, bar, spec, status, message)
        finally:
            bar.close()
    return result


def validate(specs: Sequence[RunSpec], root: Path) -> None:
    """Resolve one TrainConfig per (suite, task, cell, init), raising ValueError for a bad one.

    Run before a sweep so that a bad budget (or ``device="cuda"`` without CUDA)
    stops it with one clear error instead of failing every run in the workers.
    """
    from eigenrnn.train import TrainConfig

    seen = set()
    for spec in specs:
        if (spec.suite, spec.task, spec.cell, spec.init) not in seen:
            seen.add((spec.suite, spec.task, spec.cell, spec.init))
            TrainConfig.from_dict(spec.config_for(root)).resolve()


def _prepare(run_dir: Path, *, resume: bool) -> None:
    """Clear what a previous attempt left that must not survive this one."""
    if resume:
        (run_dir / "error.txt").unlink(missing_ok=True)
    elif run_dir.exists():
        # Killed before its first checkpoint, or failed: nothing to resume.
        shutil.rmtree(run_dir)


def _start(specs: Sequence[RunSpec], root: Path, planned: dict | None = None) -> tuple[dict, SweepResult, list]:
    """Plan and validate a sweep, mark finished runs skipped and clear what the others left.

    Shared by both backends.  Returns ``(states, result, pending)``: the
    :func:`plan` state of every run, a result holding the skipped ones, and the
    runs still to train, in grid order; ``planned`` as in :func:`run_grid`.
    """
    states = plan(specs, root) if planned is None else planned
    if planned is None:
        validate(specs, root)
    result = SweepResult()
    pending = []
    for spec in specs:
        if states[spec.path] == "done":
            result.status[spec.path] = "skipped"
        else:
            pending.append(spec)
            _prepare(root / spec.path, resume=states[spec.path] == "resume")
    return states, result, pending


def _record(result: SweepResult, bar, spec: RunSpec, status: str, message: str | None) -> None:
    """Count one run that came back (shared by both backends): in ``result``, on ``bar``, a line if it failed.

    ``bar`` is the sweep's :class:`eigenrnn.progress.Progress`.
    """
    result.status[spec.path] = status
    if status == "failed":
        result.errors[spec.path] = message
        bar.write(f"failed: {spec.path}: {message}")
    bar.update(1)
    bar.set_postfix(result.counts)


def _init_worker(parent: int | None = None, threads: int = 1) -> None:
    from eigenrnn.threads import set_threads

    set_threads(threads)
    if parent is not None:
        die_with_parent(parent)


def die_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """End this (worker) process as soon as process ``parent`` is gone, even if it was SIGKILLed.

    On Linux the kernel sends SIGKILL at once (``prctl(PR_SET_PDEATHSIG)``); everywhere a
    daemon thread also checks every ``poll_s`` seconds whether the parent is still ours
    (``os.getppid()`` changes when it dies) and exits the process if not.
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)

    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=watch, name="eigenrnn-parent-watch", daemon=True).start()


def _run_one(config: dict, resume: bool, train_fn: Callable | None) -> tuple[str, str | None]:
    """Train one run in a worker; returns ``(status, error message or None)``."""
    from eigenrnn.errors import TrainingDiverged
    from eigenrnn.train import TrainConfig

    if train_fn is None:
        from eigenrnn.train import train as train_fn
    run_dir = Path(config["out"])
    try:
        train_fn(TrainConfig.from_dict(config), resume=resume, progress=False)
        if not (run_dir / "summary.json").exists():
            raise EigenRNNError(f"train() returned without writing {run_dir / 'summary.json'}")
        status = "finished"
    except TrainingDiverged:
        status = "diverged"
    except Exception as exc:
        atomic_write_text(run_dir / "error.txt", traceback.format_exc())
        return "failed", f"{type(exc).__name__}: {exc}"
    _stamp_hardware(run_dir, resume)
    return status, None


def _stamp_hardware(run_dir: Path, resumed: bool) -> None:
    """Write :data:`~eigenrnn.bench.records.HARDWARE_FILE` (:func:`hardware`) into a run directory that holds a summary.

    A sweep's sittings may run on different CPUs, whose float results differ in
    the last bits, and ``bench.json`` only says which machines a whole session
    used; so each run says its own (``resumed``: it went on from a checkpoint,
    perhaps written on another machine).
    """
    import torch

    if (run_dir / "summary.json").exists():
        stamp = {**hardware(), "threads": torch.get_num_threads(), "resumed_from_checkpoint": bool(resumed)}
        atomic_write_text(run_dir / HARDWARE_FILE, json.dumps(stamp, indent=1, sort_keys=True) + "\n")


def hardware() -> dict:
    """CPU model, core count, torch version and CUDA device of this machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    # The instruction set torch's kernels dispatch to (e.g. AVX2 on AMD EPYC, AVX512 on a
    # recent Xeon): it changes float results in the last bits, so records say which it was.
    return {"cpu": cpu, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cores": os.cpu_count(),
            "torch": torch.__version__, "cuda": cuda,
            "python": platform.python_version(), "platform": platform.platform()}


def git_commit() -> dict:
    """``{"commit": sha or None, "dirty": bool or None}`` of the eigenrnn source checkout."""
    where = Path(__file__).resolve().parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain") if commit else None
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def commit_label() -> str:
    """:func:`git_commit` in one line for a page's header: short sha, marked when the checkout is dirty."""
    info = git_commit()
    if not info["commit"]:
        return "unknown"
    return info["commit"][:7] + (" (with uncommitted changes)" if info["dirty"] else "")


def hardware_label() -> str:
    """:func:`hardware` in one line for a page's header: CPU, cores, GPU and torch version."""
    hw = hardware()
    return f"{hw['cpu']}, {hw['cores']} cores, {hw['cuda'] or 'no GPU'}, torch {hw['torch']}"


def _check_same_config(spec: RunSpec, root: Path, saved: dict | None = None) -> None:
    """Refuse a run whose config.json (or packed ``saved`` config) differs from what ``spec`` asks for."""
    from eigenrnn.train import TrainConfig

    run_dir = root / spec.path
    if saved is None:
        try:
            saved = json.loads((run_dir / "config.json").read_text())
        except (OSError, ValueError):
            return  # unreadable leftovers of a killed run; the run starts afresh
    # Compare resolved configs (as the trainer saved them), through JSON like the file.
    wanted = TrainConfig.from_dict(spec.config_for(root)).resolve().to_dict()
    wanted = json.loads(json.dumps(wanted, default=str))
    for key, value in wanted.items():
        if key != "out" and saved.get(key) != value:
            raise EigenRNNError(
                f"{run_dir} was trained with {key}={saved.get(key)!r} but the grid now gives {value!r}; "
                "use a fresh --out (or restore the budget) so that every run shares one budget"
            )


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
