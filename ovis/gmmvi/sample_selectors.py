"""Sample selection (design choice 3): which samples an iteration draws, reuses and evaluates.

* ``component-based`` (M, VIPS): reuse the newest
  ``floor(ratio * desired) * K`` samples, compute each component's effective
  sample size under them and draw the missing ``max(1, desired - n_eff)`` from
  each component.
* ``mixture-based`` (P, iBayes-GMM): the same two passes for the mixture as a
  whole; with ``ratio_reused_samples_to_desired = 0`` it draws ``desired`` fresh
  samples from the mixture every iteration.

Both evaluate the new samples on the target (log-density, and its gradient when
the natural-gradient estimator needs it), store them in the sample DB and
return the selected samples with their background log-densities.

References:
    | Efficient Gradient-Free Variational Inference using Policy Search (Arenz, Neumann, Zhong, ICML 2018)
    | Fast and Simple Natural-Gradient Variational Inference with Mixture of Exponential-family
    | Approximations (Lin, Khan, Schmidt, ICML 2019)
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
from torch import Tensor

from .choices import SAMPLE_SELECTORS, Stateful
from .mixture import GaussianMixture
from .sample_db import SampleDB

__all__ = ["SampleSelector", "ComponentBasedSampleSelector", "MixtureBasedSampleSelector", "effective_sample_size"]


def effective_sample_size(model_log_densities: Tensor, background_log_densities: Tensor) -> Tensor:
    """Effective sample size of self-normalized importance weights, per row.

    Arguments:
        model_log_densities: ``[K, N]`` (or ``[N]``) log-densities of the distributions to estimate under.
        background_log_densities: ``[N]`` log-density of the distribution that drew the samples.

    Returns:
        ``[K]`` (or scalar), ``1 / sum_n w_kn^2`` with ``w_k`` normalized.
    """
    log_w = model_log_densities - background_log_densities
    log_w = log_w - torch.logsumexp(log_w, -1, keepdim=True)
    return 1.0 / (2 * log_w).exp().sum(-1)


class SampleSelector(Stateful):
    """Common part: evaluating the target and storing the new samples.

    Arguments:
        target: an object with ``log_density(x) -> [N]`` and ``log_density_and_grad(x) -> ([N], [N, D])``.
        model: the mixture.
        sample_db: the database.
        desired_samples_per_component: desired (effective) number of samples per component / for the mixture.
        ratio_reused_samples_to_desired: how many of the newest samples to reuse, relative to the desired number.
    """

    def __init__(self, target, model: GaussianMixture, sample_db: SampleDB, desired_samples_per_component: int = 100,
                 ratio_reused_samples_to_desired: float = 0.0):
        if desired_samples_per_component < 1:
            raise ValueError(f"desired_samples_per_component must be >= 1, got {desired_samples_per_component}")
        if ratio_reused_samples_to_desired < 0:
            raise ValueError(f"ratio_reused_samples_to_desired must be >= 0, got {ratio_reused_samples_to_desired}")
        self.target = target
        self.model = model
        self.sample_db = sample_db
        self.desired_samples_per_component = int(desired_samples_per_component)
        self.reused_samples_per_component = int(math.floor(ratio_reused_samples_to_desired
                                                           * desired_samples_per_component))
        #: set by GMMVI: whether the natural-gradient estimator needs target gradients
        self.requires_gradients = True

    def evaluate_target(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(log p(x) [N], grad log p(x) [N, D])``; the gradient is zeros when not required."""
        if self.requires_gradients:
            lnpdf, grad = self.target.log_density_and_grad(x)
        else:
            with torch.no_grad():
                lnpdf = self.target.log_density(x)
            grad = torch.zeros_like(x)
        return lnpdf.to(x.dtype).detach(), grad.to(x.dtype).detach()

    def _new_samples(self, x: Tensor, mapping: Tensor, num_reused: int):
        lnpdf, grad = self.evaluate_target(x)
        self.sample_db.add_samples(x, self.model.means, self.model.chols, lnpdf, grad, mapping)
        return self.sample_db.get_newest_samples(num_reused + x.shape[0])

    def select_samples(self) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Draw, evaluate and store new samples; return the selected ones.

        Returns:
            ``(samples [N, D], mapping [N], background log-densities [N], target_lnpdfs [N], target_grads [N, D])``;
            ``mapping`` indexes the sample DB's Gaussians.
        """
        raise NotImplementedError


@SAMPLE_SELECTORS.register("component-based", aliases=("M",), reserved=("target", "model", "sample_db"))
class ComponentBasedSampleSelector(SampleSelector):
    """Component-based selection (M): a desired effective sample size for every component."""

    def select_samples(self):
        K = self.model.num_components
        background, old, _, _, _ = self.sample_db.get_newest_samples(self.reused_samples_per_component * K)
        if old.shape[0] == 0:
            n_eff = torch.zeros(K, dtype=torch.long)
        else:
            n_eff = effective_sample_size(self.model.component_log_densities(old), background).floor().long()
        counts = (self.desired_samples_per_component - n_eff).clamp(min=1)
        x, mapping = self.model.sample_from_components(counts)
        background, samples, mapping, lnpdfs, grads = self._new_samples(x, mapping, old.shape[0])
        return samples, mapping, background, lnpdfs, grads


@SAMPLE_SELECTORS.register("mixture-based", aliases=("P",), reserved=("target", "model", "sample_db"))
class MixtureBasedSampleSelector(SampleSelector):
    """Mixture-based selection (P): a desired effective sample size for the whole mixture."""

    def select_samples(self):
        K = self.model.num_components
        background, old, _, _, _ = self.sample_db.get_newest_samples(self.reused_samples_per_component * K)
        if old.shape[0] == 0:
            n_eff = 0
        else:
            n_eff = int(effective_sample_size(self.model.log_density(old), background).floor())
        x, mapping = self.model.sample(max(1, self.desired_samples_per_component - n_eff))
        background, samples, mapping, lnpdfs, grads = self._new_samples(x, mapping, old.shape[0])
        return samples, mapping, background, lnpdfs, grads
