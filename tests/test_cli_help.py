"""Every command-line option says what its default is."""

from __future__ import annotations

import argparse

import pytest

from eigenrnn.cli import build_parser, main


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def test_every_option_of_every_command_states_its_default():
    missing, checked = [], 0
    for name, parser in _commands().items():
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            if not action.option_strings or action.nargs == 0:
                continue  # a positional or an on/off flag: a default makes no sense
            checked += 1
            text = parser._get_formatter()._expand_help(action)
            if not action.help or ("default" not in text.lower() and not action.required):
                missing.append(f"{name} {'/'.join(action.option_strings)}: {action.help!r}")
            assert "default: None" not in text, (name, action.option_strings, text)
            if action.default not in (None, argparse.SUPPRESS) and "(default: " in text and "default" not in (action.help or ""):
                assert f"(default: {action.default})" in text  # appended by the shared formatter
    assert checked > 50
    assert not missing, "options whose help does not state the default:\n" + "\n".join(missing)


def test_help_shows_appended_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        main(["translate", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 64)" in text and "--input FILE|-" in text and "default: the run's beam size" in text
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    assert "default 8" in capsys.readouterr().out  # analyze keeps its hand-laid description formatter
