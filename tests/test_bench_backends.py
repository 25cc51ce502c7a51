"""The bench backends: local pool and Ray give the same sweep, resume, survive a killed worker."""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from eigenrnn.bench import profiles
from eigenrnn.bench.backends import LocalBackend, RayBackend
from eigenrnn.bench.runner import inapplicable
from eigenrnn.cli import main

SMOKE = ["bench", "--suite", "all", "--profile", "smoke"]


def _numbers(report_dir: Path) -> dict:
    """report.json without what differs between two sweeps of the same grid: wall times and the header."""
    def strip(node):
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "wall_time_s"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    report = json.loads((report_dir / "report.json").read_text())
    report.pop("header")
    return strip(report)


def _summary(run_dir: Path) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("wall_time_s")
    return summary


@pytest.fixture(scope="session")
def ray_instance():
    """One local Ray instance with 2 CPUs for the whole test session."""
    ray = pytest.importorskip("ray")
    # Else Ray's driver replaces builtins.print (ray.experimental.tqdm_ray) for the rest of the session.
    patch = pytest.MonkeyPatch()
    patch.setenv("RAY_TQDM_PATCH_PRINT", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    # Test-module objects (the fault injector) travel by value: workers cannot import tests/.
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield ray
    ray.shutdown()
    patch.undo()


@pytest.fixture(scope="module")
def local_smoke(tmp_path_factory):
    """The smoke profile on the local pool, and its report."""
    root = tmp_path_factory.mktemp("local")
    assert main([*SMOKE, "--out", str(root / "sweep"), "--workers", "2"]) == 0
    assert main(["report", str(root / "sweep"), "--out", str(root / "report")]) == 0
    return root


@pytest.mark.ray
def test_smoke_profile_report_is_the_same_on_ray_and_local(ray_instance, local_smoke, tmp_path):
    assert main([*SMOKE, "--out", str(tmp_path / "sweep"), "--backend", "ray"]) == 0
    assert main(["report", str(tmp_path / "sweep"), "--out", str(tmp_path / "report")]) == 0
    assert _numbers(tmp_path / "report") == _numbers(local_smoke / "report")
    specs = profiles.grid("all", "smoke")
    excluded = inapplicable(specs)  # e.g. xavier+chrono on a vanilla RNN: neither backend trains it
    assert excluded, "the smoke grid should hold at least one inapplicable run"
    for spec in (s for s in specs if s.path not in excluded):
        ray_run, local_run = tmp_path / "sweep" / spec.path, local_smoke / "sweep" / spec.path
        assert _summary(ray_run) == _summary(local_run)
        # The driver wrote the run where it lives, not in the worker's temporary directory.
        assert json.loads((ray_run / "config.json").read_text())["out"] == str(ray_run)
        assert sorted(p.name for p in ray_run.iterdir()) == sorted(p.name for p in local_run.iterdir())
    session = json.loads((tmp_path / "sweep" / "bench.json").read_text())["sessions"][-1]
    backend = session["backend"]
    assert backend["name"] == "ray" and backend["resources"]["CPU"] == 2 and len(backend["nodes"]) == 1
    assert session["workers"] == 2 and backend["cpus_per_run"] == 1
    local = json.loads((local_smoke / "sweep" / "bench.json").read_text())["sessions"][-1]["backend"]
    assert local["name"] == "local" and local["workers"] == 2


@dataclass(frozen=True)
class KillWorkerOnce:
    """A train_fn whose first run to reach step 1 SIGKILLs its own worker process (marker: who died)."""

    marker: str

    def __call__(self, config, *, resume=False, progress=True):
        from eigenrnn.train import train

        marker = Path(self.marker)

        class Die:
            def on_step_end(self, trainer, step):
                if step == 1 and not marker.exists():
                    marker.write_text(f"{os.getpid()}\n")
                    os.kill(os.getpid(), signal.SIGKILL)

        return train(config, resume=resume, progress=progress, callbacks=[Die()])


@pytest.mark.ray
def test_a_killed_ray_worker_is_retried_and_the_report_is_unchanged(ray_instance, local_smoke, tmp_path):
    specs = profiles.grid("all", "smoke")
    excluded = inapplicable(specs)
    specs = [s for s in specs if s.path not in excluded]
    marker = tmp_path / "killed"
    with RayBackend() as backend:  # joins the session's instance
        result = backend.run_grid(specs, tmp_path / "sweep", progress=False, train_fn=KillWorkerOnce(str(marker)))
    assert marker.read_text().strip().isdigit()  # a worker process did die mid-run
    assert result.counts["finished"] == len(specs)
    # bench.json is the CLI's; the report needs it, so borrow the local sweep's.
    (tmp_path / "sweep" / "bench.json").write_text((local_smoke / "sweep" / "bench.json").read_text())
    assert main(["report", str(tmp_path / "sweep"), "--out", str(tmp_path / "report")]) == 0
    assert _numbers(tmp_path / "report") == _numbers(local_smoke / "report")


@pytest.mark.ray
def test_resume_on_ray_skips_finished_runs_and_continues_checkpointed_ones(ray_instance, tmp_path):
    specs = profiles.grid("regression", "smoke", inits=["eigen", "xavier"], cells=["gru"])
    root, tb = tmp_path / "sweep", tmp_path / "tb"
    backend = RayBackend()
    first = backend.run_grid(specs, root, progress=False, tensorboard=tb)
    assert first.counts["finished"] == 2
    finished, checkpointed = (root / s.path for s in specs)
    before = {run: _summary(run) for run in (finished, checkpointed)}
    stamp = (finished / "summary.json").stat().st_mtime_ns
    (checkpointed / "summary.json").unlink()  # as if the driver had been killed before writing it
    again = backend.run_grid(specs, root, progress=False, tensorboard=tb)
    assert again.status == {specs[0].path: "skipped", specs[1].path: "finished"}
    assert (finished / "summary.json").stat().st_mtime_ns == stamp
    # Resumed from the shipped checkpoint (the epoch was done): same numbers.
    assert _summary(checkpointed) == before[checkpointed]
    assert backend.run_grid(specs, root, progress=False).counts["skipped"] == 2
    # The TensorBoard logs came back to the driver too, one per run.
    assert all(any((tb / s.path).glob("events.out.tfevents.*")) for s in specs)


def test_ray_backend_absent_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the ray extra were not installed
    out = tmp_path / "sweep"
    assert main(["bench", "--suite", "regression", "--profile", "smoke", "--cells", "gru", "--out", str(out),
                 "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install -e ".[ray]"' in err
    assert not out.exists()
    with pytest.raises(Exception, match=r'pip install -e "\.\[ray\]"'):
        RayBackend().start()


def test_backend_options_are_checked(tmp_path, capsys):
    base = ["bench", "--suite", "regression", "--profile", "smoke", "--out", str(tmp_path / "s")]
    assert main([*base, "--address", "auto"]) == 2
    assert "--address: got 'auto'" in capsys.readouterr().err and not (tmp_path / "s").exists()
    assert main([*base, "--gpus-per-run", "0.25"]) == 2
    assert "--backend ray" in capsys.readouterr().err
    assert main([*base, "--backend", "ray", "--cpus-per-run", "0"]) == 2
    assert "--cpus-per-run: got 0" in capsys.readouterr().err
    assert main([*base, "--backend", "ray", "--address", "auto", "--workers", "2"]) == 2
    assert "--workers: got 2" in capsys.readouterr().err and not (tmp_path / "s").exists()
    with pytest.raises(ValueError, match="cpus_per_run: got 0"):
        RayBackend(cpus_per_run=0)
    with pytest.raises(ValueError, match="gpus_per_run: got -1"):
        RayBackend(gpus_per_run=-1)
    with pytest.raises(ValueError, match="num_cpus"):
        RayBackend("auto", num_cpus=2)
    with pytest.raises(ValueError, match="workers: got 0"):
        LocalBackend(0)


@pytest.mark.ray
def test_study_spectra_on_ray_equals_local(ray_instance, tmp_path, capsys):
    for backend in ("local", "ray"):
        argv = ["study", "spectra", "--profile", "smoke", "--out", str(tmp_path / backend), "--no-progress",
                "--backend", backend]
        assert main(argv) == 0
    local, ray = (json.loads((tmp_path / b / "summary.json").read_text()) for b in ("local", "ray"))
    assert ray["runs"] == local["runs"] and ray["summary"] == local["summary"]
    assert ray["meta"]["sweep"] == local["meta"]["sweep"]
