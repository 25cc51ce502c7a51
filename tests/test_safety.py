"""Nothing deleted that a command did not write, no traceback for a user's mistake, nothing half-written,
resume trusts only its own files, a killed sweep leaves nothing running, divergence beyond NaN."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from eigenrnn.cli import main
from eigenrnn.errors import CheckpointError, EigenRNNError, TrainingDiverged
from eigenrnn.io import OUTPUT_MARKER, check_output, directory_lock, sweep_stale_tmp
from eigenrnn.train import train

TINY = {"task": "tomita4", "hidden": 8, "epochs": 2, "batch_size": 32, "lr": 1e-2,
        "train_size": 200, "val_size": 60, "test_size": 60, "task_options": {"per_length": 20}}


def _tree(root: Path) -> dict[str, str]:
    """Every path under ``root`` with its content hash ("dir" for directories)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _one_line(capsys, argv) -> str:
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("eigenrnn: error: "), err
    return lines[0]


# ---------------------------------------------------------------- output paths, every command

@pytest.fixture
def world(tmp_path, monkeypatch):
    """A working directory with a user's file, a regular file, a foreign folder and the inputs of report/analyze."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "notes.txt").write_text("mine")
    monkeypatch.chdir(cwd)
    (tmp_path / "file.txt").write_text("a file")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.tex").write_text("precious")
    (tmp_path / "pic.png").mkdir()
    (tmp_path / "pic.png" / "keep.txt").write_text("a folder named like a figure")
    sweep = tmp_path / "sweep" / "tomita" / "tomita4" / "gru" / "eigen" / "seed0"
    sweep.mkdir(parents=True)
    (sweep / "summary.json").write_text("{}")
    (tmp_path / "model").mkdir()
    torch.save(nn.GRU(3, 4).state_dict(), tmp_path / "model" / "gru.pt")
    return tmp_path


COMMANDS = {
    "train": ["train", "--task", "tomita4", "--hidden", "4", "--epochs", "1", "--train-size", "32", "--no-progress"],
    "bench": ["bench", "--suite", "tomita", "--profile", "smoke", "--schemes", "eigen", "--workers", "1"],
    "study": ["study", "spectra", "--profile", "cpu", "--workers", "1", "--no-progress"],
    "demo": ["demo", "--epochs", "1", "--hidden", "4", "--train-size", "32", "--no-progress"],
    "report": ["report", "{tmp}/sweep"],
    "analyze": ["analyze", "{tmp}/model/gru.pt", "--cell", "gru", "--hidden", "4"],
    "init-show": ["init-show", "--scheme", "xavier", "--size", "4"],
    "select": ["select", "choose", "{tmp}/sweep"],
}
CASES = {
    "parent is a file": "{tmp}/file.txt/out",
    "path is a file": "{tmp}/file.txt",
    "foreign directory": "{tmp}/foreign",
    "current directory": ".",
    "empty string": "",
    "parent of the current directory": "{tmp}",
}
INPUT_CASES = {"report": ["{tmp}/sweep", "{tmp}/sweep/tomita"], "analyze": ["{tmp}/model"]}
FILE_CASES = {"parent is a file": "{tmp}/file.txt/out.png", "path is a directory": "{tmp}/pic.png",
              "current directory": ".", "empty string": ""}


def _probes():
    for command in COMMANDS:
        cases = FILE_CASES if command in ("init-show", "select") else CASES
        for case, out in cases.items():
            yield command, case, out
        for i, out in enumerate(INPUT_CASES.get(command, [])):
            yield command, f"input {i}", out


@pytest.mark.parametrize("command,case,out", list(_probes()))
def test_refused_output_path_changes_nothing(world, capsys, command, case, out):
    argv = [a.format(tmp=world) for a in COMMANDS[command]] + ["--out", out.format(tmp=world)]
    before = _tree(world)
    line = _one_line(capsys, argv)
    assert "out: got " in line, line  # names the argument and the value
    assert _tree(world) == before


def test_report_never_replaces_the_sweep_or_a_folder_it_did_not_write(world, capsys):
    # the observed loss: `report SWEEP --out SWEEP` deleted the sweep
    before = _tree(world)
    for out in (world / "sweep", world / "sweep" / "tomita", world / "foreign"):
        _one_line(capsys, ["report", str(world / "sweep"), "--out", str(out), "--force"])
    assert _tree(world) == before


def test_check_output_states_and_marker(tmp_path):
    out = tmp_path / "o"
    assert check_output(out, "analyze") == "new"
    out.mkdir()
    assert check_output(out, "analyze") == "new"  # empty
    (out / OUTPUT_MARKER).write_text("analyze\n")
    (out / "report.md").write_text("x")
    with pytest.raises(EigenRNNError, match="pass --force"):
        check_output(out, "analyze")
    assert check_output(out, "analyze", force=True) == "own"
    with pytest.raises(EigenRNNError, match="written by `eigenrnn analyze`"):
        check_output(out, "report", force=True)  # another command's output is not this one's
    (out / OUTPUT_MARKER).unlink()
    with pytest.raises(EigenRNNError, match="not written by eigenrnn"):
        check_output(out, "analyze", force=True)
    assert check_output(out, "analyze", force=True, legacy=("report.md",)) == "own"
    with pytest.raises(EigenRNNError, match="not written by eigenrnn"):  # a legacy pair needs both files
        check_output(out, "analyze", force=True, legacy=(("analysis.json", "report.md"),))
    (out / "analysis.json").write_text("{}")
    assert check_output(out, "analyze", force=True, legacy=(("analysis.json", "report.md"),)) == "own"
    link = tmp_path / "link"
    link.symlink_to(out)
    with pytest.raises(EigenRNNError, match="other than the input"):  # the input through a symbolic link
        check_output(link, "analyze", inputs=(out / "analysis.json",), force=True)


def test_analyze_checks_out_before_computing(tmp_path, capsys, monkeypatch):
    import eigenrnn.analysis.overview as report_module

    def never(*a, **k):
        raise AssertionError("analyze computed before checking --out")

    monkeypatch.setattr(report_module, "analyze", never)
    torch.save(nn.GRU(3, 4).state_dict(), tmp_path / "gru.pt")
    (tmp_path / "f").write_text("x")
    _one_line(capsys, ["analyze", str(tmp_path / "gru.pt"), "--cell", "gru", "--hidden", "4", "--out", str(tmp_path / "f" / "o")])


# ---------------------------------------------------------------- no traceback for a user's mistake

@pytest.mark.parametrize("argv,needle", [
    (["train", "--task", "tomita4", "--hidden", str(10**7), "--epochs", "1", "--out", "{tmp}/r"], "hidden: got 10000000"),
    (["init-show", "--scheme", "xavier", "--size", str(10**7), "--out", "{tmp}/x.png"], "--size: got 10000000"),
    (["demo", "--hidden", str(10**7), "--out", "{tmp}/d"], "hidden: got 10000000"),
    (["demo", "--train-size", "0", "--out", "{tmp}/d"], "train_size: got 0"),
    (["demo", "--train-size", "-5", "--out", "{tmp}/d"], "train_size: got -5"),
    (["train", "--config", "{tmp}", "--out", "{tmp}/r"], str(Path("{tmp}"))),
])
def test_user_mistakes_are_one_line_and_write_nothing(tmp_path, capsys, argv, needle):
    (tmp_path / "keep").write_text("x")
    before = _tree(tmp_path)
    line = _one_line(capsys, [a.format(tmp=tmp_path) for a in argv])
    assert needle.format(tmp=tmp_path) in line, line
    assert _tree(tmp_path) == before  # demo.json is not written before the arguments are checked


def test_memory_rule_refuses_before_allocating(tmp_path):
    from eigenrnn.resources import TRAINING_COPIES, check_fits, device_memory, recurrent_parameters

    assert recurrent_parameters("lstm", 3, layers=2, input_size=5) == 4 * 3 * (5 + 3) + 4 * 3 * 6
    assert recurrent_parameters("gru", 4) == sum(
        p.numel() for name, p in nn.GRU(1, 4, bias=False).named_parameters())
    memory = device_memory("cpu")
    check_fits("hidden", 1, memory // (TRAINING_COPIES * 4))  # exactly fits
    with pytest.raises(EigenRNNError, match="hidden: got 7"):
        check_fits("hidden", 7, memory // (TRAINING_COPIES * 4) + 1)


def test_oserror_on_a_user_path_is_one_line_but_a_bug_keeps_its_traceback(tmp_path, capsys, monkeypatch):
    import eigenrnn.cli.report as report_cli

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(report_cli, "write_report", denied)
    line = _one_line(capsys, ["report", str(tmp_path), "--out", str(tmp_path / "r")])
    assert str(tmp_path / "x") in line and "Permission denied" in line

    def bug(*a, **k):
        raise OSError("an internal failure without a file name")

    monkeypatch.setattr(report_cli, "write_report", bug)
    with pytest.raises(OSError, match="internal failure"):
        main(["report", str(tmp_path), "--out", str(tmp_path / "r")])


# ---------------------------------------------------------------- nothing half-written

def test_stale_checkpoint_temporaries_are_swept_on_resume_and_only_ours(tmp_path):
    out = tmp_path / "r"
    train({**TINY, "epochs": 1, "out": str(out)}, progress=False)
    ours = [out / ".checkpoint.pt.ab12_x9z.tmp", out / ".best.pt.00000000.tmp"]
    theirs = [out / ".checkpoint.pt.user-notes.tmp", out / "checkpoint.pt.ab12_x9z.tmp", out / ".other.abcdefgh.tmp"]
    for path in ours + theirs:
        path.write_bytes(b"left by a SIGKILL")
    train({**TINY, "epochs": 2, "out": str(out)}, resume=True, progress=False)
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)
    assert sweep_stale_tmp(tmp_path / "missing", ("checkpoint.pt",)) == []


def test_sigkill_during_checkpoint_write_then_resume(tmp_path):
    """A real SIGKILL while torch.save writes checkpoint.pt: the resume sweeps the temporary file."""
    out = tmp_path / "r"
    code = f"""
import json, os, signal, torch
real = torch.save
def dying(obj, f, *a, **k):
    real(obj, f, *a, **k)
    if str(f).endswith(".tmp") and ".checkpoint.pt." in str(f):
        os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying  # eigenrnn.io.atomic_torch_save calls torch.save on the temporary file
from eigenrnn.train import train
train({json.dumps({**TINY, "out": str(out)})}, progress=False)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert list(out.glob(".checkpoint.pt.*.tmp")) and not (out / "checkpoint.pt").exists()
    # no checkpoint yet: a fresh start in the same (own) directory, which sweeps the temporary
    train({**TINY, "epochs": 1, "out": str(out)}, progress=False)
    assert not list(out.glob(".*.tmp")) and (out / "summary.json").is_file()


# ---------------------------------------------------------------- resume trusts only its own files

def test_a_foreign_best_pt_is_refused(tmp_path, capsys):
    mine, other = tmp_path / "mine", tmp_path / "other"
    train({**TINY, "epochs": 1, "out": str(mine)}, progress=False)
    train({**TINY, "epochs": 1, "seed": 1, "out": str(other)}, progress=False)
    (mine / "summary.json").unlink()  # as if killed before the end
    original = (mine / "best.pt").read_bytes()
    (mine / "best.pt").write_bytes((other / "best.pt").read_bytes())  # same shape, another run
    with pytest.raises(CheckpointError, match="best.pt: belongs to another run"):
        train({**TINY, "epochs": 2, "out": str(mine)}, resume=True, progress=False)
    line = _one_line(capsys, ["train", "--config", str(mine / "config.json"), "--epochs", "2", "--resume", "--no-progress"])
    assert "belongs to another run" in line
    (mine / "best.pt").write_bytes(original)
    assert train({**TINY, "epochs": 2, "out": str(mine)}, resume=True, progress=False).status == "finished"


def test_a_best_pt_of_another_shape_is_one_line(tmp_path, capsys):
    mine, other = tmp_path / "mine", tmp_path / "other"
    train({**TINY, "epochs": 1, "out": str(mine)}, progress=False)
    train({**TINY, "epochs": 1, "hidden": 5, "out": str(other)}, progress=False)
    (mine / "summary.json").unlink()
    (mine / "best.pt").write_bytes((other / "best.pt").read_bytes())
    line = _one_line(capsys, ["train", "--config", str(mine / "config.json"), "--epochs", "2", "--resume", "--no-progress"])
    assert "best.pt" in line
    # a checkpoint of an older eigenrnn (no run id): the shapes are still compared
    payload = torch.load(mine / "checkpoint.pt", weights_only=True)
    payload.pop("run_id")
    torch.save(payload, mine / "checkpoint.pt")
    best = torch.load(mine / "best.pt", weights_only=True)
    best.pop("run_id")
    best["config"] = payload["config"]
    torch.save(best, mine / "best.pt")
    with pytest.raises(CheckpointError, match="shapes of this run's model"):
        train({**TINY, "epochs": 2, "out": str(mine)}, resume=True, progress=False)


# ---------------------------------------------------------------- divergence beyond NaN

def test_weights_blowing_up_is_divergence(tmp_path):
    class Blow:
        def on_step_end(self, trainer, step):
            if step == 8:  # epoch 2 of 7 batches
                with torch.no_grad():
                    next(trainer.model.parameters()).mul_(1e8)

    out = tmp_path / "r"
    with pytest.raises(TrainingDiverged, match="a weight reached magnitude .* over 1e\\+06 in epoch 2"):
        train({**TINY, "out": str(out)}, callbacks=[Blow()], progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["stop_reason"] == "diverged"
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1  # the last good epoch is kept


def test_loss_blowing_up_finitely_is_divergence(tmp_path, tamper_loss):
    from eigenrnn.train.trainer import DIVERGED_LOSS_RATIO

    def inflated(loss, stats):
        stats[0] *= 10 * DIVERGED_LOSS_RATIO
        return loss, stats

    tamper_loss(8, inflated)  # epoch 2 (of 7 batches): finite, but far above the initial loss
    out = tmp_path / "r"
    with pytest.raises(TrainingDiverged, match="the training loss became .* max\\(initial loss"):
        train({**TINY, "out": str(out)}, progress=False)
    assert json.loads((out / "summary.json").read_text())["status"] == "diverged"


# ---------------------------------------------------------------- a killed sweep leaves nothing running

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_sweep_lock_refuses_a_live_holder_and_takes_over_a_dead_one(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / OUTPUT_MARKER).write_text("bench\n")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / ".eigenrnn-lock").write_text(f"{holder.pid}\n")
        line = _one_line(capsys, ["bench", "--suite", "tomita", "--profile", "smoke", "--schemes", "eigen",
                                  "--cells", "gru", "--seeds", "1", "--workers", "1", "--out", str(out)])
        assert f"in use by process {holder.pid}" in line
        assert not (out / "bench.json").exists()
    finally:
        holder.kill()
        holder.wait()
    dead = _dead_pid()
    (out / ".eigenrnn-lock").write_text(f"{dead}\n")
    with directory_lock(out) as lock:
        assert lock.read_text().split()[0] == str(os.getpid())
    assert f"stale lock {out / '.eigenrnn-lock'} of process {dead}" in capsys.readouterr().err
    assert not (out / ".eigenrnn-lock").exists()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_lock_whose_pid_was_reused_is_stale(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with directory_lock(out) as lock:
            pid, token = lock.read_text().split()
            assert int(pid) == os.getpid() and token.endswith(":" + Path(f"/proc/{pid}/stat").read_text()
                                                                 .rsplit(")", 1)[1].split()[19])
        # A live process under the PID but another start: the PID was reused after its holder died.
        (out / ".eigenrnn-lock").write_text(f"{holder.pid} {token}0\n")
        with directory_lock(out):
            pass
        assert f"stale lock {out / '.eigenrnn-lock'} of process {holder.pid}" in capsys.readouterr().err
        # The holder's own token: the lock is live.
        own = Path(f"/proc/{holder.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        (out / ".eigenrnn-lock").write_text(f"{holder.pid} {token.split(':')[0]}:{own}\n")
        with pytest.raises(EigenRNNError, match=f"in use by process {holder.pid}"):
            with directory_lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_bench_leaves_no_worker_behind(tmp_path):
    out = tmp_path / "sweep"
    argv = [sys.executable, "-m", "eigenrnn.cli", "bench", "--suite", "tomita", "--profile", "smoke",
            "--schemes", "eigen,xavier", "--workers", "2", "--out", str(out)]
    workers: list[int] = []
    parent = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [p for p in _children(parent.pid)
                       if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
            time.sleep(0.2)
        assert len(workers) == 2, "the sweep did not start its workers"
        assert (out / ".eigenrnn-lock").read_text().split()[0] == str(parent.pid)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.1)
        assert not [p for p in workers if _alive(p)], "workers outlived the killed sweep"
    finally:
        for pid in [parent.pid, *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    # the stale lock of the killed sweep is taken over by the next session
    with directory_lock(out):
        pass


# ---------------------------------------------------------------- API edge cases

def test_api_edge_cases_raise_typed_errors():
    from eigenrnn.analysis import decompose, find_fixed_points, project
    from eigenrnn.init import init_rnn
    from eigenrnn.spectrum import Spectrum, fit_spectrum, spectral_matrix

    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="gain: got nan"):
        init_rnn(nn.GRU(2, 4), "xavier", gain=float("nan"))
    with pytest.raises(TypeError, match="eigenvalues: got 'NoneType'"):
        fit_spectrum(None)
    with pytest.raises(TypeError, match="decomposition: got 'str'"):
        project(torch.zeros(3, 2), "nope")
    with pytest.raises(ValueError, match="nonnormality: got 1e\\+300"):
        spectral_matrix(8, Spectrum(radius=(0.5, 0.9)), nonnormality=1e300, generator=g)
    w = spectral_matrix(8, Spectrum(radius=(0.5, 0.9)), nonnormality=2.0, generator=g, dtype=torch.float64)
    assert torch.isfinite(w).all()
    rnn = nn.RNN(1, 2)
    with torch.no_grad():
        rnn.weight_hh_l0[0, 0] = float("nan")
    with pytest.raises(ValueError, match="weight_hh .*NaN"):
        find_fixed_points(rnn, torch.zeros(1), 4, states=torch.rand(10, 2))
    with pytest.raises(ValueError, match="hidden_states: .*NaN"):
        project(torch.full((3, 2), float("nan")), decompose(0.5 * torch.eye(2)))


@pytest.mark.parametrize("make,kwargs", [
    (lambda: nn.GRU(2, 4, bias=False), {"scheme": "xavier", "bias": 0.5}),
    (lambda: nn.LSTM(2, 4, num_layers=2), {"scheme": "rescaled-glorot"}),  # refuses H=4 inside the loop
    (lambda: nn.GRU(2, 4), {"scheme": "eigen", "nonnormality": 1e300}),
    (lambda: nn.RNN(2, 4), {"scheme": "chain", "alpha": float("inf")}),
])
def test_init_rnn_leaves_the_module_unchanged_on_any_error(make, kwargs):
    from eigenrnn.init import init_rnn

    module = make()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises((ValueError, TypeError)):
        init_rnn(module, generator=torch.Generator().manual_seed(0), **kwargs)
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_init_rnn_restores_the_module_when_a_block_fails_midway(monkeypatch):
    import eigenrnn.init.modules as init_module

    original, calls = init_module.init_input, {"n": 0}

    def fails_on_the_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:  # the first gate block is already rewritten by now
            raise ValueError("refused midway")
        return original(*args, **kwargs)

    monkeypatch.setattr(init_module, "init_input", fails_on_the_second)
    module = nn.LSTM(3, 5, num_layers=2)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(ValueError, match="refused midway"):
        init_module.init_rnn(module, "orthogonal", generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())


def test_atomic_directory_sweeps_what_a_killed_process_left_and_nothing_else(tmp_path):
    from eigenrnn.io import atomic_directory

    dead, live = _dead_pid(), os.getppid()
    left = tmp_path / f".report.{dead}.abcd1234.tmp"       # a kill mid-build: swept
    running = tmp_path / f".report.{live}.abcd1234.tmp"    # another process still building: kept
    unrelated = [tmp_path / f".other.{dead}.abcd1234.tmp", tmp_path / ".report.abcd1234.tmp"]  # not ours to judge
    for folder in (left, running, *unrelated):
        folder.mkdir()
        (folder / "half.md").write_text("half")
    with atomic_directory(tmp_path / "report") as tmp:
        assert tmp.name.startswith(f".report.{os.getpid()}.")
        (tmp / "report.md").write_text("done")
    assert not left.exists() and running.is_dir() and all(p.is_dir() for p in unrelated)
    assert (tmp_path / "report" / "report.md").read_text() == "done"
