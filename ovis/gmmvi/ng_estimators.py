"""Natural-gradient estimation (design choice 1), batched over components.

Both estimators return, for every component ``k``, the negated expected
Hessian and gradient of the log-ratio ``r(x) = log p~(x) - log q(x)`` under the
component, ``-E_{q(x|k)}[hess r]`` (``[K, D, D]``, or ``[K, D]`` diagonal) and
``-E_{q(x|k)}[grad r]`` (``[K, D]``), from which the component updaters take a
natural-gradient step. Expectations under component ``k`` are importance
weighted with ``q(x|k) / b(x)`` (``b`` the background mixture that drew the
samples), standard or self-normalized.

* ``Stein`` (S, first order): ``E[hess r] = E[Sigma^{-1} (x - mu) grad r(x)^T]`` (Stein's lemma)
  and ``E[grad r]``, from the target's gradients.
* ``MORE`` (Z, zero order): a weighted least-squares fit of a quadratic
  ``-1/2 x^T R x + x^T r + c`` to the log-ratio in the component's whitened
  coordinates (ridge regularizer per component, bias unregularized); its
  quadratic and linear terms give the natural gradient.

References:
    | Stein's lemma for the Riemannian natural gradient: Lin, Khan, Schmidt, "Stein's Lemma for the
    | Reparameterization Trick with Exponential Family Mixtures" (2019), https://arxiv.org/abs/1910.13398
    | MORE: Abdolmaleki et al., "Model-Based Relative Entropy Stochastic Search" (NeurIPS 2015)
"""
from __future__ import annotations

from typing import Callable, Optional, Tuple

import torch
from torch import Tensor

from .choices import NG_ESTIMATORS, Stateful
from . import mixture
from .mixture import GaussianMixture

__all__ = ["NgEstimator", "SteinNgEstimator", "MoreNgEstimator", "importance_weights", "fit_quadratic"]


def importance_weights(component_log_densities: Tensor, background: Tensor, own_mask: Tensor = None,
                       self_normalized: bool = True) -> Tensor:
    """Weights ``[K, N]`` such that ``weights @ f`` estimates ``E_{q(x|k)}[f]`` for every component.

    Arguments:
        component_log_densities: ``[K, N]``, ``log q(x_n|k)``.
        background: ``[N]``, log-density of the distribution that drew the samples.
        own_mask: ``[K, N]`` bool; if given, only a component's own samples count, with weight 1.
        self_normalized: normalize each row to sum to one (otherwise divide by the number of samples).
    """
    if own_mask is not None:
        w = own_mask.to(background.dtype)
        return w / w.sum(1, keepdim=True).clamp(min=1.0)
    log_w = component_log_densities - background.unsqueeze(0)
    if self_normalized:
        return torch.softmax(log_w, 1)
    return log_w.exp() / log_w.shape[1]


class NgEstimator(Stateful):
    """Common part of the estimators.

    Arguments:
        model: the mixture.
        temperature: the entropy weight ``beta`` (the log-ratio is ``log p~ - beta log q``).
        only_use_own_samples: a component uses only the samples it drew (no importance weighting).
        use_self_normalized_importance_weights: self-normalized instead of standard importance weights.
    """

    requires_gradients = True

    def __init__(self, model: GaussianMixture, temperature: float = 1.0, only_use_own_samples: bool = False,
                 use_self_normalized_importance_weights: bool = True):
        self.model = model
        self.temperature = float(temperature)
        self.only_use_own_samples = bool(only_use_own_samples)
        self.use_self_normalized_importance_weights = bool(use_self_normalized_importance_weights)

    def _weights(self, comp: Tensor, background: Tensor, relative_mapping: Tensor) -> Tensor:
        own = None
        if self.only_use_own_samples:
            own = relative_mapping.unsqueeze(0) == torch.arange(comp.shape[0]).unsqueeze(1)
        return importance_weights(comp, background, own, self.use_self_normalized_importance_weights)

    def get_expected_hessian_and_grad(self, samples: Tensor, relative_mapping: Tensor, background: Tensor,
                                      target_lnpdfs: Tensor, target_grads: Tensor) -> Tuple[Tensor, Tensor]:
        """Estimate the natural gradient of every component.

        Arguments:
            samples: ``[N, D]``.
            relative_mapping: ``[N]``, the current component that drew each sample (other values: an older Gaussian).
            background: ``[N]``, the background log-densities.
            target_lnpdfs: ``[N]``.
            target_grads: ``[N, D]`` (unused by MORE).

        Returns:
            ``(expected_hessian_neg [K, D, D] or [K, D], expected_gradient_neg [K, D])``.
        """
        raise NotImplementedError


@NG_ESTIMATORS.register("Stein", aliases=("S", "stein"), reserved=("model", "temperature"))
class SteinNgEstimator(NgEstimator):
    """First-order estimate through Stein's lemma (S)."""

    def get_expected_hessian_and_grad(self, samples, relative_mapping, background, target_lnpdfs, target_grads):
        q = self.model
        logq, grad_logq, comp, pds = q.log_density_and_grad(samples, return_precision_times_diffs=True)
        g = target_grads - self.temperature * grad_logq                          # [N, D] grad of the log-ratio
        W = self._weights(comp, background, relative_mapping)                   # [K, N]
        expected_grad = W @ g
        K, N, D = q.num_components, samples.shape[0], q.num_dimensions
        if pds is not None:                                                      # small: all at once
            wg = W.unsqueeze(-1) * g                                             # [K, N, D]
            if q.diagonal:
                return -(wg * pds).sum(1), -expected_grad
            h = wg.transpose(1, 2) @ pds                                         # sum_n w g (P (x - mu))^T
            return -0.5 * (h + h.transpose(1, 2)), -expected_grad
        # sum_n w_kn g_n (P_k (x_n - mu_k))^T = (sum_n w_kn g_n x_n^T - (sum_n w_kn g_n) mu_k^T) P_k: one matrix
        # product over the samples, in blocks of samples ([K, N, D] is never formed)
        P = q.precisions()
        if q.diagonal:
            return -(W @ (g * samples) - expected_grad * q.means) * P, -expected_grad
        A = -expected_grad.unsqueeze(-1) * q.means.unsqueeze(1)                 # [K, D, D]
        rows = max(1, mixture.ROW_BLOCK_NUMBERS // (D * D))
        for n0 in range(0, N, rows):
            gx = g[n0:n0 + rows].unsqueeze(-1) * samples[n0:n0 + rows].unsqueeze(1)          # [n, D, D]
            A += (W[:, n0:n0 + rows] @ gx.reshape(-1, D * D)).view(K, D, D)
        h = A @ P
        return -0.5 * (h + h.transpose(1, 2)), -expected_grad


def _mv(at: Tensor, v: Tensor) -> Tensor:
    """``at v`` per batch: ``[k, F, N]``, ``[k, N]`` -> ``[k, F]``."""
    return (at @ v.unsqueeze(-1)).squeeze(-1)


def _vm(v: Tensor, at: Tensor) -> Tensor:
    """``v^T at`` per batch: ``[k, F]``, ``[k, F, N]`` -> ``[k, N]``."""
    return (v.unsqueeze(1) @ at).squeeze(1)


def _cholesky_solve(A: Tensor, b: Tensor, refine: Optional[Callable[[Tensor], Tensor]] = None,
                    max_refinements: int = 4, tol: float = 1e-10) -> Tuple[Tensor, Tensor]:
    """Solve ``A x = b`` (``[k, n, n]`` symmetric positive definite, ``[k, n]``) by Cholesky, by LU where that fails.

    Arguments:
        A: ``[k, n, n]``; b: ``[k, n]``.
        refine: optional function ``x -> b - A x`` (``[k, n]``) that computes the residual more
            accurately than ``A`` itself (from the factors of ``A``); the Cholesky solution is then
            refined with it (iterative refinement) until a correction is below ``tol`` of ``x``
            (largest entries), at most ``max_refinements`` times.

    Returns:
        ``(x [k, n], ok [k])``.
    """
    LA, info_c = torch.linalg.cholesky_ex(A)

    def solve(rhs):                  # LAPACK's potrs on the factor: both triangular solves in one call
        return torch.cholesky_solve(rhs.unsqueeze(-1), LA).squeeze(-1)

    x = solve(b)
    bad = (info_c != 0) | ~torch.isfinite(x).all(1)
    if refine is not None and not bool(bad.all()):
        for _ in range(max_refinements):
            d = solve(refine(x))
            step = torch.isfinite(d).all(1) & ~bad
            x = torch.where(step.unsqueeze(1), x + d, x)
            size = (d.abs().amax(1) / x.abs().amax(1).clamp(min=torch.finfo(x.dtype).tiny))[step]
            if size.numel() == 0 or bool((size <= tol).all()):
                break
    info = torch.zeros_like(info_c)
    if bool(bad.any()):
        x_lu, info_lu = torch.linalg.solve_ex(A[bad], b[bad])
        x[bad], info[bad] = x_lu, info_lu
    return x, (info == 0) & torch.isfinite(x).all(1)


_GATHER_LIMIT = 160_000  # quadratic feature entries up to which _centred_features builds them by gathers


def _centred_features(zt: Tensor, y: Tensor, w: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Weighted, centred quadratic and linear features of the whitened samples, feature-major.

    The features of a sample are ``f = [z_i z_j (i <= j, row-major), z_i]`` (``F = D (D + 1) / 2 + D``);
    the unregularized bias of the regression is eliminated by centring them and ``y`` with the
    weighted means ``f_bar = sum_n w_n f_n / sum_n w_n`` and ``y_bar``. They are built feature by
    feature (``[F, N]`` rows, contiguous writes), in one pass.

    Arguments:
        zt: ``[k, D, N]``, the whitened samples transposed; y: ``[N]``; w: ``[k, N]``, weights ``>= 0``.

    Returns:
        ``(at [k, F, N], s [k, N], f_bar [k, F], y_bar [k], w_sum [k])``: ``at`` is the transpose of
        ``A = sqrt(w) (f - f_bar)`` (``[N, F]`` per component) and ``s = sqrt(w) (y - y_bar)``.
    """
    k, D, N = zt.shape
    nq = D * (D + 1) // 2
    wsum = w.sum(1)                                                                 # [k]
    wn = (w / wsum.unsqueeze(1)).unsqueeze(1)                                       # [k, 1, N]
    mean_lin = (wn * zt).sum(2)                                                     # [k, D]
    mean_quad = (wn * zt) @ zt.transpose(1, 2)                                      # [k, D, D]
    sw = w.sqrt().unsqueeze(1)                                                      # [k, 1, N]
    zs = sw * zt
    at = torch.empty(k, nq + D, N, dtype=zt.dtype)
    iu, ju = torch.triu_indices(D, D)
    if k * nq * N <= _GATHER_LIMIT:  # small: two gathers and one product (fewer operations)
        quad = at[:, :nq]
        torch.mul(zs[:, iu], zt[:, ju], out=quad)
        quad.addcmul_(sw, mean_quad[:, iu, ju].unsqueeze(-1), value=-1.0)
    else:                            # large: row blocks in place (the gathers' copies cost more in cache)
        o = 0
        for i in range(D):           # rows sqrt(w) (z_i z_j - mean(z_i z_j)), j >= i
            block = at[:, o:o + D - i]
            torch.mul(zs[:, i:i + 1], zt[:, i:], out=block)
            block.addcmul_(sw, mean_quad[:, i, i:].unsqueeze(-1), value=-1.0)
            o += D - i
    torch.addcmul(zs, sw, mean_lin.unsqueeze(-1), value=-1.0, out=at[:, nq:])
    fbar = torch.cat((mean_quad[:, iu, ju], mean_lin), 1)                           # [k, F]
    ybar = (w @ y) / wsum                                                           # [k]
    s = sw.squeeze(1) * (y.unsqueeze(0) - ybar.unsqueeze(1))
    return at, s, fbar, ybar, wsum


def _ridge_primal(at: Tensor, s: Tensor, lam: Tensor) -> Tuple[Tensor, Tensor]:
    """Ridge solution ``theta = (A^T A + lam I)^{-1} A^T s`` from the ``[F, F]`` normal equations (``N >= F``).

    The normal equations square the condition number (the MORE fits are often close to singular,
    ``lam`` down to ``1e-12``); iterative refinement with residuals computed from ``A`` itself
    recovers the accuracy of a least-squares solver at the cost of a few matrix-vector products.

    Arguments:
        at: ``[k, F, N]``, ``A^T``; s: ``[k, N]``; lam: ``[k]``.

    Returns:
        ``(theta [k, F], ok [k])``.
    """
    G = at @ at.transpose(1, 2)                                                     # [k, F, F]
    G.diagonal(dim1=-2, dim2=-1).add_(lam.unsqueeze(1))

    def residual(theta):             # A^T (s - A theta) - lam theta, without the rounding of forming A^T A
        return _mv(at, s - _vm(theta, at)) - lam.unsqueeze(1) * theta

    return _cholesky_solve(G, _mv(at, s), refine=residual)


def _ridge_dual(at: Tensor, s: Tensor, u: Tensor, lam: Tensor) -> Tuple[Tensor, Tensor]:
    """The same ``theta = A^T (A A^T + lam I)^{-1} s`` from the ``[N, N]`` dual system (for ``N < F``).

    Cheaper than the normal equations for ``N < F``, and accurate there (refined like them); for
    ``N > F`` the system is singular up to ``lam`` in ``N - F`` directions and loses accuracy.

    For centred features ``A^T u = 0`` and ``s . u = 0`` with the unit vector ``u`` proportional to
    ``sqrt(w)``: ``A A^T`` is singular along ``u``. Adding ``mean(diag(A A^T)) u u^T`` changes no
    solution in exact arithmetic and keeps the system well conditioned there.

    Arguments:
        at: ``[k, F, N]``, ``A^T``; s: ``[k, N]``; u: ``[k, N]``, ``sqrt(w) / |sqrt(w)|``; lam: ``[k]``.

    Returns:
        ``(theta [k, F], ok [k])``.
    """
    M = at.transpose(1, 2) @ at                                                     # [k, N, N]
    diag = M.diagonal(dim1=-2, dim2=-1)
    shift = diag.mean(1, keepdim=True)                                              # [k, 1]
    M.add_(shift.unsqueeze(-1) * (u.unsqueeze(2) * u.unsqueeze(1)))
    diag.add_(lam.unsqueeze(1))

    def residual(alpha):             # s - (A A^T + lam I + shift u u^T) alpha, through A
        return (s - _vm(_mv(at, alpha), at) - lam.unsqueeze(1) * alpha
                - shift * u * (u * alpha).sum(1, keepdim=True))

    alpha, ok = _cholesky_solve(M, s, refine=residual)
    theta = _mv(at, alpha)
    return theta, ok & torch.isfinite(theta).all(1)


def _fit_block(x: Tensor, y: Tensor, w: Tensor, m: Tensor, L: Tensor, lam: Tensor, method: str
               ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """:func:`fit_quadratic` for a block of ``k`` components sharing the samples ``x`` ``[N, D]``.

    Returns:
        ``(R [k, D, D], r [k, D], c [k], ok [k], theta [k, F], zt [k, D, N])``, ``theta`` the
        coefficients of the whitened features and ``zt`` the whitened samples.
    """
    k, D = m.shape
    N = x.shape[0]
    nq = D * (D + 1) // 2
    diff_t = x.t().unsqueeze(0) - m.unsqueeze(-1)                                    # [k, D, N]
    if L.dim() == 2:
        zt = diff_t / L.unsqueeze(-1)
        Linv = torch.diag_embed(1.0 / L)
    else:
        Linv = torch.linalg.solve_triangular(L, torch.eye(D, dtype=x.dtype).expand(k, D, D), upper=False)
        zt = Linv @ diff_t                                                          # whitened, [k, D, N]
    at, s, fbar, ybar, wsum = _centred_features(zt, y, w)
    if method == "dual" or (method == "auto" and N < nq + D + 1):
        theta, ok = _ridge_dual(at, s, w.sqrt() / wsum.sqrt().unsqueeze(1), lam)
    else:
        theta, ok = _ridge_primal(at, s, lam)
    bias = ybar - (fbar * theta).sum(1)
    ok = ok & (wsum > 0) & torch.isfinite(bias)
    theta = torch.where(ok.unsqueeze(1), theta, torch.zeros_like(theta))
    bias = torch.where(ok, bias, torch.zeros_like(bias))
    iu, ju = torch.triu_indices(D, D)
    Q = torch.zeros(k, D, D, dtype=x.dtype)
    Q[:, iu, ju] = theta[:, :nq]
    Rw = -(Q + Q.transpose(1, 2))
    rw = theta[:, nq:]
    R = Linv.transpose(1, 2) @ Rw @ Linv
    Lrw = (Linv.transpose(1, 2) @ rw.unsqueeze(-1)).squeeze(-1)
    RM = (R @ m.unsqueeze(-1)).squeeze(-1)
    r = Lrw + RM
    c = bias + (m * (-0.5 * RM - Lrw)).sum(-1)
    return R, r, c, ok, theta, zt


def _pruned_fit(x: Tensor, y: Tensor, w: Tensor, m: Tensor, L: Tensor, lam: Tensor, keep: Tensor, method: str,
                tol: float) -> Optional[Tuple[Tensor, Tensor, Tensor, Tensor]]:
    """Fit one component on the samples ``keep`` (``[N]`` bool) only; ``None`` if that may differ from the full fit.

    Leaving out samples of weights ``w_d`` moves the solution, to first order, by at most
    ``sum_d w_d |f_d - f_bar| |y_d - q(x_d)| / lam`` (the Hessian of the ridge objective in the
    feature coefficients is at least ``lam``; ``q`` the fitted quadratic): the pruned fit is
    kept when that bound is below ``tol`` times the coefficients' norm and the left-out
    curvature ``sum_d w_d |f_d - f_bar|^2`` below ``tol lam``.
    """
    R, r, c, ok, theta, zt = _fit_block(x[keep], y[keep], w[:, keep], m, L, lam, method)
    if not bool(ok[0]):
        return None
    xd, yd, wd = x[~keep], y[~keep], w[0, ~keep]
    q = -0.5 * ((xd @ R[0]) * xd).sum(1) + xd @ r[0] + c[0]
    zd2 = ((xd - m[0]) @ torch.linalg.inv(L[0] if L.dim() == 3 else torch.diag(L[0])).t()).pow(2).sum(1)
    z2 = zt[0].pow(2).sum(0)
    fnorm = lambda t: (t * t + t).sqrt()                          # |f| <= sqrt(|z|^4 + |z|^2)
    fd = fnorm(zd2) + fnorm(z2).max()                            # >= |f_d - f_bar|
    bound = (wd * fd * (yd - q).abs()).sum() / lam[0]
    hess = (wd * fd * fd).sum() / lam[0]                          # the left-out curvature, relative to lam
    if not bool(torch.isfinite(bound)) or bound > tol * theta.norm() or hess > tol:
        return None
    return R, r, c, ok


def fit_quadratic(x: Tensor, y: Tensor, weights: Tensor, means: Tensor, chols: Tensor, regularizers: Tensor,
                  method: str = "auto", prune_below: float = 1e-60) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Weighted ridge regression of a quadratic ``-1/2 x^T R x + x^T r + c`` on ``y``, per component.

    The fit is done in each component's whitened coordinates ``z = L_k^{-1} (x - mu_k)`` and mapped
    back. The ``P = D (D + 1) / 2 + D + 1`` coefficients solve the normal equations
    ``(F^T W F + lam I') theta = F^T W y`` (``I'`` without the bias). They are computed from
    centred features (which eliminates the bias), from the ``[P - 1, P - 1]`` normal equations
    with iterative refinement, or, with fewer samples than coefficients, cheaper from the
    ``[N, N]`` dual system (``method``); both match an SVD least-squares solution to about
    ``1e-10`` relative also when the weights span many decades and ``lam`` is ``1e-12``.

    Samples whose importance weight for a component is below ``prune_below`` times the largest
    (typically those drawn by distant components) are left out of that component's fit when a
    first-order bound shows that this moves the solution by less than ``1e-13`` relative
    (checked after the fit; otherwise the component is fitted on all samples).

    Arguments:
        x: ``[N, D]``; y: ``[N]``; weights: ``[K, N]`` (negative values count as 0).
        means: ``[K, D]``; chols: ``[K, D, D]`` or ``[K, D]`` (diagonal).
        regularizers: ``[K]``, ridge coefficient (the constant feature is not regularized).
        method: ``"primal"`` (``[P, P]`` normal equations), ``"dual"`` (``[N, N]`` system, meant for
            ``N < P``) or ``"auto"`` (dual when ``N < P``, which is cheaper; the two agree there).
        prune_below: relative weight below which samples may be left out (``0``: never).

    Returns:
        ``(R [K, D, D], r [K, D], c [K], ok [K])``, ``ok`` false where the linear system could not be solved.

    Example:
        >>> x = torch.randn(50, 2, dtype=torch.float64)
        >>> y = -0.5 * (x ** 2).sum(1) + x[:, 0]
        >>> R, r, c, ok = fit_quadratic(x, y, torch.ones(1, 50, dtype=torch.float64), torch.zeros(1, 2,
        ...     dtype=torch.float64), torch.eye(2, dtype=torch.float64)[None], torch.full((1,), 1e-12,
        ...     dtype=torch.float64))
        >>> torch.allclose(R[0], torch.eye(2, dtype=torch.float64)), bool(ok[0])
        (True, True)
    """
    if method not in ("auto", "primal", "dual"):
        raise ValueError(f"fit_quadratic: method={method!r} is not known; expected 'auto', 'primal' or 'dual'")
    K, D = means.shape
    N = x.shape[0]
    P = D * (D + 1) // 2 + D + 1
    weights = weights.clamp(min=0.0)
    keep = weights >= prune_below * weights.amax(1, keepdim=True)                   # [K, N]
    pruned = {}
    for k in torch.nonzero(~keep.all(1) & keep.any(1)).flatten().tolist():
        fit = _pruned_fit(x, y, weights[k:k + 1], means[k:k + 1], chols[k:k + 1], regularizers[k:k + 1],
                          keep[k], method, 1e-13)
        if fit is not None:
            pruned[k] = fit
    rest = [k for k in range(K) if k not in pruned]
    outs = dict(pruned)
    chunk = max(1, (1 << 24) // max(1, N * P))
    for s in range(0, len(rest), chunk):
        idx = torch.tensor(rest[s:s + chunk])
        R, r, c, ok, _, _ = _fit_block(x, y, weights[idx], means[idx], chols[idx], regularizers[idx], method)
        for j, k in enumerate(rest[s:s + chunk]):
            outs[k] = (R[j:j + 1], r[j:j + 1], c[j:j + 1], ok[j:j + 1])
    return tuple(torch.cat([outs[k][i] for k in range(K)], 0) for i in range(4))


@NG_ESTIMATORS.register("MORE", aliases=("Z", "more"), reserved=("model", "temperature"))
class MoreNgEstimator(NgEstimator):
    """Zero-order estimate from a quadratic fit of the log-ratio (Z).

    Arguments:
        initial_l2_regularizer: the ridge coefficient the components start with (the component updaters
            adapt it per component: halved after a successful update, raised after a failed one).
    """

    requires_gradients = False

    def __init__(self, model: GaussianMixture, temperature: float = 1.0, only_use_own_samples: bool = False,
                 use_self_normalized_importance_weights: bool = True, initial_l2_regularizer: float = 1e-12):
        super().__init__(model, temperature, only_use_own_samples, use_self_normalized_importance_weights)
        self.initial_l2_regularizer = float(initial_l2_regularizer)

    def _weights(self, comp, background, relative_mapping):
        if self.only_use_own_samples or self.use_self_normalized_importance_weights:
            return super()._weights(comp, background, relative_mapping)
        return (comp - background.unsqueeze(0)).exp()        # standard weights, unscaled (as in the framework)

    def get_expected_hessian_and_grad(self, samples, relative_mapping, background, target_lnpdfs, target_grads):
        q = self.model
        logq, comp = q.log_densities_also_individual(samples)
        y = target_lnpdfs - self.temperature * logq
        W = self._weights(comp, background, relative_mapping)
        R, r, _, _ = fit_quadratic(samples, y, W, q.means, q.chols, q.l2_regularizers)
        grad_neg = (R @ q.means.unsqueeze(-1)).squeeze(-1) - r
        hess_neg = torch.diagonal(R, dim1=-2, dim2=-1) if q.diagonal else R
        return hess_neg, grad_neg
