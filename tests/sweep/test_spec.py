import json
import os

import pytest

from ovis.sweep.spec import JobSpec, SweepSpecError, expand_jobs, load_spec, parse_spec, resolve_spec_path


def spec(**kw):
    data = {"description": "d", "args": ["--estimator reinforce", "--estimator vimco-arithmetic"]}
    data.update(kw)
    return data


@pytest.mark.parametrize("args,params,n", [
    (["--a 1"], {}, 1),
    (["--a 1", "--a 2"], {"seed": [1, 2, 3]}, 6),
    (["--a 1", "--a 2", "--a 3"], {"iw": [5, 20], "--seed": [1, 2]}, 12),
    ([""], {"x": ["u v"]}, 1),
])
def test_jobs_are_args_times_grid_with_global_last(args, params, n):
    s = parse_spec(spec(args=args, parameters=params, **{"global": "--nsteps 3 --silent"}))
    jobs = expand_jobs(s)
    assert len(jobs) == n == len({j.key for j in jobs})
    for job in jobs:
        assert job.script == "run.py"
        assert job.args[-3:] == ("--nsteps", "3", "--silent")
        for flag in params:
            flag = flag if flag.startswith("-") else "--" + flag
            i = job.args.index(flag)
            assert job.args[i + 1] in [str(v) for v in (params.get(flag) or params[flag.lstrip("-")])]


def test_values_are_single_arguments_and_order_follows_the_file():
    jobs = expand_jobs(parse_spec(spec(args=["--a 'x y'"], parameters={"lr": [0.001, 1e-5], "name": ["p q"]})))
    assert [j.args for j in jobs] == [("--a", "x y", "--lr", "0.001", "--name", "p q"),
                                      ("--a", "x y", "--lr", "1e-05", "--name", "p q")]


def test_duplicate_jobs_are_dropped():
    jobs = expand_jobs(parse_spec(spec(args=["--a 1", "--a  1"])))
    assert jobs == [JobSpec("run.py", ("--a", "1"))]


def test_mini_sweep_of_the_repo_parses():
    import os
    from .conftest import REPO
    jobs = expand_jobs(load_spec(os.path.join(REPO, "ovis", "experiments", "mini.json")))
    assert len(jobs) == 6
    assert all(j.script == "run.py" and "--dataset" in j.args and "digits" in j.args for j in jobs)


@pytest.mark.parametrize("data,words", [
    ([], ["expected a JSON object"]),
    ({"args": ["--a"]}, ["missing key 'description'"]),
    ({"description": "d"}, ["missing key 'args'", "non-empty list"]),
    (spec(args=[]), ["'args'", "non-empty list"]),
    (spec(args="--a 1"), ["'args'", "non-empty list"]),
    (spec(args=["--a 'open"]), ["'args[0]'", "No closing quotation"]),
    (spec(args=[3]), ["'args[0]'", "argument string"]),
    (spec(**{"global": ["--a"]}), ["'global'", "argument string"]),
    (spec(parameters=[1, 2]), ["'parameters'", "object mapping"]),
    (spec(parameters={"seed": 1}), ["'parameters.seed'", "non-empty list"]),
    (spec(parameters={"seed": []}), ["'parameters.seed'", "non-empty list"]),
    (spec(parameters={"seed": [True]}), ["'parameters.seed'", "strings or numbers"]),
    (spec(parameters={"seed": [{"a": 1}]}), ["'parameters.seed'", "strings or numbers"]),
    (spec(parameters={"seed": [1], "--seed": [2]}), ["--seed twice"]),
    (spec(parameters={"estimator": ["a"]}), ["--estimator also appears in 'args[0]'"]),
    (spec(parameters={"x": [1]}, **{"global": "--x=2"}), ["--x also appears in 'global'"]),
    (spec(**{"global": "--id 3"}), ["'global' sets ['--id']", "pass_run_flags"]),
    (spec(parameters={"root": ["a"]}), ["'parameters' sets ['--root']"]),
    (spec(script="run.sh"), ["'script'", ".py"]),
    (spec(pass_run_flags="yes"), ["'pass_run_flags'", "true or false"]),
    (spec(descripton="typo"), ["unknown key(s) ['descripton']", "valid keys"]),
])
def test_malformed_specs_name_the_file_the_key_and_the_expectation(data, words):
    with pytest.raises(SweepSpecError) as err:
        parse_spec(data, source="experiments/bad.json")
    message = str(err.value)
    assert message.startswith("experiments/bad.json: ")
    for word in words:
        assert word in message


def test_run_flags_are_allowed_when_not_passed():
    s = parse_spec(spec(pass_run_flags=False, **{"global": "--root x"}))
    assert not s.pass_run_flags and expand_jobs(s)[0].args[-2:] == ("--root", "x")


def test_file_errors(tmp_path):
    (tmp_path / "ok.json").write_text(json.dumps(spec()))
    (tmp_path / "bad.json").write_text("{\"description\": ")
    with pytest.raises(SweepSpecError, match=r"bad.json: not valid JSON"):
        load_spec(str(tmp_path / "bad.json"))
    with pytest.raises(SweepSpecError, match=r"nope.json: sweep file not found ") as err:
        load_spec(str(tmp_path / "nope.json"))
    assert all(f"'{name}'" in str(err.value) for name in ("bad", "ok", "mini"))  # local and shipped
    assert load_spec(str(tmp_path / "ok.json")).source.endswith("ok.json")


def test_resolve_spec_path(tmp_path):
    from ovis.experiments import PACKAGE_DIR
    local = tmp_path / "exps"
    assert resolve_spec_path("mini", str(local)) == os.path.join(PACKAGE_DIR, "mini.json")  # shipped
    local.mkdir()
    (local / "mini.json").write_text("{}")
    assert resolve_spec_path("mini", str(local)) == str(local / "mini.json")  # the local one wins
    assert resolve_spec_path("nope", str(local)) == str(local / "nope.json")  # not found: load_spec says so
    assert resolve_spec_path("some/where.json") == "some/where.json"
