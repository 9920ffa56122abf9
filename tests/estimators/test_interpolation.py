"""OVIS-MC's interpolated control variate: accurate, built from the auxiliary particles alone, unbiased."""
import functools
import math

import pytest
import torch

from ovis.estimators import bounds, ovis as ovis_module
from ovis.estimators.interpolation import auxiliary_means, interpolation_cost, interpolation_pieces

from . import exact
from .test_exact import BY_ID, TOL, XS_CAT, build, categorical_model, estimator_mean


@pytest.mark.parametrize("scale", [0.01, 1.0, 10.0, 60.0])
@pytest.mark.parametrize("alpha", [0.0, 0.3, -0.5])
def test_interpolated_control_variate_matches_the_exact_one(scale, alpha):
    torch.manual_seed(int(scale * 10))
    lw = scale * torch.randn(3, 2, 40, dtype=torch.float64)
    aux = scale * torch.randn(3, 2, 300, dtype=torch.float64)
    lw[0, 0, 1:] = -math.inf  # particle 0 alone: its leave-one-out sum is -inf
    lw[1, 1, 3] = aux.max() + 50  # far above every auxiliary particle
    exact_c = bounds.ovis_mc_control_variate(lw, aux, alpha=alpha, method="exact")
    fast_c = bounds.ovis_mc_control_variate(lw, aux, alpha=alpha, method="interpolated")
    assert (fast_c - exact_c).abs().max() < 1e-6 * max(1.0, float(exact_c.abs().max()))
    assert (fast_c - exact_c).abs().max() < 1e-8


def test_the_interpolant_reads_the_auxiliary_particles_only():
    """Changing the particles of the bound (so every loo_k) leaves the interpolant, hence H and G as
    functions, unchanged: the values at the same loo are the same."""
    torch.manual_seed(0)
    aux = torch.randn(2, 100, dtype=torch.float64)
    loo = torch.randn(2, 9, dtype=torch.float64)
    pieces = interpolation_pieces(aux)
    H1, G1 = auxiliary_means(loo, aux, pieces)
    H2, G2 = auxiliary_means(torch.cat([loo, 5 * torch.randn(2, 30, dtype=torch.float64)], 1), aux, pieces)
    assert torch.equal(H1, H2[:, :9]) and torch.equal(G1, G2[:, :9])


def test_auto_chooses_the_cheaper_path():
    exact_ops, fast_ops = interpolation_cost(K=5, S=5, pieces=2)
    assert exact_ops < fast_ops
    exact_ops, fast_ops = interpolation_cost(K=1000, S=10000, pieces=8)
    assert fast_ops < exact_ops / 4


def test_interpolated_needs_finite_auxiliary_weights():
    aux = torch.tensor([[0.0, -math.inf]], dtype=torch.float64)
    with pytest.raises(ValueError, match="needs finite auxiliary log-weights"):
        bounds.ovis_mc_control_variate(torch.zeros(1, 3, dtype=torch.float64), aux, method="interpolated")
    c = bounds.ovis_mc_control_variate(torch.zeros(1, 3, dtype=torch.float64), aux)  # auto: exact path
    assert torch.isfinite(c).all()


@pytest.mark.parametrize("eid,K", [("ovis-S1-exclusive", 2), ("ovis-S1-exclusive", 3), ("ovis-S2-exclusive", 2),
                                   ("ovis-S0.5", 4)])
def test_interpolated_ovis_mc_is_exactly_unbiased(eid, K, monkeypatch):
    """The exact expectation (every particle tuple enumerated) with the interpolated control variate."""
    monkeypatch.setattr(ovis_module, "ovis_mc_control_variate",
                        functools.partial(bounds.ovis_mc_control_variate, method="interpolated"))
    spec = BY_ID[eid]
    model = categorical_model()
    est = build(eid, K, model)
    for alpha, beta in [(0.0, 1.0), (0.3, 0.5), (-0.5, 1.3)]:
        mean = estimator_mean(spec, est, model, XS_CAT, K, 1, None, alpha=alpha, beta=beta)
        target = exact.categorical_bound_gradient(model, XS_CAT, spec.bound(K, 1), alpha, beta)
        assert exact.relative_error(mean, target) < TOL, (alpha, beta)
