"""ovis.training.command: the `ovis run` / run.py command joins the flags and the loop."""
import argparse

import pytest

from ovis.cli import COMMANDS
from ovis.training import arguments, command


def test_the_run_command_is_this_module_with_the_flags_help():
    assert COMMANDS["run"][0] == "ovis.training.command"
    assert command.DESCRIPTION == arguments.__doc__
    assert command.add_arguments is arguments.add_arguments


def test_main_runs_the_loop_and_returns_its_exit_code(monkeypatch):
    seen = []
    monkeypatch.setattr(command, "run", lambda args: seen.append(args) or 7)
    args = argparse.Namespace(x=1)
    assert command.main(args) == 7 and seen == [args]


def test_help_starts_with_the_flags_description(capsys):
    from ovis.cli import main

    with pytest.raises(SystemExit):
        main(["run", "--help"], prog="run.py")
    out = capsys.readouterr().out
    assert arguments.__doc__.strip().splitlines()[0] in out
