"""Bad values of the newer options (--tensorboard, --threads, --address, ad-hoc variants, horizon):
one line naming the argument and the value, exit 2, and nothing written."""

from __future__ import annotations

import math
import socket

import pytest
import torch

from eigenrnn.bench import variants
from eigenrnn.bench.backends import RayBackend
from eigenrnn.cli import main
from eigenrnn.errors import EigenRNNError
from eigenrnn.init import init_rnn
from eigenrnn.spectrum import Spectrum
from eigenrnn.threads import max_threads, set_threads

TRAIN = ["train", "--task", "tomita4", "--hidden", "4", "--epochs", "1", "--train-size", "32",
         "--val-size", "16", "--test-size", "16", "--no-progress"]
BENCH = ["bench", "--suite", "tomita", "--profile", "smoke", "--inits", "xavier", "--cells", "gru", "--seeds", "1"]


def _refused(capsys, argv) -> str:
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own refusals
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    return err.strip().splitlines()[-1]  # argparse prints its usage above the one line


@pytest.mark.parametrize("command", ["train", "bench"])
@pytest.mark.parametrize("where", ["file", "under-file", "empty"])
def test_bad_tensorboard_dir_is_refused_before_the_run_directory_exists(tmp_path, capsys, monkeypatch, command, where):
    pytest.importorskip("tensorboard")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x\n")
    logdir = {"file": "afile", "under-file": "afile/x", "empty": ""}[where]
    argv = [*(TRAIN if command == "train" else BENCH), "--tensorboard", logdir, "--out", "o"]
    err = _refused(capsys, argv)
    assert f"--tensorboard: got {logdir!r}" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no run directory, no stray event file
    assert (tmp_path / "afile").read_text() == "x\n"


def test_thread_counts_that_would_crash_openmp_are_refused(capsys):
    # 100000 threads segfaulted inside torch.set_num_threads before this check.
    err = _refused(capsys, [*TRAIN, "--threads", "100000"])
    assert f"--threads: got '100000'; expected an int from 1 to {max_threads()}" in err
    with pytest.raises(ValueError, match="threads: got 100000"):
        set_threads(100000)
    assert set_threads(1) == 1 and torch.get_num_threads() == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed once the socket is: nothing listens there


@pytest.mark.parametrize("address", [":::", "host", "host:0", "host:99999", "host:abc", ""])
def test_malformed_ray_address_is_refused(address):
    with pytest.raises(EigenRNNError, match="--address: got"):
        RayBackend(address)


def test_unreachable_ray_address_is_refused_at_once_not_after_minutes_of_retries():
    address = f"127.0.0.1:{_closed_port()}"
    with pytest.raises(EigenRNNError, match=rf"--address: got '{address}'; expected a running Ray cluster"):
        RayBackend(address)


def test_dry_run_refuses_backend_options_it_would_ignore(tmp_path, capsys):
    err = _refused(capsys, [*BENCH, "--dry-run", "--address", "auto", "--out", str(tmp_path / "b")])
    assert "--address: got 'auto'" in err and not (tmp_path / "b").exists()


@pytest.mark.parametrize("name", ["xavier{calibrate=foo}", "orthogonal{calibrate=jacobian_radius=nan}",
                                  "eigen{calibrate=gradient_decay=-1}"])
def test_adhoc_variant_with_a_bad_calibration_is_refused_up_front(tmp_path, capsys, name):
    with pytest.raises(ValueError, match=r"variant: got .*expected a valid calibrate \(calibrate: got"):
        variants.parse(name)
    err = _refused(capsys, ["bench", "--suite", "tomita", "--profile", "smoke", "--dry-run",
                            "--inits", name, "--out", str(tmp_path / "b")])
    assert "calibrate" in err and not (tmp_path / "b").exists()
    assert variants.parse("orthogonal{calibrate=gradient_decay=0.5}").calibrate == "gradient_decay=0.5"


def test_horizon_beyond_float64_time_constants_names_horizon():
    gru = torch.nn.GRU(1, 8)
    before = [p.clone() for p in gru.parameters()]
    with pytest.raises(ValueError, match=r"horizon: got 10{30}; expected .* from 2 to 10\*\*15"):
        init_rnn(gru, "eigen", horizon=10**30)
    assert all(torch.equal(a, b) for a, b in zip(before, gru.parameters()))  # validated before any change
    init_rnn(gru, "eigen", horizon=10**15, generator=torch.Generator().manual_seed(0))
    radius = max(torch.linalg.eigvals(b).abs().max().item() for b in gru.weight_hh_l0.detach().chunk(3))
    assert math.isfinite(radius) and radius <= 1.0 + 1e-5  # float32 weights: time constants this long sit at |λ| ≈ 1


def test_timescales_refuses_a_tau_whose_modulus_rounds_to_one():
    with pytest.raises(ValueError, match=r"tau: got \(1, 1e\+30\); expected tau_max small enough"):
        Spectrum.timescales((1, 1e30))
    s = Spectrum.timescales((1, 1e6))
    assert s.radius[1] < 1.0 and math.isclose(s.tau[1], 1e6, rel_tol=1e-6)


def test_analyze_with_another_tasks_inputs_names_the_task(tmp_path, capsys):
    from eigenrnn.train import TrainConfig, train

    run = tmp_path / "run"
    train(TrainConfig(task="tomita4", hidden=4, epochs=1, batch_size=32, train_size=64, val_size=16, test_size=16,
                      task_options={"per_length": 8}, out=str(run)), progress=False)
    err = _refused(capsys, ["analyze", str(run / "best.pt"), "--task", "adding", "--out", str(tmp_path / "an")])
    assert err.startswith("eigenrnn: error: --task: got 'adding'; expected a task whose inputs fit this model, e.g. its own 'tomita4'")
    assert not (tmp_path / "an").exists()
