"""The README and docs pages work as written: their commands parse, write under runs/, need no foreign paths."""

from __future__ import annotations

import inspect
import re
import shlex
from pathlib import Path

import pytest
import torch

from eigenrnn import init
from eigenrnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands(page: Path) -> list[str]:
    """Every `eigenrnn ...` command in the page's code blocks (continuation lines joined)."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split("  #")[0].strip()
        for part in line.split("&&"):
            words = part.split(">")[0].strip()
            for prefix in (".venv/bin/", "OMP_NUM_THREADS=1 "):
                words = words.removeprefix(prefix)
            if words.startswith("eigenrnn ") and "..." not in words:
                out.append(words)
    return out


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_on_the_page_parses_and_writes_under_runs(page):
    parser = build_parser()
    for command in _commands(page):
        argv = shlex.split(command)[1:]
        if "--help" in argv or "--version" in argv:
            continue
        args = parser.parse_args(argv)  # exits (fails the test) on an unknown option or value
        out = getattr(args, "out", None)
        if out is not None and args.command not in ("init-show", "init_show"):
            # Only the results page may rebuild the published outputs.
            assert str(out).startswith(("runs/", "results/")) or page.name == "RESULTS.md", (page.name, command)
            assert not str(out).startswith("docs/") or page.name == "RESULTS.md", (page.name, command)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_page_points_at_a_machine_specific_directory(page):
    assert "/work/" not in page.read_text(encoding="utf-8")


def test_readme_shows_the_venv_and_creates_every_run_it_uses():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "source .venv/bin/activate" in readme and ".venv/bin/eigenrnn" in readme
    commands = _commands(ROOT / "README.md")
    created = {shlex.split(c)[shlex.split(c).index("--out") + 1] for c in commands if " train " in f" {c} "}
    for command in commands:
        words = shlex.split(command)
        if words[1] in ("translate", "analyze"):
            run = words[2].split("/checkpoint.pt")[0].split("/best.pt")[0]
            assert run in created, command


def test_readme_initializer_sentence_matches_the_signatures():
    random_ones = (init.eigen_, init.sp_, init.rescaled_glorot_)
    deterministic = (init.irnn_, init.chain_)
    for fn in random_ones:
        assert "generator" in inspect.signature(fn).parameters, fn.__name__
    for fn in deterministic:
        assert "generator" not in inspect.signature(fn).parameters, fn.__name__
        a, b = fn(torch.empty(5, 5)), fn(torch.empty(5, 5))
        assert torch.equal(a, b)
    # torch.nn.init's deterministic initializers take no generator either.
    assert "generator" not in inspect.signature(torch.nn.init.eye_).parameters
    assert "generator" in inspect.signature(torch.nn.init.orthogonal_).parameters
