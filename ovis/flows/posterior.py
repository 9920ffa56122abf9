r"""Conditional flows as VAE posteriors ``q(z|x)``, conditioned on the encoder's features.

A :class:`FlowPosterior` is a module ``features [n, F] -> FlowDistribution`` (batch shape ``[n]``,
event shape ``[latent_dim]``) wrapping a conditional zuko flow (MAF, NSF) or an FFJORD stack. The
distribution has everything the pathwise estimators need (``rsample``, ``log_prob``) and one more
method, :meth:`FlowDistribution.detached`: the same density with the flow's parameters *and* the
features held constant, so ``log q(z)`` carries a gradient through ``z`` only (what sticking the
landing and DReG need; :func:`ovis.estimators.evaluation.detach_distribution` calls it).

References:
    | Rezende & Mohamed (2015), Variational Inference with Normalizing Flows, https://arxiv.org/abs/1505.05770
    | Papamakarios et al. (2017), Masked Autoregressive Flow for Density Estimation, https://arxiv.org/abs/1705.07057
    | Durkan et al. (2019), Neural Spline Flows, https://arxiv.org/abs/1906.04032
    | Grathwohl et al. (2019), FFJORD, https://arxiv.org/abs/1810.01367

Example:
    >>> q = nsf_posterior(features_dim=16, latent_dim=4)
    >>> dist = q(torch.randn(8, 16))
    >>> z = dist.rsample()             # [8, 4]
    >>> dist.log_prob(z).shape, dist.detached().log_prob(z).shape
    (torch.Size([8]), torch.Size([8]))
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import zuko
from torch import Tensor, nn
from torch.distributions import Distribution, constraints

from .ffjord import FFJORD

__all__ = ["FlowPosterior", "FlowDistribution", "maf_posterior", "nsf_posterior", "ffjord_posterior"]


class FlowPosterior(nn.Module):
    r"""``q(z|x)`` as a conditional flow whose context is the encoder's features.

    Arguments:
        flow: a conditional lazy flow (``zuko.lazy.Flow``) with ``context = features_dim``.
        features_dim: size ``F`` of the features.
        latent_dim: size of ``z``.
    """

    def __init__(self, flow: zuko.lazy.Flow, features_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.flow, self.features_dim, self.latent_dim = flow, int(features_dim), int(latent_dim)

    def forward(self, features: Tensor) -> "FlowDistribution":
        """``features [n, F]`` -> a distribution of batch shape ``[n]``, event shape ``[latent_dim]``."""
        if features.dim() != 2 or features.shape[-1] != self.features_dim:
            raise ValueError(f"{type(self).__name__} expects features [n, {self.features_dim}], "
                             f"got {tuple(features.shape)}")
        return FlowDistribution(self, features)


class _LogProb(nn.Module):
    """``posterior(features).log_prob(z)`` as a module call, for ``torch.func.functional_call``."""

    def __init__(self, posterior: FlowPosterior) -> None:
        super().__init__()
        self.posterior = posterior

    def forward(self, features: Tensor, z: Tensor) -> Tensor:
        return self.posterior.flow(features).log_prob(z)


class FlowDistribution(Distribution):
    r"""The distribution a :class:`FlowPosterior` returns: batch ``[n]``, event ``[latent_dim]``.

    ``rsample`` draws ``z`` and its ``log q(z)`` in one pass (one ODE solve for FFJORD); a later
    ``log_prob`` of that very tensor returns the stored value.

    Arguments:
        posterior: the module that built it.
        features: ``[n, F]``.
    """

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, posterior: FlowPosterior, features: Tensor, detach: bool = False) -> None:
        self.posterior, self.features, self.is_detached = posterior, features, bool(detach)
        self._last: Optional[Tuple[Tensor, Tensor]] = None
        n = features.shape[0]
        super().__init__(torch.Size([n]), torch.Size([posterior.latent_dim]), validate_args=False)

    def _flow(self) -> Distribution:
        return self.posterior.flow(self.features)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        if self.is_detached:
            raise RuntimeError("a detached flow distribution is for log_prob only (its parameters are held "
                               "constant); sample from the original distribution")
        z, log_q = self._flow().rsample_and_log_prob(torch.Size(sample_shape))
        self._last = (z, log_q)
        return z

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        with torch.no_grad():
            return self._flow().sample(torch.Size(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        """``log q(value)``, ``[*sample, n]`` for ``value [*sample, n, latent_dim]``."""
        if self._last is not None and value is self._last[0]:
            return self._last[1]
        if not self.is_detached:
            return self._flow().log_prob(value)
        # parameters and features held constant: the gradient reaches ``value`` only
        params = {"posterior." + name: p.detach() for name, p in self.posterior.named_parameters()}
        return torch.func.functional_call(_LogProb(self.posterior), params, (self.features, value), strict=False)

    def detached(self) -> "FlowDistribution":
        """The same density with the flow's parameters and the features held constant (gradient
        through the argument of ``log_prob`` only)."""
        return FlowDistribution(self.posterior, self.features.detach(), detach=True)

    def expand(self, batch_shape, _instance=None):  # pragma: no cover - not used by ovis
        raise NotImplementedError("FlowDistribution cannot be expanded; build it from expanded features")


def maf_posterior(features_dim: int, latent_dim: int, transforms: int = 3,
                  hidden: Sequence[int] = (64, 64)) -> FlowPosterior:
    """A masked autoregressive flow (zuko's ``MAF``) conditioned on the features.

    Arguments:
        features_dim: size of the encoder's features (the flow's context).
        latent_dim: size of ``z``.
        transforms: number of autoregressive transforms.
        hidden: hidden sizes of each transform's masked MLP.
    """
    flow = zuko.flows.MAF(latent_dim, features_dim, transforms=transforms, hidden_features=tuple(hidden))
    return FlowPosterior(flow, features_dim, latent_dim)


def nsf_posterior(features_dim: int, latent_dim: int, transforms: int = 3, bins: int = 8,
                  hidden: Sequence[int] = (64, 64)) -> FlowPosterior:
    """A neural spline flow (zuko's ``NSF``, monotonic rational-quadratic splines) conditioned on the
    features.

    Arguments:
        features_dim: size of the encoder's features (the flow's context).
        latent_dim: size of ``z``.
        transforms: number of autoregressive spline transforms.
        bins: spline bins.
        hidden: hidden sizes of each transform's masked MLP.
    """
    flow = zuko.flows.NSF(latent_dim, features_dim, transforms=transforms, bins=bins, hidden_features=tuple(hidden))
    return FlowPosterior(flow, features_dim, latent_dim)


def ffjord_posterior(features_dim: int, latent_dim: int, transforms: int = 1, hidden: int = 64, layers: int = 3,
                     exact: bool = True, atol: float = 1e-5, rtol: float = 1e-3) -> FlowPosterior:
    """An FFJORD stack (:class:`~ovis.flows.ffjord.FFJORD`) whose state derivative reads the features.

    Arguments:
        features_dim: size of the encoder's features (the context of ``f(t, z, c)``).
        latent_dim: size of ``z``.
        transforms: stacked FFJORD transforms.
        hidden: hidden units of each ``f``.
        layers: linear layers of each ``f``.
        exact: exact trace or Hutchinson's estimator.
        atol, rtol: Dormand-Prince tolerances.
    """
    flow = FFJORD(latent_dim, features_dim, transforms=transforms, hidden=hidden, layers=layers, exact=exact,
                  atol=atol, rtol=rtol)
    return FlowPosterior(flow, features_dim, latent_dim)
