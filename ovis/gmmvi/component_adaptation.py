"""Adapting the number of components (design choice 2).

* ``fixed`` (E): never changes the components.
* ``adaptive`` (A, VIPS heuristics):

  - every ``add_iters`` iterations (while below ``max_components``) a component is
    added at the sample-DB sample with the highest reward
    ``log p~(x) - max(max_x log q(x) - threshold, log q(x))``, the threshold cycling
    through ``thresholds_for_add_heuristic``; it starts with weight ``1e-29`` and an
    isotropic covariance whose entropy mixes the model's average component
    entropy with that of the initial (prior) Gaussian, by a uniform random factor;
  - after ``del_iters`` iterations, every iteration deletes the components that are
    stagnating (Gaussian-smoothed reward improved by at most 40% of the gap to the
    best component over the last ``del_iters`` iterations), whose weight (actual, or
    the greedy ``softmax`` of the rewards) stayed below ``min_weight_for_del_heuristic``
    and that are at least ``del_iters`` iterations old.

References:
    | Arenz, Zhong, Neumann, "Trust-Region Variational Inference with Gaussian Mixture Models" (JMLR 2020)
"""
from __future__ import annotations

import math
from typing import Optional, Sequence, Union

import torch
from torch import Tensor

from .choices import COMPONENT_ADAPTERS, Stateful
from .mixture import HISTORY_SENTINEL, LOG_2PI, GaussianMixture
from .sample_db import SampleDB

__all__ = ["FixedComponentAdaptation", "AdaptiveComponentAdaptation"]


@COMPONENT_ADAPTERS.register("fixed", aliases=("E",), reserved=("model", "sample_db", "target", "prior_mean",
                                                                   "initial_cov"))
class FixedComponentAdaptation(Stateful):
    """A fixed number of components (E)."""

    def __init__(self, model: GaussianMixture = None, sample_db: SampleDB = None, target=None,
                 prior_mean=None, initial_cov=None):
        self.model = model

    def adapt_number_of_components(self, iteration: int) -> None:
        """Called after iteration ``iteration`` (1-based)."""


@COMPONENT_ADAPTERS.register("adaptive", aliases=("A",), reserved=("model", "sample_db", "target", "prior_mean",
                                                                      "initial_cov"))
class AdaptiveComponentAdaptation(Stateful):
    """Add components where the reward is high, delete stagnating low-weight ones (A).

    Arguments:
        del_iters: the deletion window (and the age a component needs before it can be deleted).
        add_iters: a component is added every ``add_iters`` iterations.
        max_components: no component is added beyond this number.
        thresholds_for_add_heuristic: the cycle of thresholds of the adding reward.
        min_weight_for_del_heuristic: components whose weight stayed below this may be deleted.
        num_database_samples: sample-DB samples considered as new locations.
        num_prior_samples: additional candidate locations drawn from the initial Gaussian (evaluated on the target).
    """

    _state = ("num_calls_to_add_heuristic", "reward_improvements")

    def __init__(self, model: GaussianMixture, sample_db: SampleDB, target, prior_mean, initial_cov,
                 del_iters: int = 100, add_iters: int = 30, max_components: int = 1000,
                 thresholds_for_add_heuristic: Union[float, Sequence[float]] = (5000.0, 1000.0, 500.0, 200.0,
                                                                                 100.0, 50.0),
                 min_weight_for_del_heuristic: float = 1e-6, num_database_samples: int = 100000,
                 num_prior_samples: int = 0):
        if del_iters < 1 or add_iters < 1:
            raise ValueError(f"del_iters and add_iters must be >= 1, got {del_iters} and {add_iters}")
        self.model, self.sample_db, self.target = model, sample_db, target
        D, dt = model.num_dimensions, model.dtype
        if prior_mean is not None and initial_cov is not None:
            pm = torch.as_tensor(prior_mean, dtype=dt).expand(D).clone()
            ic = torch.as_tensor(initial_cov, dtype=dt).expand(D).clone()
            self.prior = (pm, ic.sqrt())
        else:
            self.prior = None
        self.del_iters, self.add_iters = int(del_iters), int(add_iters)
        self.max_components = int(max_components)
        self.thresholds = torch.as_tensor(thresholds_for_add_heuristic, dtype=dt).reshape(-1)
        self.min_weight_for_del_heuristic = float(min_weight_for_del_heuristic)
        self.num_database_samples = int(num_database_samples)
        self.num_prior_samples = int(num_prior_samples)
        self.num_calls_to_add_heuristic = 0
        self.reward_improvements = torch.zeros(0, dtype=dt)
        self.filter_delay = self.del_iters // 3
        t = torch.arange(-self.filter_delay, self.filter_delay, dtype=dt)
        kernel = torch.exp(-0.5 * (t / (self.del_iters / 8.0)) ** 2)
        self.kernel = kernel / kernel.sum()

    def adapt_number_of_components(self, iteration: int) -> None:
        """Called after iteration ``iteration`` (1-based)."""
        if iteration > self.del_iters:
            self.delete_bad_components()
        if iteration > 1 and iteration % self.add_iters == 0 and self.model.num_components < self.max_components:
            self.add_new_component()

    def prior_entropy(self) -> Tensor:
        _, std = self.prior
        return 0.5 * std.numel() * (LOG_2PI + 1.0) + std.log().sum()

    def add_new_component(self) -> None:
        """Add one component at the best location (sample DB and optional prior samples)."""
        q = self.model
        self.num_calls_to_add_heuristic += 1
        samples, lnpdfs = self.sample_db.get_random_sample(self.num_database_samples)
        if self.num_prior_samples > 0 and self.prior is not None:
            mean, std = self.prior
            x = mean + std * torch.randn(self.num_prior_samples, q.num_dimensions, dtype=q.dtype)
            self.sample_db.num_samples_written += self.num_prior_samples
            with torch.no_grad():
                lp = self.target.log_density(x).to(q.dtype)
            samples, lnpdfs = torch.cat((samples, x)), torch.cat((lnpdfs, lp))
        if samples.shape[0] == 0:
            return
        threshold = self.thresholds[self.num_calls_to_add_heuristic % self.thresholds.numel()]
        logq = q.log_density(samples)
        rewards = lnpdfs - torch.maximum(logq.max() - threshold, logq)
        new_mean = samples[torch.argmax(rewards)]
        if self.prior is not None:
            a = torch.rand((), dtype=q.dtype)
            entropy = q.average_entropy() * a + self.prior_entropy() * (1 - a)
        else:
            entropy = q.average_entropy()
        D = q.num_dimensions
        c = torch.exp(2 * (entropy - 0.5 * D * (LOG_2PI + 1.0)) / D)
        cov = c * torch.ones(D, dtype=q.dtype) if q.diagonal else c * torch.eye(D, dtype=q.dtype)
        q.add_component(1e-29, new_mean, cov, float(threshold), float(entropy))

    def delete_bad_components(self) -> None:
        """Delete the components that are stagnating, light and old enough."""
        q = self.model
        h = q.reward_history
        n, d = self.kernel.numel(), self.del_iters
        if h.shape[1] < n + d:
            return
        current = (h[:, -n:] * self.kernel).mean(1)
        old = (h[:, -n - d:-d] * self.kernel).mean(1)
        best = current.max()
        old, current = old - best, current - best
        improvements = (current - old) / old.abs()
        self.reward_improvements = improvements
        max_actual = q.weight_history[:, -n - d:-1].max(1).values
        window = h[:, -n - d:]
        max_greedy = (window - torch.logsumexp(window, 0, keepdim=True)).exp().max(1).values
        max_weights = torch.maximum(max_actual, max_greedy)
        bad = (improvements <= 0.4) & (max_weights < self.min_weight_for_del_heuristic) & (h[:, -d] != HISTORY_SENTINEL)
        if bool(bad.any()) and int(bad.sum()) < q.num_components:
            q.remove_components(torch.nonzero(bad).squeeze(1))
