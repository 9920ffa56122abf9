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

from typing import Tuple

import torch
from torch import Tensor

from .choices import NG_ESTIMATORS, Stateful
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
        chunk = K if pds is not None else max(1, (1 << 24) // max(1, N * D))
        hess = []
        for s in range(0, K, chunk):
            pd = pds if pds is not None else q.precision_times_diffs(samples, s, s + chunk)   # [k, N, D]
            wg = W[s:s + chunk].unsqueeze(-1) * g                                # [k, N, D]
            if q.diagonal:
                hess.append((wg * pd).sum(1))
            else:
                h = wg.transpose(1, 2) @ pd                                      # sum_n w g (P (x - mu))^T
                hess.append(0.5 * (h + h.transpose(1, 2)))
        return -torch.cat(hess, 0), -expected_grad


def fit_quadratic(x: Tensor, y: Tensor, weights: Tensor, means: Tensor, chols: Tensor, regularizers: Tensor
                  ) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Weighted ridge regression of a quadratic ``-1/2 x^T R x + x^T r + c`` on ``y``, per component.

    The fit is done in each component's whitened coordinates ``z = L_k^{-1} (x - mu_k)`` and mapped back.

    Arguments:
        x: ``[N, D]``; y: ``[N]``; weights: ``[K, N]``.
        means: ``[K, D]``; chols: ``[K, D, D]`` or ``[K, D]`` (diagonal).
        regularizers: ``[K]``, ridge coefficient (the constant feature is not regularized).

    Returns:
        ``(R [K, D, D], r [K, D], c [K], ok [K])``, ``ok`` false where the linear system could not be solved.
    """
    K, D = means.shape
    N = x.shape[0]
    iu, ju = torch.triu_indices(D, D)
    P = iu.numel() + D + 1
    diagonal = chols.dim() == 2
    eye = torch.eye(D, dtype=x.dtype)
    outs = []
    chunk = max(1, (1 << 24) // max(1, N * P))
    for s in range(0, K, chunk):
        m, L, w = means[s:s + chunk], chols[s:s + chunk], weights[s:s + chunk]
        k = m.shape[0]
        diff = x.unsqueeze(0) - m.unsqueeze(1)
        if diagonal:
            z = diff / L.unsqueeze(1)
            Linv = torch.diag_embed(1.0 / L)
        else:
            Linv = torch.linalg.solve_triangular(L, eye.expand(k, D, D), upper=False)
            z = diff @ Linv.transpose(1, 2)
        feats = torch.empty(k, N, P, dtype=x.dtype)                                 # [k, N, P]
        feats[..., :iu.numel()] = z[..., iu] * z[..., ju]
        feats[..., iu.numel():-1] = z
        feats[..., -1] = 1.0
        sw = w.clamp(min=0.0).sqrt().unsqueeze(-1)                                  # weights >= 0
        feats.mul_(sw)                                                              # sqrt(w) f
        A = feats.transpose(1, 2) @ feats                                           # sum_n w f f^T
        reg = torch.ones(P, dtype=x.dtype)
        reg[-1] = 0.0
        A.diagonal(dim1=-2, dim2=-1).add_(regularizers[s:s + chunk].unsqueeze(1) * reg)
        b = (feats.transpose(1, 2) @ (sw.squeeze(-1) * y.view(1, N)).unsqueeze(-1)).squeeze(-1)
        # positive definite for a positive ridge and enough samples: Cholesky; LU where that fails
        LA, info_c = torch.linalg.cholesky_ex(A)
        theta = torch.cholesky_solve(b.unsqueeze(-1), LA).squeeze(-1)
        info = torch.zeros_like(info_c)
        bad = (info_c != 0) | ~torch.isfinite(theta).all(1)
        if bool(bad.any()):
            theta_lu, info_lu = torch.linalg.solve_ex(A[bad], b[bad])
            theta[bad], info[bad] = theta_lu, info_lu
        ok = (info == 0) & torch.isfinite(theta).all(1)
        theta = torch.where(ok.unsqueeze(1), theta, torch.zeros_like(theta))
        Q = torch.zeros(k, D, D, dtype=x.dtype)
        Q[:, iu, ju] = theta[:, :iu.numel()]
        Rw = -(Q + Q.transpose(1, 2))
        rw = theta[:, iu.numel():-1]
        R = Linv.transpose(1, 2) @ Rw @ Linv
        r = (Linv.transpose(1, 2) @ rw.unsqueeze(-1)).squeeze(-1) + (R @ m.unsqueeze(-1)).squeeze(-1)
        RM = (R @ m.unsqueeze(-1)).squeeze(-1)
        c = theta[:, -1] + (m * (-0.5 * RM - (Linv.transpose(1, 2) @ rw.unsqueeze(-1)).squeeze(-1))).sum(-1)
        outs.append((R, r, c, ok))
    return tuple(torch.cat(t, 0) for t in zip(*outs))


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
