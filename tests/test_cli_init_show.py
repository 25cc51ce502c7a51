from __future__ import annotations

import pytest

from eigenrnn.cli import main


def test_init_show_writes_png_and_prints_every_block(tmp_path, capsys):
    out = tmp_path / "eigen.png"
    assert main(["init-show", "--init", "eigen", "--size", "16", "--cell", "lstm", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    for gate in "ifgo":
        assert f"l0.fwd.{gate}" in printed


def test_init_show_irnn_radius_is_one(tmp_path, capsys):
    assert main(["init-show", "--init", "irnn", "--size", "8", "--cell", "rnn", "--out", str(tmp_path / "i.png")]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("l0.fwd.h"))
    assert float(line.split()[-1]) == 1.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--size", "0", "--out", "x.png"], "--size: got 0"),
        (["--size", "8", "--out", "x.pdf"], "--out: got"),
        (["--size", "100", "--init", "rescaled-glorot", "--out", "x.png"], "n: got 100"),
    ],
)
def test_init_show_bad_input_is_one_line(tmp_path, capsys, argv, message):
    argv = [a if not a.startswith("x.") else str(tmp_path / a) for a in argv]
    if "--init" not in argv:
        argv = ["--init", "eigen", *argv]
    assert main(["init-show", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_unknown_scheme_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["init-show", "--init", "glorot", "--out", "x.png"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_older_spelling_scheme_is_the_same_option(tmp_path):
    from eigenrnn.cli import build_parser

    parser = build_parser()
    new = parser.parse_args(["init-show", "--init", "irnn", "--out", str(tmp_path / "a.png")])
    old = parser.parse_args(["init-show", "--scheme", "irnn", "--out", str(tmp_path / "a.png")])
    assert vars(new) == vars(old) and new.init == "irnn" and not hasattr(new, "scheme")


def test_init_show_never_replaces_a_picture_unasked(tmp_path, capsys):
    out = tmp_path / "mine.png"
    out.write_bytes(b"a picture the user made")
    argv = ["init-show", "--init", "eigen", "--size", "8", "--cell", "rnn", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"--out: got {str(out)!r}" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert out.read_bytes() == b"a picture the user made"
    assert main([*argv, "--force"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
