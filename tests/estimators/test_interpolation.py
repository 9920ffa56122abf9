"""OVIS-MC's interpolated control variate: accurate, built from the auxiliary particles alone, unbiased."""
import functools
import math

import pytest
import torch

from ovis.estimators import bounds, ovis as ovis_module
from ovis.estimators.interpolation import auxiliary_means, exact_means, interpolation_cost, interpolation_pieces

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


@pytest.mark.parametrize("scale,shift", [(0.01, 0.0), (0.5, -3.0), (2.0, 1e3), (10.0, 0.0), (300.0, -40.0)])
def test_auxiliary_means_match_the_pair_by_pair_sums(scale, shift):
    """Every group of the fast path (pieces near b, the series below and above, b beyond every piece,
    loo = +-inf), against the direct sums over s, in float64."""
    torch.manual_seed(1)
    aux = scale * torch.randn(3, 400, dtype=torch.float64) + shift
    loo = 3 * scale * torch.randn(3, 150, dtype=torch.float64) + shift
    loo[0, :4] = torch.tensor([-math.inf, math.inf, float(aux.max()) + 100, float(aux.min()) - 100])
    H, G = auxiliary_means(loo, aux)
    direct_H = torch.logaddexp(loo[..., None], aux[:, None, :]).mean(-1)
    direct_G = torch.sigmoid(aux[:, None, :] - loo[..., None]).mean(-1)
    finite = torch.isfinite(direct_H)
    assert torch.equal(torch.isfinite(H), finite) and torch.equal(H[~finite], direct_H[~finite])
    assert (H - direct_H)[finite].abs().max() < 1e-9
    assert (G - direct_G).abs().max() < 1e-9


def test_auxiliary_means_with_one_auxiliary_particle():
    aux = torch.tensor([[0.3], [-7.0]], dtype=torch.float64)
    loo = torch.tensor([[-1.0, 0.3, 2.0, 40.0], [-7.5, -20.0, 3.0, -math.inf]], dtype=torch.float64)
    H, G = auxiliary_means(loo, aux)
    exact_H, exact_G = exact_means(loo, aux)
    assert (H - exact_H).abs().max() < 1e-9 and (G - exact_G).abs().max() < 1e-9


def test_the_interpolant_reads_the_auxiliary_particles_only():
    """Changing the particles of the bound (so every loo_k) leaves H and G as functions unchanged: the
    values at the same loo are the same, bit for bit, whatever the other loo are."""
    torch.manual_seed(0)
    aux = torch.randn(2, 100, dtype=torch.float64)
    loo = torch.randn(2, 9, dtype=torch.float64)
    H1, G1 = auxiliary_means(loo, aux)
    H2, G2 = auxiliary_means(torch.cat([loo, 50 * torch.randn(2, 30, dtype=torch.float64)], 1), aux)
    assert torch.equal(H1, H2[:, :9]) and torch.equal(G1, G2[:, :9])


def test_auto_chooses_the_cheaper_path():
    exact_ops, fast_ops = interpolation_cost(K=5, S=5, pieces=2, rows=8)
    assert exact_ops < fast_ops
    exact_ops, fast_ops = interpolation_cost(K=1000, S=10000, pieces=8, rows=8)
    assert fast_ops < exact_ops / 4
    aux = torch.tensor([[-1.0, 0.5, 3.9], [10.0, 10.0, 10.0]])
    assert interpolation_pieces(aux) == 3  # pieces [-2, 0), [0, 2), [2, 4) of the fixed grid


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


def test_auxiliary_means_at_the_edges_of_the_pieces():
    """Auxiliary log-weights on and next to the grid's edges (multiples of 2 nats, far from 0, where
    ``a - start * w`` rounds), and loo on them."""
    edges = torch.tensor([4.0, 4.0 - 4.4e-16, 4.0 + 8.9e-16, -10.0, -10.0 + 1.8e-15, 1e3, 1e3 - 1.2e-13],
                         dtype=torch.float64)
    aux = torch.stack([edges, edges.flip(0) - 3.0])
    loo = torch.stack([edges, edges + 1.0])
    H, G = auxiliary_means(loo, aux)
    exact_H, exact_G = exact_means(loo, aux)
    assert (H - exact_H).abs().max() < 1e-9 and (G - exact_G).abs().max() < 1e-9
