"""Where the runs of a sweep train: the local process pool, or a Ray cluster.

Both backends take the same grid and the same sweep directory and return the
same :class:`~eigenrnn.bench.runner.SweepResult`; only where the training
happens differs.

* :class:`LocalBackend` is :func:`eigenrnn.bench.runner.run_grid`: spawned
  worker processes on this machine, ``threads`` torch threads each (default 1), writing straight
  into the sweep directory.
* :class:`RayBackend` submits every run as a Ray task (Moritz et al., 2018,
  "Ray: A Distributed Framework for Emerging AI Applications") with
  ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs.  A task trains in a
  temporary directory on whichever node Ray picks and returns the run's files
  as bytes; the driver alone writes them into the sweep directory, atomically
  and ``summary.json`` last, so the cluster needs no shared filesystem and a
  killed driver leaves no half-written run marked finished.  A resumed run
  ships its checkpoint to the worker.  A task whose worker process or node
  dies is retried by Ray (``max_retries``); the run restarts from scratch
  under the same seed, so it gives the same numbers.

The two give identical numbers for the same grid: a run's randomness comes
from its seed alone and both train with ``cpus_per_run`` (local: one) torch
threads.

>>> backend = LocalBackend(workers=2)
>>> backend.describe()["name"]
'local'
"""

from __future__ import annotations

import argparse
import math
import json
import os
import tempfile
from collections import deque
from pathlib import Path
from typing import Any, Callable, Sequence

from eigenrnn.bench.profiles import RunSpec
from eigenrnn.bench.runner import SweepResult, _record, _run_one, _start, run_grid
from eigenrnn.errors import EigenRNNError, bad_value, check_int
from eigenrnn.io import atomic_path, atomic_write_text

BACKENDS = ("local", "ray")
RAY_MISSING = 'the ray backend needs Ray: pip install -e ".[ray]" (or pip install "ray>=2.9")'
# The run's TensorBoard files travel with its run files under this prefix.
_TB = "@tensorboard/"


class LocalBackend:
    """Today's process pool on this machine (:func:`eigenrnn.bench.runner.run_grid`).

    Args:
        workers: worker processes (default ``os.cpu_count()``).
        threads: torch threads of each worker (default 1, see :mod:`eigenrnn.threads`).
    """

    name = "local"

    def __init__(self, workers: int | None = None, threads: int = 1) -> None:
        if workers is not None:
            check_int("workers", workers)
        check_int("threads", threads)
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self.threads = threads

    def __enter__(self) -> "LocalBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        """``{"name", "workers", "nodes", "resources"}`` as recorded in bench.json."""
        return {"name": self.name, "workers": self.workers, "threads": self.threads,
                "nodes": [{"host": os.uname().nodename, "resources": {"CPU": float(os.cpu_count() or 1)}}],
                "resources": {"CPU": float(os.cpu_count() or 1)}}

    def run_grid(self, specs: Sequence[RunSpec], root: str | os.PathLike, *, progress: bool = True,
                 train_fn: Callable | None = None, tensorboard: str | os.PathLike | None = None,
                 planned: dict[str, str] | None = None) -> SweepResult:
        """Train the unfinished runs of ``specs`` under ``root``; see :func:`eigenrnn.bench.runner.run_grid`.

        ``tensorboard``: a directory that gets one TensorBoard log per run, at
        ``<tensorboard>/<run path>`` (default: none).  ``planned``: see
        :func:`eigenrnn.bench.runner.run_grid` (default: plan and validate here).
        """
        if tensorboard is not None:
            from eigenrnn.train.tensorboard import TrainWithTensorBoard

            train_fn = TrainWithTensorBoard(str(tensorboard), str(root), train_fn)
        return run_grid(specs, root, workers=self.workers, progress=progress, train_fn=train_fn, threads=self.threads,
                        planned=planned)


class RayBackend:
    """Every run a Ray task; the driver writes the sweep directory.

    Args:
        address: ``None`` starts a local Ray instance (stopped again by
            :meth:`close`); ``"auto"`` or ``"HOST:PORT"`` joins a running
            cluster.  If Ray is already initialized in this process, that
            instance is used and left running.
        cpus_per_run: CPUs Ray reserves per run; also its torch threads (default 1).
        gpus_per_run: GPUs Ray reserves per run, fractions share a card:
            ``0.25`` puts four runs on one GPU (default 0: runs see no GPU).
        num_cpus: CPUs of a local instance (default: the machine's); only without ``address``.
        max_retries: how often Ray reruns a task whose worker process or node died (default 3).
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, cpus_per_run: int = 1, gpus_per_run: float = 0.0,
                 num_cpus: int | None = None, max_retries: int = 3) -> None:
        check_int("cpus_per_run", cpus_per_run)
        if not (isinstance(gpus_per_run, (int, float)) and math.isfinite(gpus_per_run) and gpus_per_run >= 0):
            raise ValueError(bad_value("gpus_per_run", gpus_per_run, "a number >= 0 (e.g. 0.25 for four runs per GPU)"))
        if gpus_per_run > 1 and gpus_per_run != int(gpus_per_run):
            raise ValueError(bad_value("gpus_per_run", gpus_per_run, "a fraction of one GPU or a whole number of GPUs"))
        if num_cpus is not None and address is not None:
            raise ValueError(bad_value("num_cpus", num_cpus, "None when joining a cluster (its nodes set their CPUs)"))
        if num_cpus is not None:
            check_int("num_cpus", num_cpus)
        check_int("max_retries", max_retries, minimum=0)
        if address is not None:
            _check_address(address)
        self.address, self.cpus_per_run, self.gpus_per_run = address, cpus_per_run, float(gpus_per_run)
        self.num_cpus, self.max_retries = num_cpus, max_retries
        self._ray = None
        self._started = False

    def __enter__(self) -> "RayBackend":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        """Connect to (or start) Ray; raises :class:`EigenRNNError` if Ray is not installed."""
        if self._ray is not None:
            return
        try:
            import ray
        except ImportError:
            raise EigenRNNError(RAY_MISSING) from None
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if self.address is None:
                # "local": a new instance even where `ray start` left one to discover.
                options.update(address="local", num_cpus=self.num_cpus)
            else:
                options["address"] = self.address
            try:
                ray.init(**options)
            except ConnectionError as exc:
                raise EigenRNNError(f"--address {self.address}: cannot join a Ray cluster there ({exc})") from None
            self._started = True
        self._ray = ray

    def close(self) -> None:
        """Stop the Ray instance if :meth:`start` started it (a joined cluster keeps running)."""
        if self._ray is not None and self._started:
            self._ray.shutdown()
        self._ray, self._started = None, False

    def describe(self) -> dict[str, Any]:
        """The backend, its per-run resources, the cluster's alive nodes and total resources."""
        self.start()
        ray = self._ray
        keep = ("CPU", "GPU", "memory")
        nodes = [{"host": n["NodeManagerHostname"], "resources": {k: n["Resources"][k] for k in keep if k in n["Resources"]}}
                 for n in ray.nodes() if n["Alive"]]
        totals = ray.cluster_resources()
        slots = int(totals.get("CPU", 0) // self.cpus_per_run)
        if self.gpus_per_run > 0:
            slots = min(slots, int(totals.get("GPU", 0) // self.gpus_per_run))
        return {"name": self.name, "address": self.address or "local instance", "workers": slots,
                "cpus_per_run": self.cpus_per_run, "gpus_per_run": self.gpus_per_run, "max_retries": self.max_retries,
                "nodes": nodes, "resources": {k: totals[k] for k in keep if k in totals}}

    def capacity(self) -> int:
        """How many runs the cluster holds at once with the per-run resources (its ``workers``)."""
        described = self.describe()
        slots, resources = described["workers"], described["resources"]
        if slots < 1:
            raise EigenRNNError(
                f"--cpus-per-run {self.cpus_per_run} / --gpus-per-run {self.gpus_per_run:g}: no node of the cluster "
                f"has that much (cluster resources: {resources}); lower them or add nodes")
        return slots

    def run_grid(self, specs: Sequence[RunSpec], root: str | os.PathLike, *, progress: bool = True,
                 train_fn: Callable | None = None, tensorboard: str | os.PathLike | None = None,
                 planned: dict[str, str] | None = None) -> SweepResult:
        """Train the unfinished runs of ``specs`` under ``root`` as Ray tasks.

        Same contract as :func:`eigenrnn.bench.runner.run_grid` (statuses,
        skip/resume/restart, ``error.txt`` of failed runs).  At most twice the
        cluster's capacity is in flight, so Ctrl-C cancels few tasks; a run in
        flight then restarts on the next rerun (its checkpoints stay on the worker).
        """
        from eigenrnn.progress import Progress

        self.start()
        ray = self._ray
        root = Path(root)
        tb_root = None if tensorboard is None else Path(tensorboard)
        states, result, pending = _start(specs, root, planned)
        cluster = self.describe()
        bar = Progress(len(specs), initial=len(specs) - len(pending),
                       desc=f"bench[ray {len(cluster['nodes'])} node(s), {cluster['resources'].get('CPU', 0):g} CPU]",
                       unit="run", enabled=progress)
        bar.set_postfix(result.counts)
        if not pending:
            bar.close()
            return result
        task = ray.remote(_train_in_tempdir).options(
            num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=self.max_retries, retry_exceptions=False)
        window = 2 * self.capacity()
        queue = deque(pending)
        running: dict[Any, tuple[RunSpec, set[str]]] = {}
        try:
            while queue or running:
                while queue and len(running) < window:
                    spec = queue.popleft()
                    resume = states[spec.path] == "resume"
                    shipped = _read_tree(root / spec.path) if resume else {}
                    if resume and tb_root is not None:
                        shipped.update({_TB + k: v for k, v in _read_tree(tb_root / spec.path).items()})
                    ref = task.remote(spec.config_for(root), resume, shipped, train_fn,
                                      self.cpus_per_run, tb_root is not None)
                    running[ref] = (spec, set(shipped))
                done, _ = ray.wait(list(running), num_returns=1)
                for ref in done:
                    spec, shipped = running.pop(ref)
                    try:
                        status, message, files = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # out of retries, or the task could not run
                        status, message = "failed", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}"
                        atomic_write_text(root / spec.path / "error.txt", message + "\n")
                    else:
                        _write_run(root / spec.path, tb_root / spec.path if tb_root is not None else None,
                                   files, stale=shipped - set(files))
                    _record(result, bar, spec, status, message)
        except BaseException:
            for ref in running:
                ray.cancel(ref, force=True)
            raise
        finally:
            bar.close()
        return result


def _train_in_tempdir(config: dict, resume: bool, shipped: dict[str, bytes], train_fn: Callable | None,
                      threads: int, tensorboard: bool) -> tuple[str, str | None, dict[str, bytes]]:
    """A Ray task: train one run in a temporary directory; return its status and every file it holds."""
    import torch

    # The local pool's workers run one thread each (runner._init_worker); the
    # same thread count keeps the float reductions, hence the numbers, identical.
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="eigenrnn-run-") as tmp:
        run_dir, tb_dir = Path(tmp) / "run", Path(tmp) / "tensorboard"
        for name, data in shipped.items():
            target = tb_dir / name[len(_TB):] if name.startswith(_TB) else run_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if tensorboard:
            from eigenrnn.train.tensorboard import TrainWithTensorBoard

            train_fn = TrainWithTensorBoard(str(tb_dir), str(run_dir), train_fn)
        status, message = _run_one({**config, "out": str(run_dir)}, resume, train_fn)
        files = _read_tree(run_dir)
        files.update({_TB + k: v for k, v in _read_tree(tb_dir).items()})
    if "config.json" in files:
        # The trainer recorded the temporary directory; record where the run lives.
        saved = json.loads(files["config.json"])
        saved["out"] = config["out"]
        files["config.json"] = (json.dumps(saved, indent=2, sort_keys=True, default=str) + "\n").encode()
    return status, message, files


def _read_tree(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` as ``{relative posix path: bytes}`` (empty if it does not exist)."""
    if not directory.is_dir():
        return {}
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _write_run(run_dir: Path, tb_dir: Path | None, files: dict[str, bytes], *, stale: set[str]) -> None:
    """Write a returned run atomically file by file, ``summary.json`` last; drop shipped files the run removed."""
    def target(name: str) -> Path:
        if name.startswith(_TB):
            if tb_dir is None:
                raise EigenRNNError(f"a worker returned TensorBoard file {name!r} but no --tensorboard directory is set")
            return tb_dir / name[len(_TB):]
        return run_dir / name

    for name in stale:
        target(name).unlink(missing_ok=True)
    for name in sorted(files, key=lambda n: n == "summary.json"):
        with atomic_path(target(name)) as tmp:
            tmp.write_bytes(files[name])


def _check_address(address: object, timeout_s: float = 5.0) -> None:
    """Refuse a Ray ``address`` that is malformed, or HOST:PORT where nothing listens.

    ``ray.init`` retries an unreachable GCS address for minutes and prints
    its own log lines, so a mistyped host or port is caught here first with
    one TCP connection attempt of ``timeout_s`` seconds.
    """
    import socket

    allowed = "'auto', HOST:PORT or ray://HOST:PORT"
    if not isinstance(address, str) or not address.strip():
        raise EigenRNNError(bad_value("--address", address, allowed))
    if address == "auto":
        return
    hostport = address[len("ray://"):] if address.startswith("ray://") else address
    host, sep, port = hostport.rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise EigenRNNError(bad_value("--address", address, allowed + " with a port from 1 to 65535"))
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise EigenRNNError(bad_value("--address", address, f"a running Ray cluster; nothing answers there "
                                      f"({exc.strerror or exc})")) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--backend/--address/--cpus-per-run/--gpus-per-run`` options of ``bench`` and ``study``."""
    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="where runs train: local (a process pool on this machine) or ray (one Ray task per "
                        "run; needs the ray extra) (default: local)")
    parser.add_argument("--address", default=None,
                        help="ray: the cluster to join, 'auto' (the one `ray start` made here) or HOST:PORT "
                        "(default: start a local Ray instance with --workers CPUs)")
    parser.add_argument("--cpus-per-run", type=int, default=None,
                        help="ray: CPUs (and torch threads) per run (default: 1)")
    parser.add_argument("--gpus-per-run", type=float, default=None,
                        help="ray: GPUs per run; 0.25 shares one GPU among four runs (default: 0, runs see no GPU)")


def from_args(args: argparse.Namespace) -> LocalBackend | RayBackend:
    """The backend the options of :func:`add_arguments` (and ``--workers``) ask for."""
    if args.backend == "local":
        for flag, value in (("--address", args.address), ("--cpus-per-run", args.cpus_per_run),
                            ("--gpus-per-run", args.gpus_per_run)):
            if value is not None:
                raise ValueError(bad_value(flag, value, "nothing with --backend local (it applies to --backend ray)"))
        return LocalBackend(args.workers, threads=getattr(args, "threads", 1))
    if getattr(args, "threads", 1) != 1:
        raise ValueError(bad_value("--threads", args.threads, "1 with --backend ray (a run's torch threads are its --cpus-per-run)"))
    if args.cpus_per_run is not None and args.cpus_per_run < 1:
        raise ValueError(bad_value("--cpus-per-run", args.cpus_per_run, "a positive integer"))
    if args.gpus_per_run is not None and not (math.isfinite(args.gpus_per_run) and args.gpus_per_run >= 0):
        raise ValueError(bad_value("--gpus-per-run", args.gpus_per_run, "a number >= 0 (e.g. 0.25 for four runs per GPU)"))
    if args.address is not None and args.workers is not None:
        raise ValueError(bad_value("--workers", args.workers,
                                   "nothing with --address (the cluster's nodes set their CPUs at `ray start`)"))
    try:
        import ray  # noqa: F401
    except ImportError:
        raise EigenRNNError(RAY_MISSING) from None
    return RayBackend(args.address, cpus_per_run=1 if args.cpus_per_run is None else args.cpus_per_run,
                      gpus_per_run=0.0 if args.gpus_per_run is None else args.gpus_per_run, num_cpus=args.workers)
