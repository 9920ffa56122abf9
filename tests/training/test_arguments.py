"""Flags of run.py: defaults, documentation, errors, run ids."""

import pytest

from ovis.training.arguments import (DEFAULTS, NON_IDENTITY_FLAGS, build_parser, config_from_args,
                                     identity_differences, parse_args, run_id)
from ovis.training.factory import resolve_names

SWEEP_FLAGS = ("estimator iw mc dataset model prior N nlayers depth hdim lr optimizer bs valid_bs test_bs nsteps "
               "lr_reduce_steps seed deterministic alpha_init warmup warmup_mode beta freebits eval_freq max_eval "
               "iw_valid iw_test grad_samples grad_bs grad_key grad_epsilon mc_au_analysis npoints_au_analysis "
               "workers root data_root exp id silent").split()


def test_defaults():
    assert DEFAULTS["dataset"] == "digits" and DEFAULTS["estimator"] == "ovis-gamma1"
    assert DEFAULTS["iw"] == 16 and DEFAULTS["root"] == "runs" and DEFAULTS["data_root"] == "data"
    assert resolve_names(DEFAULTS)[:2] == ("digits", "sbn")


@pytest.mark.parametrize("flag", SWEEP_FLAGS)
def test_every_sweep_flag_exists_and_is_documented(flag):
    actions = {a.dest: a for a in build_parser()._actions}
    assert flag in actions
    assert actions[flag].help and len(actions[flag].help) > 10


def test_unknown_flag_is_an_error(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--estimatr", "ovis-gamma1"])
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("text,value", [("1000000", 1000000), ("1e6", 1000000), ("200.0", 200)])
def test_integers_written_as_floats(text, value):
    assert parse_args(["--nsteps", text]).nsteps == value


def test_non_integral_and_negative_values_are_errors():
    for argv in (["--nsteps", "1.5"], ["--iw", "0"], ["--warmup", "-1"], ["--warmup_mode", "cubic"]):
        with pytest.raises(SystemExit):
            parse_args(argv)


def test_run_id_is_readable_deterministic_and_flag_dependent():
    a = config_from_args(parse_args(["--iw", "5", "--seed", "3"]))
    assert run_id(a) == run_id(dict(a))
    assert run_id(a).startswith("digits-auto-ovis-gamma1-K5-seed3-")
    b = config_from_args(parse_args(["--iw", "5", "--seed", "3", "--lr", "0.01"]))
    assert run_id(a) != run_id(b)
    c = config_from_args(parse_args(["--iw", "5", "--seed", "3", "--silent", "--workers", "2", "--root", "x"]))
    assert run_id(a) == run_id(c)  # where/how a run executes is not part of its identity
    assert run_id(config_from_args(parse_args(["--id", "my-run"]))) == "my-run"
    with pytest.raises(ValueError):
        run_id(config_from_args(parse_args(["--id", "../escape"])))


def test_identity_differences_ignore_execution_flags():
    a = config_from_args(parse_args([]))
    b = config_from_args(parse_args(["--silent", "--root", "elsewhere", "--lr", "0.5"]))
    assert identity_differences(a, b) == ["--lr: 0.001 -> 0.5"]
    assert set(NON_IDENTITY_FLAGS) >= {"silent", "root", "exp", "id", "workers"}


def test_help_lists_every_flag(capsys):
    from ovis.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"], prog="run.py")
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: run.py")
    for flag in SWEEP_FLAGS:
        assert f"--{flag}" in out
