from __future__ import annotations

import pytest

from eigenrnn.cli import main


def test_init_show_writes_png_and_prints_every_block(tmp_path, capsys):
    out = tmp_path / "eigen.png"
    assert main(["init-show", "--scheme", "eigen", "--size", "16", "--cell", "lstm", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    for gate in "ifgo":
        assert f"l0.fwd.{gate}" in printed


def test_init_show_irnn_radius_is_one(tmp_path, capsys):
    assert main(["init-show", "--scheme", "irnn", "--size", "8", "--cell", "rnn", "--out", str(tmp_path / "i.png")]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("l0.fwd.h"))
    assert float(line.split()[-1]) == 1.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--size", "0", "--out", "x.png"], "--size: got 0"),
        (["--size", "8", "--out", "x.pdf"], "--out: got"),
        (["--size", "100", "--scheme", "rescaled-glorot", "--out", "x.png"], "n: got 100"),
    ],
)
def test_init_show_bad_input_is_one_line(tmp_path, capsys, argv, message):
    argv = [a if not a.startswith("x.") else str(tmp_path / a) for a in argv]
    if "--scheme" not in argv:
        argv = ["--scheme", "eigen", *argv]
    assert main(["init-show", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_unknown_scheme_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["init-show", "--scheme", "glorot", "--out", "x.png"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
