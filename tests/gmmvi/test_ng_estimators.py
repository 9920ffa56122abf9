import numpy as np
import pytest
import torch

from ovis.gmmvi.mixture import GaussianMixture
from ovis.gmmvi.ng_estimators import MoreNgEstimator, SteinNgEstimator, fit_quadratic, importance_weights

D = 3


def spd(seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(D, D, generator=g, dtype=torch.float64)
    return scale * (A @ A.T / D + 0.5 * torch.eye(D, dtype=torch.float64))


def gaussian_setup(diagonal, seed=0):
    """A single-component q = N(mu, Sigma) and a Gaussian target N(m, S)."""
    mu = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    Sigma = spd(seed) if not diagonal else torch.diag(torch.tensor([0.5, 1.5, 1.0], dtype=torch.float64))
    chol = torch.linalg.cholesky(Sigma)
    q = GaussianMixture(torch.zeros(1, dtype=torch.float64), mu[None], chol[None] if not diagonal
                        else torch.diagonal(chol)[None])
    m = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    S = spd(seed + 1, 2.0)
    target = torch.distributions.MultivariateNormal(m, covariance_matrix=S)
    Sinv, Siginv = torch.linalg.inv(S), torch.linalg.inv(Sigma)
    exact_hess_neg = Sinv - Siginv             # -E_q[hess (log p - log q)]
    exact_grad_neg = Sinv @ (mu - m)           # -E_q[grad (log p - log q)]
    return q, target, exact_hess_neg, exact_grad_neg


def draw(q, target, n):
    x, mapping = q.sample_from_components(torch.tensor([n]))
    xr = x.clone().requires_grad_(True)
    lp = target.log_prob(xr)
    (g,) = torch.autograd.grad(lp.sum(), xr)
    return x, mapping, q.log_density(x), lp.detach(), g


@pytest.mark.parametrize("self_normalized", [True, False])
@pytest.mark.parametrize("diagonal", [False, True])
def test_stein_matches_exact_natural_gradient_for_gaussian_target(self_normalized, diagonal):
    torch.manual_seed(1)
    q, target, H, g = gaussian_setup(diagonal)
    x, mapping, bg, lp, grad = draw(q, target, 200000)
    est = SteinNgEstimator(q, use_self_normalized_importance_weights=self_normalized)
    h_hat, g_hat = est.get_expected_hessian_and_grad(x, mapping, bg, lp, grad)
    if diagonal:
        H = torch.diagonal(H)
    torch.testing.assert_close(h_hat[0], H, atol=0.03, rtol=0.03)
    torch.testing.assert_close(g_hat[0], g, atol=0.03, rtol=0.03)


@pytest.mark.parametrize("self_normalized", [True, False])
@pytest.mark.parametrize("diagonal", [False, True])
def test_more_matches_exact_natural_gradient_for_gaussian_target(self_normalized, diagonal):
    # the log-ratio of two Gaussians is exactly quadratic: the fit recovers it from any ~P samples
    torch.manual_seed(2)
    q, target, H, g = gaussian_setup(diagonal)
    x, mapping, bg, lp, grad = draw(q, target, 200)
    est = MoreNgEstimator(q, use_self_normalized_importance_weights=self_normalized)
    h_hat, g_hat = est.get_expected_hessian_and_grad(x, mapping, bg, lp, grad)
    if diagonal:
        H = torch.diagonal(H)
    torch.testing.assert_close(h_hat[0], H, atol=1e-7, rtol=1e-7)
    torch.testing.assert_close(g_hat[0], g, atol=1e-7, rtol=1e-7)


def test_fit_quadratic_recovers_quadratic_with_many_components():
    torch.manual_seed(3)
    K = 4
    R_true = torch.stack([spd(s) for s in range(K)])
    r_true = torch.randn(K, D, dtype=torch.float64)
    c_true = torch.randn(K, dtype=torch.float64)
    means = torch.randn(K, D, dtype=torch.float64)
    chols = torch.linalg.cholesky(torch.stack([spd(10 + s) for s in range(K)]))
    x = 2 * torch.randn(300, D, dtype=torch.float64)
    for k in range(K):
        y = -0.5 * torch.einsum("ni,ij,nj->n", x, R_true[k], x) + x @ r_true[k] + c_true[k]
        w = torch.rand(K, 300, dtype=torch.float64)
        R, r, c, ok = fit_quadratic(x, y, w, means, chols, torch.full((K,), 1e-12, dtype=torch.float64))
        assert ok.all()
        torch.testing.assert_close(R[k], R_true[k], atol=1e-7, rtol=1e-7)
        torch.testing.assert_close(r[k], r_true[k], atol=1e-7, rtol=1e-7)
        torch.testing.assert_close(c[k], c_true[k], atol=1e-7, rtol=1e-7)


def reference_stein(q, x, bg, lp_grad, own=None):
    """Loop over components with numpy; self-normalized weights."""
    xs, G = x.numpy(), lp_grad.numpy()
    comp = q.component_log_densities(x).numpy()
    # gradient of log q(x) by finite differences (independent of the closed form)
    eps = 1e-6
    gq = np.zeros_like(xs)
    for d in range(xs.shape[1]):
        e = torch.zeros_like(x); e[:, d] = eps
        gq[:, d] = ((q.log_density(x + e) - q.log_density(x - e)) / (2 * eps)).numpy()
    g = G - gq
    Hs, gs = [], []
    for k in range(q.num_components):
        lw = comp[k] - bg.numpy()
        if own is not None:
            lw = np.where(own == k, 0.0, -np.inf)
        w = np.exp(lw - lw.max()); w /= w.sum()
        Sinv = np.linalg.inv(q.covs[k].numpy())
        pd = (xs - q.means[k].numpy()) @ Sinv
        H = sum(w[n] * np.outer(g[n], pd[n]) for n in range(len(w)))
        Hs.append(-(H + H.T) / 2)
        gs.append(-(w[:, None] * g).sum(0))
    return np.stack(Hs), np.stack(gs)


@pytest.mark.parametrize("only_own", [False, True])
def test_stein_batched_equals_per_component_reference(only_own):
    torch.manual_seed(4)
    q = GaussianMixture(torch.randn(3, dtype=torch.float64), 2 * torch.randn(3, D, dtype=torch.float64),
                        torch.linalg.cholesky(torch.stack([spd(s) for s in range(3)])))
    x, mapping = q.sample_from_components(torch.tensor([30, 20, 25]))
    bg = q.log_density(x) + 0.1 * torch.randn(75, dtype=torch.float64)
    grads = -x + 0.3
    est = SteinNgEstimator(q, only_use_own_samples=only_own)
    H, g = est.get_expected_hessian_and_grad(x, mapping, bg, torch.zeros(75, dtype=torch.float64), grads)
    Hr, gr = reference_stein(q, x, bg, grads, own=mapping.numpy() if only_own else None)
    np.testing.assert_allclose(H.numpy(), Hr, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(g.numpy(), gr, atol=1e-6, rtol=1e-6)


def test_importance_weights_rows():
    comp = torch.randn(3, 10, dtype=torch.float64)
    bg = torch.randn(10, dtype=torch.float64)
    w = importance_weights(comp, bg)
    torch.testing.assert_close(w.sum(1), torch.ones(3, dtype=torch.float64))
    w2 = importance_weights(comp, bg, self_normalized=False)
    torch.testing.assert_close(w2, (comp - bg).exp() / 10)
    own = torch.zeros(3, 10, dtype=torch.bool); own[0, :4] = True
    w3 = importance_weights(comp, bg, own)
    torch.testing.assert_close(w3[0, :4], torch.full((4,), 0.25, dtype=torch.float64))
    assert (w3[1:] == 0).all()
