"""Fixtures of the reporting tests: a synthetic experiment on disk (see :mod:`.synthetic`)."""
from pathlib import Path

import pytest

from .synthetic import build_experiment


@pytest.fixture(scope="session")
def experiment_dir(tmp_path_factory) -> Path:
    """2 data sets x 2 estimators x 2 K x 3 seeds, all finished, with known values."""
    return build_experiment(tmp_path_factory.mktemp("runs") / "synthetic")


@pytest.fixture(scope="session")
def experiment(experiment_dir):
    from ovis.reporting.runs import read_experiment

    return read_experiment(experiment_dir)
