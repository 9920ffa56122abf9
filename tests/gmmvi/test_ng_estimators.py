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


def lstsq_reference_fit(x, y, w, means, chols, lam):
    """Per component with numpy: the ridge fit in whitened coordinates by SVD least squares.

    The ridge is written as extra rows ``sqrt(lam) e_j`` (all features but the constant), so no
    normal equations are formed; the quadratic is mapped back to ``x`` as in the framework.
    """
    x, y, w = x.numpy(), y.numpy(), w.numpy()
    K, D = means.shape
    Rs, rs, cs = [], [], []
    for k in range(K):
        m = means[k].numpy()
        Lk = chols[k].numpy() if chols.dim() == 3 else np.diag(chols[k].numpy())
        Linv = np.linalg.inv(Lk)
        z = (x - m) @ Linv.T
        quad = [z[:, i] * z[:, j] for i in range(D) for j in range(i, D)]
        f = np.column_stack(quad + [z[:, i] for i in range(D)] + [np.ones(len(x))])
        P = f.shape[1]
        sw = np.sqrt(np.clip(w[k], 0, None))
        A = np.vstack((sw[:, None] * f, np.sqrt(lam[k].item()) * np.eye(P)[:-1]))
        b = np.concatenate((sw * y, np.zeros(P - 1)))
        theta = np.linalg.lstsq(A, b, rcond=None)[0]
        Q = np.zeros((D, D))
        Q[np.triu_indices(D)] = theta[:len(quad)]
        R = Linv.T @ (-(Q + Q.T)) @ Linv
        r = Linv.T @ theta[len(quad):-1] + R @ m
        c = theta[-1] - 0.5 * m @ R @ m - m @ (Linv.T @ theta[len(quad):-1])
        Rs.append(R), rs.append(r), cs.append(c)
    return np.stack(Rs), np.stack(rs), np.array(cs)


def ill_conditioned_problem(N, D=5, K=3, seed=0, diagonal=False):
    """Samples of a mixture, a non-quadratic log-ratio, importance weights spanning many decades."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(K, D, generator=g, dtype=torch.float64)
    A = torch.randn(K, D, D, generator=g, dtype=torch.float64)
    chols = torch.linalg.cholesky(A @ A.transpose(1, 2) / D + 0.3 * torch.eye(D, dtype=torch.float64))
    if diagonal:
        chols = torch.diagonal(chols, dim1=-2, dim2=-1).abs()
    x = 1.5 * torch.randn(N, D, generator=g, dtype=torch.float64)
    y = -0.5 * (x ** 2).sum(1) + torch.sin(3 * x[:, 0]) + 0.1 * x[:, 1] ** 3
    w = torch.softmax(4.0 * torch.randn(K, N, generator=g, dtype=torch.float64), 1)
    lam = torch.tensor([1e-12, 1e-9, 1e-6][:K], dtype=torch.float64)
    return x, y, w, means, chols, lam


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("method, N", [("auto", 12), ("auto", 60), ("primal", 12), ("primal", 60), ("dual", 12)])
def test_fit_quadratic_matches_least_squares_reference(method, N, diagonal):
    # P = 21 coefficients: fewer (12) and more (60) samples than that; the dual system is for N < P
    # weights over 10+ decades and lam down to 1e-12: the normal equations alone lose most digits here
    x, y, w, means, chols, lam = ill_conditioned_problem(N, diagonal=diagonal)
    R, r, c, ok = fit_quadratic(x, y, w, means, chols, lam, method=method)
    Rr, rr, cr = lstsq_reference_fit(x, y, w, means, chols, lam)
    assert ok.all()
    for got, ref in ((R, Rr), (r, rr), (c, cr)):
        err = np.abs(got.numpy() - ref).max() / np.abs(ref).max()
        assert err < 1e-7, (method, N, err)


@pytest.mark.parametrize("N", [12, 60])
def test_fit_quadratic_batched_equals_per_component(N):
    x, y, w, means, chols, lam = ill_conditioned_problem(N, K=3, seed=5)
    R, r, c, ok = fit_quadratic(x, y, w, means, chols, lam)
    for k in range(3):
        Rk, rk, ck, okk = fit_quadratic(x, y, w[k:k + 1], means[k:k + 1], chols[k:k + 1], lam[k:k + 1])
        assert ok[k] and okk[0]
        torch.testing.assert_close(R[k], Rk[0], atol=1e-10 * Rk.abs().max().item(), rtol=0)
        torch.testing.assert_close(r[k], rk[0], atol=1e-10 * rk.abs().max().item(), rtol=0)
        torch.testing.assert_close(c[k], ck[0], atol=1e-10 * ck.abs().max().item(), rtol=0)


def test_fit_quadratic_primal_equals_dual_when_well_conditioned():
    x, y, w, means, chols, lam = ill_conditioned_problem(30, seed=7)
    w = torch.rand(w.shape, dtype=torch.float64) + 0.5
    lam = torch.full_like(lam, 1e-2)
    p = fit_quadratic(x, y, w, means, chols, lam, method="primal")
    d = fit_quadratic(x, y, w, means, chols, lam, method="dual")
    for a, b in zip(p[:3], d[:3]):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)


def test_fit_quadratic_zero_weights():
    x, y, w, means, chols, lam = ill_conditioned_problem(40, seed=8)
    w = w.clone()
    w[0] = 0.0                                   # nothing to fit: not solvable, zeros
    w[1, :20] = 0.0                              # zero weights: the same as leaving those samples out
    for method in ("primal", "dual"):
        R, r, c, ok = fit_quadratic(x, y, w, means, chols, lam, method=method)
        assert not ok[0] and ok[1:].all()
        assert (R[0] == 0).all() and (r[0] == 0).all() and c[0] == 0
        R1, r1, c1, _ = fit_quadratic(x[20:], y[20:], w[1:2, 20:], means[1:2], chols[1:2], lam[1:2], method=method)
        torch.testing.assert_close(R[1], R1[0], atol=1e-8 * R1.abs().max().item(), rtol=0)
        torch.testing.assert_close(r[1], r1[0], atol=1e-8 * r1.abs().max().item(), rtol=0)


def test_fit_quadratic_rejects_unknown_method():
    x, y, w, means, chols, lam = ill_conditioned_problem(20)
    with pytest.raises(ValueError, match="'qr'.*'auto', 'primal' or 'dual'"):
        fit_quadratic(x, y, w, means, chols, lam, method="qr")


def test_cholesky_solve_falls_back_to_lu_and_refines():
    from ovis.gmmvi.ng_estimators import _cholesky_solve
    g = torch.Generator().manual_seed(9)
    B = torch.randn(2, 6, 6, generator=g, dtype=torch.float64)
    A = torch.stack([B[0] @ B[0].T + torch.eye(6, dtype=torch.float64),
                     B[1] + B[1].T])                              # symmetric, indefinite: no Cholesky
    b = torch.randn(2, 6, generator=g, dtype=torch.float64)
    x, ok = _cholesky_solve(A, b)
    assert ok.all()
    torch.testing.assert_close(x, torch.linalg.solve(A, b))
    # refinement with an exact residual removes a perturbation of the factorized matrix
    A_pert = A[:1] + 1e-4 * torch.eye(6, dtype=torch.float64)
    x_ref, ok = _cholesky_solve(A_pert, b[:1], refine=lambda v: b[:1] - (A[:1] @ v.unsqueeze(-1)).squeeze(-1),
                                max_refinements=20, tol=1e-15)
    torch.testing.assert_close(x_ref, torch.linalg.solve(A[:1], b[:1]), atol=1e-12, rtol=1e-12)


def pruning_problem(seed=11):
    """Two far-apart components with their own samples: each gives the other's samples weights ~e^-800."""
    g = torch.Generator().manual_seed(seed)
    D = 3
    means = torch.tensor([[-20.0, 0.0, 0.0], [20.0, 0.0, 0.0]], dtype=torch.float64)
    chols = torch.eye(D, dtype=torch.float64).expand(2, D, D).clone()
    x = torch.cat((means[0] + torch.randn(30, D, generator=g, dtype=torch.float64),
                   means[1] + torch.randn(30, D, generator=g, dtype=torch.float64)))
    y = -0.5 * (x ** 2).sum(1) + torch.sin(x[:, 1])
    logq = -0.5 * ((x.unsqueeze(0) - means.unsqueeze(1)) ** 2).sum(-1)          # [2, 60]
    w = torch.softmax(logq, 1)
    w[0, 30:] = torch.exp(logq[0, 30:] - logq[0].max()) * 1e-3 + 1e-200   # tiny but not 0
    w[1, :30] = torch.exp(logq[1, :30] - logq[1].max()) * 1e-3 + 1e-200
    return x, y, w, means, chols, torch.full((2,), 1e-10, dtype=torch.float64)


def spy_pruning(monkeypatch):
    import ovis.gmmvi.ng_estimators as ne
    calls = []
    orig = ne._pruned_fit

    def spy(*args, **kwargs):
        out = orig(*args, **kwargs)
        calls.append((int(args[6].sum()), out is not None))
        return out

    monkeypatch.setattr(ne, "_pruned_fit", spy)
    return calls


def test_fit_quadratic_prunes_negligible_weights(monkeypatch):
    x, y, w, means, chols, lam = pruning_problem()
    full = fit_quadratic(x, y, w, means, chols, lam, prune_below=0.0)
    calls = spy_pruning(monkeypatch)
    pruned = fit_quadratic(x, y, w, means, chols, lam)
    assert calls == [(30, True), (30, True)]                 # each component fitted on its own 30 samples
    for a, b in zip(pruned, full):
        if a.dtype == torch.bool:
            assert a.all() and b.all()
        else:
            torch.testing.assert_close(a, b, atol=1e-12 * b.abs().max().item(), rtol=0)


def test_fit_quadratic_keeps_samples_the_bound_does_not_allow_to_drop(monkeypatch):
    x, y, w, means, chols, lam = pruning_problem()
    y = y.clone()
    y[30:] = 1e250                                          # the tiny weights meet enormous residuals
    full = fit_quadratic(x, y, w, means, chols, lam, prune_below=0.0)
    calls = spy_pruning(monkeypatch)
    again = fit_quadratic(x, y, w, means, chols, lam)
    assert (30, False) in calls                             # component 0: pruning rejected, fitted on all
    for a, b in zip(again, full):
        if a.dtype == torch.bool:
            assert torch.equal(a, b)
        else:
            torch.testing.assert_close(a, b, atol=1e-12 * b.abs().max().item(), rtol=0)


@pytest.mark.parametrize("limit", [0, 10**9])
def test_centred_features_match_their_definition_on_both_construction_paths(monkeypatch, limit):
    """sqrt(w_n) (f_n - f_bar) with f = [z_i z_j (i <= j, row-major), z_i], written out sample by sample."""
    import ovis.gmmvi.ng_estimators as ne
    monkeypatch.setattr(ne, "_GATHER_LIMIT", limit)
    g = torch.Generator().manual_seed(4)
    k, D, N = 2, 3, 7
    zt = torch.randn(k, D, N, generator=g, dtype=torch.float64)
    y = torch.randn(N, generator=g, dtype=torch.float64)
    w = torch.rand(k, N, generator=g, dtype=torch.float64)
    at, s, fbar, ybar, wsum = ne._centred_features(zt, y, w)
    for c in range(k):
        feats = torch.stack([torch.cat([torch.stack([zt[c, i, n] * zt[c, j, n] for i in range(D) for j in range(i, D)]),
                                        zt[c, :, n]]) for n in range(N)])          # [N, F]
        mean = (w[c, :, None] * feats).sum(0) / w[c].sum()
        torch.testing.assert_close(fbar[c], mean, rtol=0, atol=1e-13)
        torch.testing.assert_close(at[c], (w[c, :, None].sqrt() * (feats - mean)).t(), rtol=0, atol=1e-13)
        torch.testing.assert_close(ybar[c], (w[c] * y).sum() / w[c].sum(), rtol=0, atol=1e-13)
        torch.testing.assert_close(s[c], w[c].sqrt() * (y - ybar[c]), rtol=0, atol=1e-13)
