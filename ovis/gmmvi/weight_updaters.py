"""Weight updates (design choice 7 in the code word's order: the sixth letter).

Both updaters first estimate, for every component, the expected log-ratio
``E_{q(x|k)}[log p~(x) - beta log q(x)]`` (importance weighted, standard or
self-normalized), store the component rewards ``beta log w_k + E[...]`` in the
mixture's reward history, and then

* ``direct`` (U): ``log w <- log w + (stepsize / beta) E[...]``, renormalized;
* ``trust-region`` (O): ``log w <- log w + E[...] / (beta + eta)``, renormalized, with the
  smallest ``eta`` whose ``KL(w_new || w_old)`` stays within the step size, by bisection
  on ``log eta`` in ``[-45, 45]``.

Weights are floored at ``1e-30`` (log ``-69.07``). With a single component nothing changes.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor

from .choices import WEIGHT_UPDATERS, Stateful
from .mixture import GaussianMixture
from .ng_estimators import importance_weights

__all__ = ["WeightUpdater", "DirectWeightUpdater", "TrustRegionWeightUpdater", "categorical_kl"]

LOG_MIN_WEIGHT = -69.07


def categorical_kl(log_p: Tensor, log_q: Tensor) -> Tensor:
    """``KL(p || q)`` of two categorical distributions given by normalized log-probabilities ``[K]``."""
    return (log_p.exp() * (log_p - log_q)).sum()


def _normalize_with_floor(unnormalized: Tensor) -> Tensor:
    lw = unnormalized - torch.logsumexp(unnormalized, 0)
    lw = lw.clamp(min=LOG_MIN_WEIGHT)
    return lw - torch.logsumexp(lw, 0)


class WeightUpdater(Stateful):
    """Common part: the expected log-ratios and the stored rewards.

    Arguments:
        model: the mixture.
        temperature: the entropy weight ``beta``.
        use_self_normalized_importance_weights: self-normalized instead of standard importance weights.
    """

    def __init__(self, model: GaussianMixture, temperature: float = 1.0,
                 use_self_normalized_importance_weights: bool = True):
        self.model = model
        self.temperature = float(temperature)
        self.use_self_normalized_importance_weights = bool(use_self_normalized_importance_weights)

    def expected_log_ratios(self, samples: Tensor, background: Tensor, target_lnpdfs: Tensor) -> Tensor:
        """``[K]``; also stores the component rewards in the model's reward history."""
        q = self.model
        logq, comp = q.log_densities_also_individual(samples)
        log_ratios = target_lnpdfs - self.temperature * logq
        W = importance_weights(comp, background, None, self.use_self_normalized_importance_weights)
        elr = W @ log_ratios
        q.store_rewards(self.temperature * q.log_weights + elr)
        return elr

    def update_weights(self, samples: Tensor, background: Tensor, target_lnpdfs: Tensor, stepsize: float) -> None:
        """One weight update from ``samples [N, D]``, their background log-densities ``[N]`` and target
        log-densities ``[N]``."""
        elr = self.expected_log_ratios(samples, background, target_lnpdfs)
        if self.model.num_components > 1:
            self.model.replace_weights(self.new_log_weights(elr, stepsize))

    def new_log_weights(self, expected_log_ratios: Tensor, stepsize: float) -> Tensor:
        raise NotImplementedError


@WEIGHT_UPDATERS.register("direct", aliases=("U",), reserved=("model", "temperature"))
class DirectWeightUpdater(WeightUpdater):
    """The plain natural-gradient step on the log-weights (U)."""

    def new_log_weights(self, expected_log_ratios, stepsize):
        return _normalize_with_floor(self.model.log_weights + stepsize / self.temperature * expected_log_ratios)


@WEIGHT_UPDATERS.register("trust-region", aliases=("O",), reserved=("model", "temperature"))
class TrustRegionWeightUpdater(WeightUpdater):
    """The largest natural-gradient step on the weights inside a KL bound (O)."""

    def candidate(self, eta: float, expected_log_ratios: Tensor) -> Tuple[float, Tensor]:
        """``(KL(w_new || w_old), log w_new [K])`` for the multiplier ``eta``."""
        old = self.model.log_weights
        new = _normalize_with_floor(old + expected_log_ratios / (self.temperature + eta))
        return float(categorical_kl(new, old)), new

    def new_log_weights(self, expected_log_ratios, kl_bound):
        import math
        lower, upper = -45.0, 45.0
        log_eta = 0.5 * (lower + upper)
        upper_ok = False
        for _ in range(50):
            if abs(math.exp(upper) - math.exp(lower)) < 1e-1:
                break
            kl, new = self.candidate(math.exp(log_eta), expected_log_ratios)
            if abs(kl_bound - kl) < 0.1 * kl_bound and kl <= kl_bound:
                return new
            if kl < kl_bound:
                upper, upper_ok = log_eta, True
            else:
                lower = log_eta
            log_eta = 0.5 * (lower + upper)
        if upper_ok:
            return self.candidate(math.exp(upper), expected_log_ratios)[1]
        return self.model.log_weights
