"""The blocked (cache-sized) computations of the mixture, the Stein estimator and the sample database against
independent references, with narrow components far from the origin (round-off in the product forms)."""
import math

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal

from ovis.gmmvi import mixture
from ovis.gmmvi.mixture import GaussianMixture, gaussian_log_densities, weighted_logsumexp
from ovis.gmmvi.ng_estimators import SteinNgEstimator
from ovis.gmmvi.sample_db import SampleDB


def narrow_mixture(K, D, seed=0, diagonal=False):
    """Components with standard deviations from 1e-3 to 1, means around 5 (far from the origin)."""
    g = torch.Generator().manual_seed(seed)
    means = 5.0 + torch.randn(K, D, generator=g, dtype=torch.float64)
    if diagonal:
        chols = 10.0 ** (-3 * torch.rand(K, D, generator=g, dtype=torch.float64))
    else:
        Q = torch.linalg.qr(torch.randn(K, D, D, generator=g, dtype=torch.float64))[0]
        s = 10.0 ** (-3 * torch.rand(K, D, generator=g, dtype=torch.float64))
        chols = torch.linalg.cholesky(Q @ torch.diag_embed(s ** 2) @ Q.transpose(1, 2))
    return GaussianMixture(torch.randn(K, generator=g, dtype=torch.float64), means, chols)


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of a few numbers, so that every loop runs over many ragged blocks."""
    monkeypatch.setattr(mixture, "BLOCK_NUMBERS", 97)
    monkeypatch.setattr(mixture, "ROW_BLOCK_NUMBERS", 53)
    monkeypatch.setattr(mixture, "PAIR_NUMBERS_MAX", 0)


@pytest.mark.parametrize("blocks", ["default", "small"])
def test_component_log_densities_match_torch_multivariate_normal(blocks, request):
    if blocks == "small":
        request.getfixturevalue("small_blocks")
    q = narrow_mixture(13, 4)
    x, _ = q.sample_from_components(torch.full((13,), 7))
    x = torch.cat((x, 5 + torch.randn(20, 4, dtype=torch.float64)))
    ref = MultivariateNormal(q.means, scale_tril=q.chols).log_prob(x.unsqueeze(1)).T         # [K, N]
    torch.testing.assert_close(gaussian_log_densities(x, q.means, q.chols), ref, rtol=1e-12, atol=1e-9)
    for chunk in (1, 5, 100):
        torch.testing.assert_close(gaussian_log_densities(x, q.means, q.chols, chunk=chunk), ref,
                                   rtol=1e-12, atol=1e-9)


def test_weighted_logsumexp_equals_one_logsumexp(small_blocks):
    c = 30 * torch.randn(7, 1000, dtype=torch.float64)
    lw = torch.randn(7, dtype=torch.float64)
    assert torch.equal(weighted_logsumexp(c, lw), torch.logsumexp(c + lw.unsqueeze(1), 0))


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("blocks", ["default", "small"])
def test_mixture_gradient_matches_autograd_with_narrow_components(diagonal, blocks, request):
    if blocks == "small":
        request.getfixturevalue("small_blocks")
    q = narrow_mixture(6, 3, seed=1, diagonal=diagonal)
    x, _ = q.sample_from_components(torch.full((6,), 9))
    xr = x.clone().requires_grad_(True)
    comp = [MultivariateNormal(q.means[k], scale_tril=torch.diag(q.chols[k]) if diagonal else q.chols[k])
            for k in range(6)]
    ref = torch.logsumexp(torch.stack([c.log_prob(xr) for c in comp]) + q.log_weights.unsqueeze(1), 0)
    (g_ref,) = torch.autograd.grad(ref.sum(), xr)
    for keep in (False, True):
        out = q.log_density_and_grad(x, return_precision_times_diffs=keep)
        torch.testing.assert_close(out[0], ref.detach(), rtol=1e-12, atol=1e-9)
        scale = g_ref.abs().amax(1, keepdim=True)
        torch.testing.assert_close(out[1] / scale, g_ref / scale, rtol=0, atol=1e-9)


@pytest.mark.parametrize("diagonal", [False, True])
def test_stein_blocked_equals_per_pair_loop(small_blocks, diagonal):
    q = narrow_mixture(4, 3, seed=2, diagonal=diagonal)
    x, mapping = q.sample_from_components(torch.tensor([11, 7, 9, 5]))
    bg = q.log_density(x) + 0.1 * torch.randn(32, dtype=torch.float64)
    grads = -1e3 * (x - 5.0)
    H, gneg = SteinNgEstimator(q).get_expected_hessian_and_grad(x, mapping, bg, torch.zeros(32), grads)
    # reference: the definition, one pair at a time (q's gradient by autograd through torch distributions)
    P = q.precisions()
    P = torch.diag_embed(P) if diagonal else P
    covs = torch.linalg.inv(P)
    xr = x.clone().requires_grad_(True)
    logq = torch.logsumexp(torch.stack([MultivariateNormal(q.means[k], covs[k]).log_prob(xr) for k in range(4)])
                           + q.log_weights.unsqueeze(1), 0)
    g = (grads - torch.autograd.grad(logq.sum(), xr)[0]).numpy()
    comp = q.component_log_densities(x)
    for k in range(4):
        w = torch.softmax(comp[k] - bg, 0).numpy()
        Hk = sum(w[n] * np.outer(g[n], (P[k] @ (x[n] - q.means[k])).numpy()) for n in range(32))
        Hk = -(Hk + Hk.T) / 2
        got = H[k].numpy()
        want = Hk if not diagonal else np.diag(Hk)
        scale = np.abs(want).max()
        np.testing.assert_allclose(got / scale, want / scale, rtol=0, atol=1e-9)
        np.testing.assert_allclose(gneg[k].numpy(), -(w[:, None] * g).sum(0), rtol=1e-9, atol=1e-9 * np.abs(g).max())


def test_sample_db_background_with_a_gaussian_that_drew_nothing():
    """The window's Gaussians are not contiguous (the middle one drew no sample): indexed, not sliced."""
    torch.manual_seed(0)
    q = narrow_mixture(3, 2, seed=3)
    db = SampleDB(2, False)
    x, m = q.sample_from_components(torch.tensor([4, 0, 5]))
    db.add_samples(x, q.means, q.chols, torch.zeros(9), torch.zeros(9, 2), m)
    bg, xs, mp, _, _ = db.get_newest_samples(9)
    ref = [math.log(4 / 9) + MultivariateNormal(q.means[0], scale_tril=q.chols[0]).log_prob(xs),
           math.log(5 / 9) + MultivariateNormal(q.means[2], scale_tril=q.chols[2]).log_prob(xs)]
    torch.testing.assert_close(bg, torch.logsumexp(torch.stack(ref), 0), rtol=1e-12, atol=1e-9)
