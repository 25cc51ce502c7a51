"""One benchmark sweep from the library: the grid, its inapplicable runs, a check, ``bench.json`` and the runs.

What ``eigenrnn bench`` does, callable from Python.  :func:`sweep_grid` builds
the grid of a suite under a profile and sets aside the runs whose scheme refuses
the model (:func:`eigenrnn.bench.runner.inapplicable`); :func:`run_sweep` then
validates and plans the rest once, claims the sweep directory, records the
session in ``bench.json`` before and after, and trains on a backend.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

from eigenrnn.bench import profiles
from eigenrnn.bench.profiles import RunSpec
from eigenrnn.bench.runner import SweepResult, _now, git_commit, hardware
from eigenrnn.errors import EigenRNNError, bad_value
from eigenrnn.io import atomic_write_json

__all__ = ["SweepGrid", "SweepOutcome", "run_sweep", "sweep_grid", "write_bench_json"]


@dataclass(frozen=True)
class SweepGrid:
    """The runs of a sweep: every spec, the ones set aside and why, and the ones to train."""

    suite: str
    profile: str
    specs: list[RunSpec]
    excluded: dict[str, str]  # run path -> why the scheme refuses the model
    budgets: dict[str, dict] | None = None  # suite directory -> budget for bench.json (default: the profile's)

    @property
    def runnable(self) -> list[RunSpec]:
        return [s for s in self.specs if s.path not in self.excluded]

    @property
    def suites(self) -> list[str]:
        return list(dict.fromkeys(s.suite for s in self.specs))  # grid order: the suites in SUITES order

    def exclusion_lines(self) -> list[str]:
        """One line per (init, reason) set aside, as ``eigenrnn bench`` prints them on stderr."""
        lines = []
        reasons = {(s.init, self.excluded[s.path]) for s in self.specs if s.path in self.excluded}
        for init, reason in sorted(reasons):
            runs = sum(s.init == init and self.excluded.get(s.path) == reason for s in self.specs)
            lines.append(f"bench: not running {runs} {init} runs, the scheme refuses the model: {reason}")
        return lines


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` did: the grid and the :class:`~eigenrnn.bench.runner.SweepResult` of its runs."""

    grid: SweepGrid
    result: SweepResult

    @property
    def counts(self) -> dict[str, int]:
        return self.result.counts

    @property
    def errors(self) -> dict[str, str]:
        return self.result.errors


def sweep_grid(suite: str, profile: str, *, inits: Sequence[str] | None = None,
               cells: Sequence[str] | None = None, seeds: int | None = None) -> SweepGrid:
    """The grid of ``suite`` (or ``"all"``) under ``profile``, with its inapplicable runs set aside.

    Args:
        suite: a name of :data:`eigenrnn.bench.profiles.SUITES`, or ``"all"``.
        profile: a name of :data:`eigenrnn.bench.profiles.PROFILES`.
        inits, cells, seeds: as :func:`eigenrnn.bench.profiles.grid` (default: the profile's).

    >>> g = sweep_grid("regression", "smoke", inits=["eigen", "xavier"])
    >>> len(g.specs), len(g.runnable)
    (4, 4)
    """
    from eigenrnn.bench.runner import inapplicable

    specs = profiles.grid(suite, profile, inits=None if inits is None else list(inits),
                          cells=None if cells is None else list(cells), seeds=seeds)
    return SweepGrid(suite, profile, specs, inapplicable(specs))


def run_sweep(
    suite: str,
    profile: str,
    out: str | os.PathLike,
    *,
    inits: Sequence[str] | None = None,
    cells: Sequence[str] | None = None,
    seeds: int | None = None,
    backend=None,
    workers: int | None = None,
    threads: int = 1,
    tensorboard: str | os.PathLike | None = None,
    progress: bool = True,
    grid: SweepGrid | None = None,
) -> SweepOutcome:
    """Train the benchmark grid of ``suite`` under ``profile`` into ``out``, resumably.

    ``out`` must be empty, missing or an earlier ``bench`` sweep
    (:func:`eigenrnn.io.check_output`, mode ``"resume"``).  Runs whose scheme
    refuses the model are not trained (a line each on stderr when ``progress``);
    the rest are validated and planned once before anything is written, so a bad
    budget or a directory trained with other budgets stops the sweep untouched.
    ``bench.json`` records the session before and after the runs.

    Args:
        suite, profile, inits, cells, seeds: as :func:`sweep_grid`.
        out: the sweep directory (reuse it to resume).
        backend: a :class:`~eigenrnn.bench.backends.LocalBackend` or
            :class:`~eigenrnn.bench.backends.RayBackend`, entered and closed here
            (default: ``LocalBackend(workers, threads)``).
        workers: worker processes recorded in bench.json when the backend does not
            say (default ``os.cpu_count()``).
        threads: torch threads per worker of the default backend (default 1).
        tensorboard: a directory for one TensorBoard log per run (default: none).
        progress: progress and exclusion lines on stderr (default True).
        grid: a :func:`sweep_grid` already built for these arguments (default: build it).

    Returns:
        :class:`SweepOutcome`; ``outcome.counts["failed"]`` counts failed runs.
    """
    from eigenrnn.bench import backends
    from eigenrnn.bench.runner import plan, validate
    from eigenrnn.io import check_output, directory_lock, mark_output, sweep_stale_tmp

    check_output(out, "bench", mode="resume", legacy=("bench.json",))
    if tensorboard is not None:
        from eigenrnn.train.tensorboard import check_logdir, require_tensorboard

        require_tensorboard()
        check_logdir(tensorboard)
    if grid is None:
        grid = sweep_grid(suite, profile, inits=inits, cells=cells, seeds=seeds)
    workers = (os.cpu_count() or 1) if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(bad_value("workers", workers, "a positive integer"))
    if progress:
        for line in grid.exclusion_lines():
            print(line, file=sys.stderr)
    runnable = grid.runnable
    validate(runnable, out)
    states = plan(runnable, out)  # refuses a directory trained with other budgets before touching it
    budgets = grid.budgets or {name: asdict(profiles.budget(name, profile)) for name in grid.suites}
    backend = backends.LocalBackend(workers, threads=threads) if backend is None else backend
    with backend:
        if hasattr(backend, "capacity"):
            backend.capacity()  # a cluster too small for one run is refused before out is created
        with directory_lock(out):
            mark_output(out, "bench")
            sweep_stale_tmp(out, ("bench.json",))  # left by a kill during an atomic write
            where = backend.describe()
            record = dict(suite=suite, profile=profile, specs=grid.specs, budgets=budgets,
                          workers=where.get("workers", workers), threads=where.get("threads"),
                          excluded=grid.excluded, backend=where)
            started = write_bench_json(out, **record)
            result = backend.run_grid(runnable, out, tensorboard=tensorboard, progress=progress, planned=states)
            write_bench_json(out, **record, counts=result.counts, started=started)
    return SweepOutcome(grid, result)


def write_bench_json(
    root: str | os.PathLike,
    *,
    suite: str,
    profile: str,
    specs: Sequence[RunSpec],
    budgets: dict,
    workers: int,
    threads: int | None = None,
    excluded: dict[str, str] | None = None,
    counts: dict[str, int] | None = None,
    started: str | None = None,
    backend: dict | None = None,
) -> str:
    """Record the sweep in ``<root>/bench.json``; returns the session start time.

    ``bench.json`` holds the profile, for every suite its grid (tasks, cells,
    inits under the key ``schemes``, seeds, budget), and one entry per
    ``eigenrnn bench`` session with its commit, hardware and counts, so that a
    sweep finished over several sessions says so.  ``excluded`` (from
    :func:`eigenrnn.bench.runner.inapplicable`) is recorded per suite as
    ``not_run``, grouped by init (key ``scheme``) and reason.  Call it once
    before the sweep (``counts=None``) and once after with the counts and the
    ``started`` value the first call returned.  ``backend`` (from a backend's
    ``describe()``, :mod:`eigenrnn.bench.backends`) records where the session ran.
    """
    excluded = excluded or {}
    path = Path(root) / "bench.json"
    record = json.loads(path.read_text()) if path.exists() else {"profile": profile, "suites": {}, "sessions": []}
    if record.get("profile") != profile:
        raise EigenRNNError(
            f"{path} belongs to a sweep with profile {record.get('profile')!r}, not {profile!r}: use another --out"
        )
    for name in sorted({s.suite for s in specs}):
        mine = [s for s in specs if s.suite == name]
        # The keys "schemes" and "scheme" predate the name init: every existing bench.json has them.
        entry = record["suites"].setdefault(name, {"tasks": [], "cells": [], "schemes": [], "seeds": []})
        for key, values in (("tasks", [s.task for s in mine]), ("cells", [s.cell for s in mine]),
                            ("schemes", [s.init for s in mine]), ("seeds", [s.seed for s in mine])):
            entry[key] = sorted(set(entry[key]) | set(values))
        entry["budget"] = budgets[name]
        not_run: dict[tuple[str, str], dict] = {}
        for spec in mine:
            if spec.path in excluded:
                group = not_run.setdefault((spec.init, excluded[spec.path]), {
                    "scheme": spec.init, "reason": excluded[spec.path], "cells": [], "runs": 0})
                group["runs"] += 1
                group["cells"] = sorted(set(group["cells"]) | {spec.cell})
        entry["not_run"] = list(not_run.values())
    if started is None:
        started = _now()
        record["sessions"].append({
            "suite": suite, "started": started, "finished": None, "workers": workers, "threads": threads,
            "runs": len(specs) - len(excluded), "counts": None, **git_commit(), "hardware": hardware(),
            **({"backend": backend} if backend is not None else {}),
        })
    else:
        session = next(s for s in reversed(record["sessions"]) if s["started"] == started)
        session.update(finished=_now(), counts=counts)
    atomic_write_json(path, record)
    return started
