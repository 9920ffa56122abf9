"""Renyi alpha warm-up and learning-rate milestones."""

import numpy as np
import pytest

from ovis.training.schedules import alpha_schedule, lr_milestones


@pytest.mark.parametrize("mode", ["linear", "log"])
@pytest.mark.parametrize("alpha_init,alpha_final", [(0.9, 0.0), (0.99, 0.0), (0.5, 0.2), (-0.5, 0.0)])
def test_warmup_endpoints_and_monotone(mode, alpha_init, alpha_final):
    values = [alpha_schedule(s, alpha_init, alpha_final, warmup=100, mode=mode, offset=10) for s in range(0, 130)]
    assert values[0] == pytest.approx(alpha_init) and values[10] == pytest.approx(alpha_init)
    assert values[110] == pytest.approx(alpha_final) and values[-1] == pytest.approx(alpha_final)
    diffs = np.diff(values) * np.sign(alpha_final - alpha_init)
    assert (diffs >= -1e-12).all()


def test_linear_midpoint_and_log_geometry():
    assert alpha_schedule(50, 0.9, warmup=100, mode="linear") == pytest.approx(0.45)
    # log mode: 1 - alpha is geometric, sqrt((1 - 0.99) * (1 - 0)) = 0.1 at mid-warm-up
    assert 1 - alpha_schedule(50, 0.99, warmup=100, mode="log") == pytest.approx(0.1)
    assert alpha_schedule(0, 0.9, alpha_final=0.3, warmup=0) == 0.3


def test_invalid_alpha_and_mode():
    with pytest.raises(ValueError, match="alpha_init"):
        alpha_schedule(0, 1.0, warmup=10)
    with pytest.raises(ValueError, match="mode"):
        alpha_schedule(0, 0.5, warmup=10, mode="cubic")


@pytest.mark.parametrize("nsteps,n,expected", [(100, 0, []), (100, 1, [50]), (100, 3, [25, 50, 75]), (0, 2, [])])
def test_lr_milestones(nsteps, n, expected):
    assert lr_milestones(nsteps, n) == expected
