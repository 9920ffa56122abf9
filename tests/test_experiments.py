"""Every sweep file shipped in ovis/experiments/ parses, every job's flags are accepted by run.py;
the sweeps are found from any folder, a local experiments/ first; ``ovis sweeps`` lists them."""
from pathlib import Path

import pytest

from ovis.estimators.config import parse_estimator_id
from ovis.sweep.spec import expand_jobs, load_spec
from ovis.training.arguments import build_parser

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "ovis" / "experiments").glob("*.json"))


def _study_parser():
    import argparse

    from ovis.analysis.asymptotic_cli import add_arguments
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_sweep_jobs_are_valid_run_commands(path):
    """Every job parses with its script's flags; every run.py job's estimator can be built at its K
    (e.g. ovis-S{y} leaves particles for the bound); --test_only_split only with IDX data sets."""
    spec = load_spec(str(path))
    jobs = expand_jobs(spec)
    assert jobs, f"{path.name} defines no job"
    assert len({job.key for job in jobs}) == len(jobs), f"{path.name} repeats a job"
    parser = build_parser()
    for job in jobs:
        if job.script == "asymptotic_variance.py":
            assert not spec.pass_run_flags  # the study takes no --exp/--root/--id
            args = _study_parser().parse_args(list(job.args))
            for estimator in args.estimators.split(","):
                parse_estimator_id(estimator)
            continue
        assert job.script == "run.py"
        args = parser.parse_args(list(job.args))  # unknown flags or bad values exit with an error
        Estimator, config = parse_estimator_id(args.estimator)
        Estimator(mc=args.mc, iw=args.iw, **config)  # raises on a configuration impossible at this K
        if args.test_only_split:
            assert args.dataset in ("mnist", "fashion"), job.args


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_asymptotic_sweep_jobs_write_to_separate_folders(path):
    spec = load_spec(str(path))
    outs = [job.args[job.args.index("--out") + 1] for job in expand_jobs(spec) if job.script == "asymptotic_variance.py"]
    assert len(set(outs)) == len(outs)


PAPER_SWEEPS = ("asymptotic-variance", "gaussian-mixture-model", "sigmoid-belief-network", "gaussian-vae",
                "budget-analysis", "budget-analysis-sbn")


def test_the_sweeps_are_shipped():
    names = {p.stem for p in EXPERIMENTS}
    assert names >= {"mini", "gaussian-toy", *PAPER_SWEEPS, *(f"{n}-mini" for n in PAPER_SWEEPS)}


def test_package_data_lists_the_sweeps_and_py_typed():
    """What `pip install .` installs besides the modules: pyproject's package-data must cover
    every sweep file and py.typed (the slow end-to-end check is test_installed_package_from_an_empty_folder)."""
    import fnmatch
    import tomllib

    root = Path(__file__).resolve().parents[1]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ovis"]
    shipped = [str(p.relative_to(root / "ovis")) for p in EXPERIMENTS] + ["py.typed"]
    assert (root / "ovis" / "py.typed").is_file()
    assert [f for f in shipped if not any(fnmatch.fnmatch(f, pat) for pat in patterns)] == []


def test_a_local_sweep_shadows_the_shipped_one(tmp_path, monkeypatch):
    from ovis.experiments import PACKAGE_DIR, describe_sweeps, find_sweep, list_sweeps

    monkeypatch.chdir(tmp_path)
    assert find_sweep("mini") == str(Path(PACKAGE_DIR) / "mini.json")
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "mini.json").write_text('{"description": "my own mini", "args": ["--nsteps 1"]}')
    (tmp_path / "experiments" / "mine.json").write_text('{"description": "only here", "args": ["--nsteps 1"]}')
    assert find_sweep("mini") == str(Path("experiments") / "mini.json")
    assert list_sweeps()["mine"] == str(Path("experiments") / "mine.json")
    lines = describe_sweeps()
    assert any(line.startswith("mini ") and "[local]  my own mini" in line for line in lines)
    assert any(line.startswith("gaussian-toy ") and "[shipped]" in line for line in lines)


def _ovis(args, cwd, timeout=120):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "ovis.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_ovis_sweeps_and_version_from_an_empty_folder(tmp_path):
    import ovis

    out = _ovis(["sweeps"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mini " in out.stdout and "CPU mini sweep" in out.stdout
    out = _ovis(["--version"], tmp_path)
    assert (out.returncode, out.stdout.strip()) == (0, f"ovis {ovis.__version__}")


def test_manager_from_an_empty_folder_finds_the_shipped_sweep_and_an_unknown_one_lists_them(tmp_path):
    out = _ovis(["manager", "--exp", "no-such-sweep"], tmp_path)
    assert out.returncode == 2
    assert "sweep file not found" in out.stderr and "'mini'" in out.stderr and "ovis sweeps" in out.stderr
    assert not (tmp_path / "runs" / "no-such-sweep").exists()


@pytest.mark.skipif(not __import__("os").environ.get("OVIS_TEST_INSTALL"),
                    reason="slow (a fresh venv, pip install ., a 6-run sweep): set OVIS_TEST_INSTALL=1")
def test_installed_package_from_an_empty_folder(tmp_path):
    """`pip install .` (not editable) into a fresh venv; `ovis sweeps`, `ovis --version` and
    `ovis manager --exp mini --processes 2` work from an empty folder."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    torch_pin = os.environ.get("OVIS_TEST_TORCH", "torch==2.13.0")
    subprocess.run(pip + [torch_pin, str(root)], check=True, timeout=1200, cwd=str(tmp_path))
    empty = tmp_path / "empty"
    empty.mkdir()
    ovis = str(venv / "bin" / "ovis")
    run = lambda *args: subprocess.run([ovis, *args], cwd=str(empty), capture_output=True, text=True, timeout=3600)
    out = run("sweeps")
    assert out.returncode == 0 and "CPU mini sweep" in out.stdout, out.stderr
    assert run("--version").stdout.startswith("ovis ")
    out = run("manager", "--exp", "mini", "--processes", "2")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "6 jobs | 6 success" in out.stdout, out.stdout
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import ovis, os; print(os.path.dirname(ovis.__file__))"],
                          cwd=str(empty), capture_output=True, text=True, check=True).stdout.strip()
    assert site.startswith(str(venv)) and os.path.isfile(os.path.join(site, "py.typed"))
