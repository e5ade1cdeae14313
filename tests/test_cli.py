"""The `fastpix` command line: every command and sub-action answers --help, and bad flags or
unknown commands exit with status 2 and a message that names them."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from fastpix.cli import COMMANDS, build_parser, main


def _command_paths(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Every (sub)command path of ``parser``, e.g. ("data", "synth")."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*prefix, name)
                yield from _command_paths(child, (*prefix, name))


PATHS = sorted(_command_paths(build_parser()))


def test_every_registered_module_adds_a_command():
    top = {path[0] for path in PATHS}
    assert len(top) >= len(COMMANDS)
    for expected in ("data", "models", "io", "bench", "train", "export", "predict", "pipeline"):
        assert expected in top


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p))
def test_help_everywhere(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*path, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: fastpix {' '.join(path)}")


def test_unknown_command_and_bad_flag_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-command"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'no-such-command'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["data", "synth", "--out", "x", "--no-such-flag"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_console_entry_point_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "fastpix", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stdout.startswith("fastpix ")
