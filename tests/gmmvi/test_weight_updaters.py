import math

import pytest
import torch

from ovis.gmmvi.mixture import GaussianMixture
from ovis.gmmvi.weight_updaters import DirectWeightUpdater, TrustRegionWeightUpdater, categorical_kl


def mixture(K=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return GaussianMixture(torch.randn(K, generator=g, dtype=torch.float64),
                           3 * torch.randn(K, 2, generator=g, dtype=torch.float64),
                           torch.ones(K, 2, dtype=torch.float64), max_reward_history_length=4)


def test_categorical_kl_matches_torch():
    p, q = torch.log_softmax(torch.randn(6), 0), torch.log_softmax(torch.randn(6), 0)
    ref = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=p),
                                            torch.distributions.Categorical(logits=q))
    torch.testing.assert_close(categorical_kl(p, q), ref)


@pytest.mark.parametrize("bound", [1e-4, 1e-2, 0.1, 1.0])
@pytest.mark.parametrize("scale", [1.0, 30.0])
def test_trust_region_weight_step_satisfies_kl_bound(bound, scale):
    q = mixture(seed=int(scale))
    old = q.log_weights.clone()
    elr = scale * torch.randn(5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    new = TrustRegionWeightUpdater(q).new_log_weights(elr, bound)
    kl = float(categorical_kl(new, old))
    assert kl <= bound * (1 + 1e-12)
    assert kl > 0
    # the step points along the natural gradient: the new log-weights are old + c * elr (+ a constant), c > 0
    d = new - old
    c = ((d - d.mean()) @ (elr - elr.mean())) / ((elr - elr.mean()) @ (elr - elr.mean()))
    torch.testing.assert_close(d - d.mean(), c * (elr - elr.mean()), atol=1e-9, rtol=1e-9)
    assert c > 0


def test_trust_region_weight_update_converges_to_optimal_weights():
    # with rewards r_k = E_k[log p - log q] fixed, the optimum of sum w_k (r_k + log w_k - log w_k) ... is
    # w_k proportional to exp(elr_k + log w_k): iterate a large bound, the update becomes the full step
    q = mixture()
    elr = torch.tensor([0.0, 1.0, 2.0, -1.0, 0.5], dtype=torch.float64)
    new = TrustRegionWeightUpdater(q).new_log_weights(elr, 1e6)
    expected = torch.log_softmax(q.log_weights + elr / (1.0 + math.exp(-45.0 + 0.0)), 0)
    assert categorical_kl(new, expected) < 1e-3


def test_direct_weight_update_and_rewards():
    q = mixture()
    x = torch.randn(40, 2, dtype=torch.float64)
    lp = -0.5 * x.pow(2).sum(1)
    bg = q.log_density(x)
    upd = DirectWeightUpdater(q)
    old = q.log_weights.clone()
    comp = q.component_log_densities(x)
    W = torch.softmax(comp - bg, 1)
    elr = W @ (lp - q.log_density(x))
    upd.update_weights(x, bg, lp, 0.3)
    torch.testing.assert_close(q.log_weights, torch.log_softmax(old + 0.3 * elr, 0))
    torch.testing.assert_close(q.reward_history[:, -1], old + elr)
    torch.testing.assert_close(q.weight_history[:, -1], q.weights)


def test_single_component_weights_do_not_change():
    q = mixture(K=1)
    x = torch.randn(10, 2, dtype=torch.float64)
    TrustRegionWeightUpdater(q).update_weights(x, q.log_density(x), -x.pow(2).sum(1), 0.1)
    assert q.log_weights.tolist() == [0.0]
