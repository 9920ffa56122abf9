"""Every sweep file in experiments/ parses, and every job's flags are accepted by run.py."""
from pathlib import Path

import pytest

from ovis.estimators.config import parse_estimator_id
from ovis.sweep.spec import expand_jobs, load_spec
from ovis.training.arguments import build_parser

EXPERIMENTS = sorted((Path(__file__).resolve().parents[1] / "experiments").glob("*.json"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_sweep_jobs_are_valid_run_commands(path):
    spec = load_spec(str(path))
    jobs = expand_jobs(spec)
    assert jobs, f"{path.name} defines no job"
    parser = build_parser()
    for job in jobs:
        assert job.script == "run.py"
        args = parser.parse_args(list(job.args))  # unknown flags or bad values exit with an error
        parse_estimator_id(args.estimator)
