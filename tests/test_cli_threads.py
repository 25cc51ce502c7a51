"""--threads on every computing command, and a parser that imports no torch."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
import torch

from eigenrnn.cli import build_parser, main
from eigenrnn.threads import DEFAULT_THREADS, set_threads

COMPUTING = (["train"], ["analyze", "ckpt", "--out", "o"], ["translate", "ckpt", "x"], ["demo"],
             ["init-show", "--init", "eigen", "--out", "x.png"], ["study", "spectra", "--out", "o"],
             ["bench", "--suite", "tomita", "--profile", "smoke", "--out", "o"])


def _run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_building_the_parser_and_importing_the_package_load_no_torch():
    # sys.modules is the ground truth of what was imported; a fresh interpreter starts without torch.
    code = (
        "import sys, eigenrnn, eigenrnn.cli, eigenrnn.train.config, eigenrnn.bench.profiles\n"
        "eigenrnn.cli.build_parser()\n"
        "print(sorted(m for m in ('torch', 'matplotlib', 'scipy', 'tokenizers') if m in sys.modules))"
    )
    assert _run_python(code) == "[]"


def test_lazy_public_names_still_work():
    out = _run_python(
        "import eigenrnn, eigenrnn.init, eigenrnn.train, eigenrnn.train.trainer\n"
        "print(eigenrnn.init_rnn is eigenrnn.init.init_rnn, eigenrnn.train.train is eigenrnn.train.trainer.train,\n"
        "      'init_rnn' in dir(eigenrnn))"
    )
    assert out == "True True True"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        import eigenrnn

        eigenrnn.nope  # noqa: B018


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[name]


@pytest.mark.parametrize("argv", COMPUTING, ids=lambda argv: argv[0])
def test_every_computing_command_takes_threads_with_a_documented_default(argv):
    parser = build_parser()
    assert parser.parse_args(argv).threads == DEFAULT_THREADS
    assert parser.parse_args([*argv, "--threads", "3"]).threads == 3
    sub = _subparser(parser, argv[0])
    if argv[0] == "study":
        sub = _subparser(sub, "spectra")
    option = next(a for a in sub._actions if "--threads" in a.option_strings)
    assert f"default {DEFAULT_THREADS}" in option.help


@pytest.mark.parametrize("bad", ["0", "-2", "1.5", "many"])
def test_bad_threads_is_one_line_naming_the_flag(capsys, bad):
    with pytest.raises(SystemExit) as info:
        main(["train", "--task", "tomita1", "--threads", bad])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"argument --threads: got {bad!r}; expected an int from 1 to " in err, err


def test_set_threads_sets_torch_and_refuses_bad_counts():
    before = torch.get_num_threads()
    try:
        assert set_threads(2) == 2 and torch.get_num_threads() == 2
        assert set_threads(1) == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    for bad in (0, True, 1.0):
        with pytest.raises(ValueError, match="threads: got"):
            set_threads(bad)


def test_train_applies_threads(tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        argv = ["train", "--task", "tomita4", "--hidden", "4", "--epochs", "1", "--train-size", "40", "--val-size", "20",
                "--test-size", "20", "--option", "per_length=6", "--no-progress", "--out", str(tmp_path / "r")]
        assert main([*argv, "--threads", "2"]) == 0
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_lazy_choices_list_and_check_the_live_names(capsys):
    from eigenrnn.init import schemes

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "initialization scheme: " + ", ".join(schemes()) in help_text
    args = build_parser().parse_args(["train", "--init", schemes()[-1]])
    assert args.init == schemes()[-1]


def thread_count_train(config, *, resume=False, progress=True):
    """Stands in for eigenrnn.train.train in a bench worker: records the worker's torch thread count."""
    import json
    from pathlib import Path

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config.resolve().to_dict()))
    (out / "summary.json").write_text(json.dumps({"status": "finished", "threads": torch.get_num_threads()}))


def test_bench_workers_run_with_the_requested_threads(tmp_path):
    import json

    from eigenrnn.bench import profiles
    from eigenrnn.bench.backends import LocalBackend

    specs = profiles.grid("regression", "smoke", inits=["eigen"], cells=["gru"], seeds=1)
    result = LocalBackend(workers=1, threads=2).run_grid(specs, tmp_path, progress=False, train_fn=thread_count_train)
    assert result.counts["finished"] == len(specs)
    assert {json.loads((tmp_path / s.path / "summary.json").read_text())["threads"] for s in specs} == {2}


def test_ray_backend_refuses_threads_other_than_one():
    from eigenrnn.bench import backends

    args = build_parser().parse_args(["bench", "--suite", "tomita", "--profile", "smoke", "--out", "o",
                                      "--backend", "ray", "--threads", "2"])
    with pytest.raises(ValueError, match=r"--threads: got 2; expected 1 with --backend ray"):
        backends.from_args(args)
