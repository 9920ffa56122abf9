"""ovis.estimators.ovis: particle budgets, option validation, and the gamma = 0 / K = 1 limits."""
import pytest
import torch

from ovis.estimators.ovis import OvisAsymptotic, OvisMonteCarlo
from ovis.estimators.reinforce import Reinforce
from ovis.models import build_model

from .same_draws import assert_same, gradients

X = torch.bernoulli(torch.full((4, 10), 0.4, dtype=torch.float64))


@pytest.mark.parametrize("y,exclusive,K,expected", [(1, True, 8, (8, 8)), (10, True, 3, (3, 30)),
                                                    (0.5, False, 8, (4, 4)), (0.25, False, 4, (3, 1)),
                                                    (0.01, True, 5, (5, 1))])
def test_particle_budget(y, exclusive, K, expected):
    est = OvisMonteCarlo(iw=K, auxiliary=y, exclusive=exclusive)
    assert est.particles(est.config) == expected


def test_nonexclusive_needs_particles_left_for_the_bound():
    with pytest.raises(ValueError, match="leaving none for the bound"):
        OvisMonteCarlo(iw=2, auxiliary=0.5, exclusive=False, mc=1).particles({"iw": 1, "auxiliary": 1.0,
                                                                               "exclusive": False})
    with pytest.raises(ValueError, match="auxiliary=0"):
        OvisMonteCarlo(iw=2, auxiliary=0)


def test_base_is_validated():
    with pytest.raises(ValueError, match="base='harmonic' is invalid"):
        OvisAsymptotic(iw=2, base="harmonic")


@pytest.mark.parametrize("gamma", [0.0, 1.0])
def test_one_particle_is_reinforce(gamma):
    """K = 1: no other particle, the control variate is 0."""
    torch.manual_seed(0)
    model = build_model("sbn", (10,), layers=(4,)).double()
    assert_same(gradients(OvisAsymptotic(iw=1, gamma=gamma), model, X), gradients(Reinforce(iw=1), model, X))


def test_gamma_changes_phi_only():
    torch.manual_seed(0)
    model = build_model("sbn", (10,), layers=(4,)).double()
    g0, g1 = gradients(OvisAsymptotic(iw=4, gamma=0.0), model, X), gradients(OvisAsymptotic(iw=4, gamma=1.0), model, X)
    assert_same(g0, g1, prefix="generative")
    assert not torch.allclose(g0["inference_network.0.weight"], g1["inference_network.0.weight"])
