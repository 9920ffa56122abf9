"""ovis.estimators.tvo: partitions, Riemann weights, options, and the beta -> 0+ limit for zero weights."""
import math

import pytest
import torch

from ovis.estimators.tvo import ThermoVariationalObjective, partition_weights, tvo_partition
from ovis.models import build_model


def test_partition():
    torch.testing.assert_close(tvo_partition(1, -3.0), torch.tensor([0.0, 1.0], dtype=torch.float64))
    torch.testing.assert_close(tvo_partition(3, -2.0), torch.tensor([0.0, 0.01, 0.1, 1.0], dtype=torch.float64))
    assert tvo_partition(4, -10.0).dtype == torch.float64
    with pytest.raises(ValueError, match="num_partition=0"):
        tvo_partition(0, -1.0)


@pytest.mark.parametrize("rule,expected", [("left", [0.1, 0.9, 0.0]), ("right", [0.0, 0.1, 0.9]),
                                           ("trapz", [0.05, 0.5, 0.45])])
def test_riemann_weights(rule, expected):
    w = partition_weights(torch.tensor([0.0, 0.1, 1.0], dtype=torch.float64), rule)
    torch.testing.assert_close(w, torch.tensor(expected, dtype=torch.float64))
    assert math.isclose(float(w.sum()), 1.0)


def test_named_partitions_choose_beta_1_from_k():
    for K, beta_1 in [(5, 5e-2), (20, 2e-1), (50, 3e-1)]:
        est = ThermoVariationalObjective(iw=K, partition_name="config1")
        assert math.isclose(float(est.partition(est.config)[1]), beta_1, rel_tol=1e-12)


def test_options_are_validated():
    with pytest.raises(ValueError, match="not supported by TVO"):
        ThermoVariationalObjective(iw=2, alpha=0.5)
    with pytest.raises(ValueError, match="integration='middle' is invalid"):
        ThermoVariationalObjective(iw=2, integration="middle")
    with pytest.raises(ValueError, match="partition_name='config3' is invalid"):
        ThermoVariationalObjective(iw=2, partition_name="config3")


def test_tvo_lower_bound_is_below_the_iw_bound():
    """The left Riemann sum of a concave-in-beta integrand is a lower bound of log p(x), looser than L_K."""
    torch.manual_seed(0)
    model = build_model("sbn", (10,), layers=(4,)).double()
    x = torch.bernoulli(torch.full((6, 10), 0.4, dtype=torch.float64))
    with torch.no_grad():
        torch.manual_seed(1)
        tvo_loss, diag, _ = ThermoVariationalObjective(iw=50)(model, x)
    assert (-tvo_loss <= diag["loss"]["L_k"] + 1e-9).all()
