"""Component updates along the natural gradient (design choice 4), batched over components.

From ``R_k = -E[hess r]`` and ``g_k = -E[grad r]`` (see :mod:`ovis.gmmvi.ng_estimators`)
and the step sizes ``beta_k``:

* ``direct`` (I): precision ``P + beta R``, linear term ``P mu + beta (R mu - g)``.
* ``iBLR`` (Y): the improved Bayesian learning rule, precision
  ``P + beta (R + beta/2 R Sigma R)`` (positive definite by construction) and mean
  ``mu - beta Sigma g`` (no mean step on a component's first update).
* ``trust-region`` (T): the step size is a bound ``epsilon_k`` on
  ``KL(q_new(x|k) || q_old(x|k))``; the update is the natural-gradient step
  ``P + R / eta``, ``P mu + (R mu - g) / eta`` with the smallest
  ``eta >= temperature`` inside the bound, found by bisection on ``log eta``
  (warm-started around the previous ``eta``), for all components at once.

A failed update (not positive definite, no feasible ``eta``) keeps the old
component and raises its MORE regularizer ``min(1e-6, 10 reg)``; a successful one
lowers it to ``max(reg / 2, initial)``.

References:
    | Arenz, Neumann, Zhong, "Efficient Gradient-Free Variational Inference using Policy Search" (ICML 2018)
    | Lin, Schmidt, Khan, "Handling the Positive-Definite Constraint in the Bayesian Learning Rule" (ICML 2020)
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor

from .choices import COMPONENT_UPDATERS, Stateful
from .mixture import GaussianMixture

__all__ = ["ComponentUpdater", "DirectComponentUpdater", "IblrComponentUpdater", "TrustRegionComponentUpdater",
           "gaussian_kl"]


def _mv(A: Tensor, v: Tensor) -> Tensor:
    return (A @ v.unsqueeze(-1)).squeeze(-1)


def gaussian_kl(mean_new: Tensor, chol_new: Tensor, mean_old: Tensor, chol_old: Tensor) -> Tensor:
    """``KL(N(mean_new, L_new L_new^T) || N(mean_old, L_old L_old^T))`` per component.

    Arguments:
        mean_new, mean_old: ``[K, D]``; chol_new, chol_old: ``[K, D, D]`` or standard deviations ``[K, D]``.

    Returns:
        ``[K]``.
    """
    D = mean_new.shape[-1]
    if chol_new.dim() == 2:
        ratio = (chol_new / chol_old) ** 2
        maha = (((mean_new - mean_old) / chol_old) ** 2).sum(-1)
        return 0.5 * (ratio.sum(-1) - ratio.log().sum(-1) - D + maha)
    M = torch.linalg.solve_triangular(chol_old, chol_new, upper=False)
    z = torch.linalg.solve_triangular(chol_old, (mean_new - mean_old).unsqueeze(-1), upper=False).squeeze(-1)
    logdet = 2 * (torch.diagonal(chol_old, dim1=-2, dim2=-1).log() - torch.diagonal(chol_new, dim1=-2, dim2=-1).log())
    return 0.5 * (M.pow(2).sum((-1, -2)) + z.pow(2).sum(-1) - D + logdet.sum(-1))


def _chol_of_inverse(precision: Tensor) -> Tuple[Tensor, Tensor]:
    """Cholesky factor of ``precision^{-1}`` ``[K, D, D]`` and a success flag ``[K]``."""
    LP, info = torch.linalg.cholesky_ex(precision)
    ok = info == 0
    LP = torch.where(ok.view(-1, 1, 1), LP, torch.eye(precision.shape[-1], dtype=precision.dtype))
    cov = torch.cholesky_inverse(LP)
    L, info2 = torch.linalg.cholesky_ex(cov)
    ok = ok & (info2 == 0) & torch.isfinite(L).all(-1).all(-1)
    return L, ok


class ComponentUpdater(Stateful):
    """Common part: bookkeeping after an update.

    Arguments:
        model: the mixture.
        temperature: the entropy weight ``beta``.
    """

    def __init__(self, model: GaussianMixture, temperature: float = 1.0):
        self.model = model
        self.temperature = float(temperature)

    def _finish(self, ok: Tensor, means: Tensor, chols: Tensor) -> None:
        q = self.model
        okv = ok.view(-1, *([1] * (chols.dim() - 1)))
        q.replace_components(torch.where(ok.unsqueeze(1), means, q.means), torch.where(okv, chols, q.chols))
        reg = q.l2_regularizers
        q.l2_regularizers = torch.where(ok, torch.clamp(0.5 * reg, min=q.initial_regularizer),
                                        torch.clamp(10 * reg, max=1e-6))
        q.num_received_updates = q.num_received_updates + 1

    def apply_NG_update(self, expected_hessians_neg: Tensor, expected_gradients_neg: Tensor,
                        stepsizes: Tensor) -> None:
        """Update every component in place.

        Arguments:
            expected_hessians_neg: ``[K, D, D]`` (or ``[K, D]`` diagonal).
            expected_gradients_neg: ``[K, D]``.
            stepsizes: ``[K]``.
        """
        raise NotImplementedError


@COMPONENT_UPDATERS.register("direct", aliases=("I",), reserved=("model", "temperature"))
class DirectComponentUpdater(ComponentUpdater):
    """The plain natural-gradient step (I)."""

    def apply_NG_update(self, expected_hessians_neg, expected_gradients_neg, stepsizes):
        q, R, g, b = self.model, expected_hessians_neg, expected_gradients_neg, stepsizes.unsqueeze(-1)
        P = q.precisions()
        if q.diagonal:
            new_P = P + b * R
            new_lin = P * q.means + b * (R * q.means - g)
            ok = (new_P > 0).all(-1) & torch.isfinite(new_P).all(-1)
            safe = torch.where(new_P > 0, new_P, torch.ones_like(new_P))
            means, chols = new_lin / safe, safe.rsqrt()
        else:
            new_P = P + b.unsqueeze(-1) * R
            new_lin = _mv(P, q.means) + b * (_mv(R, q.means) - g)
            chols, ok = _chol_of_inverse(new_P)
            means = _mv(chols @ chols.transpose(1, 2), new_lin)
        ok = ok & torch.isfinite(means).all(-1)
        self._finish(ok, means, chols)


@COMPONENT_UPDATERS.register("iBLR", aliases=("Y", "iblr"), reserved=("model", "temperature"))
class IblrComponentUpdater(ComponentUpdater):
    """The improved Bayesian learning rule (Y)."""

    def apply_NG_update(self, expected_hessians_neg, expected_gradients_neg, stepsizes):
        q, R, g, b = self.model, expected_hessians_neg, expected_gradients_neg, stepsizes.unsqueeze(-1)
        first = (q.num_received_updates == 0).unsqueeze(-1)
        if q.diagonal:
            S = q.chols ** 2
            new_P = q.precisions() + b * (R + 0.5 * b * R * S * R)
            means = torch.where(first, q.means, q.means - b * S * g)
            ok = (new_P > 0).all(-1) & torch.isfinite(new_P).all(-1)
            chols = torch.where(new_P > 0, new_P, torch.ones_like(new_P)).rsqrt()
        else:
            S = q.covs
            bb = b.unsqueeze(-1)
            new_P = q.precisions() + bb * (R + 0.5 * bb * R @ S @ R)
            new_P = 0.5 * (new_P + new_P.transpose(1, 2))
            means = torch.where(first, q.means, q.means - b * _mv(S, g))
            chols, ok = _chol_of_inverse(new_P)
        ok = ok & torch.isfinite(means).all(-1)
        self._finish(ok, means, chols)


@COMPONENT_UPDATERS.register("trust-region", aliases=("T",), reserved=("model", "temperature"))
class TrustRegionComponentUpdater(ComponentUpdater):
    """The largest natural-gradient step inside a KL trust region per component (T).

    Arguments:
        max_iterations: bisection steps at most (the search also stops once the bracket is narrow,
            or the KL is within 10% below the bound).
    """

    def __init__(self, model: GaussianMixture, temperature: float = 1.0, max_iterations: int = 1000):
        super().__init__(model, temperature)
        self.max_iterations = int(max_iterations)

    def _candidate(self, eta: Tensor, old: dict) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(kl [K], mean [K, D], chol [K, D(, D)], ok [K])`` for multipliers ``eta [K]``."""
        q = self.model
        e = eta.unsqueeze(-1)
        if q.diagonal:
            new_P = old["P"] + old["R"] / e
            new_lin = old["lin"] + old["r"] / e
            ok = (new_P > 0).all(-1) & torch.isfinite(new_P).all(-1)
            safe = torch.where(new_P > 0, new_P, torch.ones_like(new_P))
            mean, chol = new_lin / safe, safe.rsqrt()
        else:
            new_P = old["P"] + old["R"] / e.unsqueeze(-1)
            new_lin = old["lin"] + old["r"] / e
            chol, ok = _chol_of_inverse(new_P)
            mean = _mv(chol @ chol.transpose(1, 2), new_lin)
        ok = ok & torch.isfinite(mean).all(-1)
        kl = gaussian_kl(mean, chol, q.means, q.chols)
        kl = torch.where(ok & torch.isfinite(kl), kl.clamp(min=0.0), torch.full_like(kl, math.inf))
        return kl, mean, chol, ok

    def _candidate_kl(self, eta: Tensor, old: dict) -> Tensor:
        """``[K]``, only the KL of the candidates for ``eta [K]`` (inf where infeasible), in closed form from the
        new precision's Cholesky factor: ``KL = (tr(P_old S) + |mu - mu_old|^2_P_old - D + log|S_old| - log|S|) / 2``."""
        q = self.model
        e = eta.unsqueeze(-1)
        D = q.num_dimensions
        if q.diagonal:
            return self._candidate(eta, old)[0]
        new_P = old["P"] + old["R"] / e.unsqueeze(-1)
        LP, info = torch.linalg.cholesky_ex(new_P)
        ok = info == 0
        LP = torch.where(ok.view(-1, 1, 1), LP, torch.eye(D, dtype=new_P.dtype))
        cov = torch.cholesky_inverse(LP)
        mean = _mv(cov, old["lin"] + old["r"] / e)
        diff = mean - q.means
        logdet_new = -2 * torch.diagonal(LP, dim1=-2, dim2=-1).log().sum(-1)
        kl = 0.5 * ((old["P"] * cov).sum((-1, -2)) + (diff * _mv(old["P"], diff)).sum(-1) - D
                    + old["logdet"] - logdet_new)
        ok = ok & torch.isfinite(kl)
        return torch.where(ok, kl.clamp(min=0.0), torch.full_like(kl, math.inf))

    def bracketing_search(self, kl_bound: Tensor, lower: Tensor, upper: Tensor, old: dict) -> Tuple[Tensor, Tensor]:
        """Bisection on ``log eta`` for all components; returns ``(lower, upper)`` as ``eta`` (not log),
        equal where a feasible ``eta`` was found."""
        q = self.model
        if not q.diagonal and "logdet" not in old:
            old = dict(old, logdet=2 * torch.diagonal(q.chols, dim1=-2, dim2=-1).log().sum(-1))
        eta = 0.5 * (lower + upper)
        ub_ok = torch.zeros_like(lower, dtype=torch.bool)
        active = torch.ones_like(ub_ok)
        for _ in range(self.max_iterations):
            diff = torch.minimum(upper.exp() - eta.exp(), eta.exp() - lower.exp())
            active = active & (diff >= 0.1)
            if not bool(active.any()):
                break
            kl = self._candidate_kl(eta.exp(), old)
            close = active & ((kl_bound - kl).abs() < 0.1 * kl_bound) & (kl <= kl_bound)
            lower = torch.where(close, eta, lower)
            upper = torch.where(close, eta, upper)
            smaller = active & ~close & (kl < kl_bound)
            upper = torch.where(smaller, eta, upper)
            ub_ok = ub_ok | smaller
            lower = torch.where(active & ~close & ~smaller, eta, lower)
            active = active & ~close
            eta = torch.where(active, 0.5 * (lower + upper), eta)
        lower = torch.where(ub_ok, upper, lower)
        return lower.exp(), upper.exp()

    def apply_NG_update(self, expected_hessians_neg, expected_gradients_neg, stepsizes):
        q, R, g = self.model, expected_hessians_neg, expected_gradients_neg
        P = q.precisions()
        if q.diagonal:
            old = dict(P=P, R=R, lin=P * q.means, r=R * q.means - g)
        else:
            old = dict(P=P, R=R, lin=_mv(P, q.means), r=_mv(R, q.means) - g)
        warm = q.last_etas > 0
        log_last = torch.where(warm, q.last_etas, torch.ones_like(q.last_etas)).log()
        lower = torch.where(warm, (log_last - 3).clamp(min=0.0), torch.full_like(log_last, -20.0))
        upper = torch.where(warm, log_last + 3, torch.full_like(log_last, 80.0))
        lo, up = self.bracketing_search(stepsizes, lower, upper, old)
        found = lo == up
        eta = torch.clamp(lo, min=self.temperature)
        _, means, chols, ok = self._candidate(eta, old)
        ok = ok & found
        q.last_etas = torch.where(ok, eta, -torch.ones_like(eta))
        self._finish(ok, means, chols)
