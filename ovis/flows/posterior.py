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
    >>> q = nsf_posterior(features_dim=8, latent_dim=4)
    >>> dist = q(torch.randn(8, 8))
    >>> z = dist.rsample()             # [8, 4]
    >>> dist.log_prob(z).shape, dist.detached().log_prob(z).shape
    (torch.Size([8]), torch.Size([8]))
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
import zuko
from torch import Tensor, nn
from torch.distributions import Distribution, constraints

from .ffjord import FFJORD

__all__ = ["FlowPosterior", "FlowDistribution", "zero_last_layers", "maf_posterior", "nsf_posterior", "ffjord_posterior"]


class FlowPosterior(nn.Module):
    r"""``q(z|x)`` as a conditional flow whose context is the encoder's features.

    With ``standardize=True`` (the default) the flow models the standardized latent
    ``u = (z - loc) / scale``, where ``[loc, raw] = features`` and ``scale = softplus(raw) + min_scale``
    exactly as in the diagonal-Gaussian posterior, so

    .. math:: \log q(z|x) = \log p_{flow}(u \mid c = \text{features}) - \sum_i \log \text{scale}_i .

    With ``identity_init=True`` (the default) the last linear layer of every transform's network is
    zero, so each transform starts as the identity and the posterior starts as the diagonal Gaussian:
    the flow adds to it (the recipe of inverse autoregressive flows, Kingma et al., 2016). A flow
    posterior that starts as a random transform of ``N(0, I)`` must learn the location and the scale
    first and lags the Gaussian for many steps.

    Arguments:
        flow: a conditional lazy flow (``zuko.lazy.Flow``) with ``context = features_dim`` and a
            standard-normal base.
        features_dim: size ``F`` of the features.
        latent_dim: size of ``z``.
        standardize: model ``(z - loc) / scale`` (needs ``features_dim = 2 * latent_dim``).
        identity_init: zero the last linear layer of each transform.
        min_scale: lower bound of ``scale`` (with ``standardize``).

    References:
        | Kingma et al. (2016), Improved Variational Inference with Inverse Autoregressive Flow,
          https://arxiv.org/abs/1606.04934
    """

    def __init__(self, flow: zuko.lazy.Flow, features_dim: int, latent_dim: int, standardize: bool = True,
                 identity_init: bool = True, min_scale: float = 1e-3) -> None:
        super().__init__()
        if standardize and features_dim != 2 * latent_dim:
            raise ValueError(f"a standardized flow posterior reads [loc, raw scale] from the features: features_dim "
                             f"must be 2 * latent_dim = {2 * latent_dim}, got {features_dim}; pass standardize=False "
                             f"to condition the flow on features of another size")
        if min_scale < 0:
            raise ValueError(f"min_scale must be >= 0, got {min_scale}")
        self.flow, self.features_dim, self.latent_dim = flow, int(features_dim), int(latent_dim)
        self.standardize, self.min_scale = bool(standardize), float(min_scale)
        if identity_init:
            zero_last_layers(flow)

    def forward(self, features: Tensor) -> "FlowDistribution":
        """``features [n, F]`` -> a distribution of batch shape ``[n]``, event shape ``[latent_dim]``."""
        if features.dim() != 2 or features.shape[-1] != self.features_dim:
            raise ValueError(f"{type(self).__name__} expects features [n, {self.features_dim}], "
                             f"got {tuple(features.shape)}")
        return FlowDistribution(self, features)

    def affine(self, features: Tensor) -> Tuple[Tensor, Tensor]:
        """``(loc, scale)``, each ``[n, latent_dim]``, with ``z = loc + scale * u`` (zeros and ones
        without ``standardize``)."""
        if not self.standardize:
            zeros = features.new_zeros(features.shape[0], self.latent_dim)
            return zeros, zeros + 1
        loc, raw = features.chunk(2, dim=-1)
        return loc, F.softplus(raw) + self.min_scale

    def log_prob_at(self, features: Tensor, z: Tensor) -> Tensor:
        """``log q(z | features)``: ``[*sample, n]`` for ``z [*sample, n, latent_dim]``."""
        loc, scale = self.affine(features)
        log_q = self.flow(features).log_prob((z - loc) / scale)
        return log_q - scale.log().sum(-1) if self.standardize else log_q


def zero_last_layers(flow: nn.Module) -> None:
    """Zero the last linear layer (weight and bias) of every transform of a lazy flow, so that each
    transform of zuko's MAF and NSF and of :class:`~ovis.flows.ffjord.FFJORD` starts as the identity.

    Arguments:
        flow: a ``zuko.lazy.Flow`` whose ``transform`` is a lazy transform or a composition of them.
    """
    transforms = getattr(flow, "transform", None)
    stack = getattr(transforms, "transforms", [transforms])
    for t in stack:
        linears = [m for m in t.modules() if isinstance(m, nn.Linear)] if isinstance(t, nn.Module) else []
        if not linears:
            raise ValueError(f"identity_init: transform {type(t).__name__} has no linear layer to zero; "
                             f"pass identity_init=False")
        with torch.no_grad():
            linears[-1].weight.zero_()
            if linears[-1].bias is not None:
                linears[-1].bias.zero_()


class _LogProb(nn.Module):
    """``posterior.log_prob_at(features, z)`` as a module call, for ``torch.func.functional_call``."""

    def __init__(self, posterior: FlowPosterior) -> None:
        super().__init__()
        self.posterior = posterior

    def forward(self, features: Tensor, z: Tensor) -> Tensor:
        return self.posterior.log_prob_at(features, z)


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
        u, log_q = self._flow().rsample_and_log_prob(torch.Size(sample_shape))
        loc, scale = self.posterior.affine(self.features)
        z = loc + scale * u
        if self.posterior.standardize:
            log_q = log_q - scale.log().sum(-1)
        self._last = (z, log_q)
        return z

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        with torch.no_grad():
            loc, scale = self.posterior.affine(self.features)
            return loc + scale * self._flow().sample(torch.Size(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        """``log q(value)``, ``[*sample, n]`` for ``value [*sample, n, latent_dim]``."""
        if self._last is not None and value is self._last[0]:
            return self._last[1]
        if not self.is_detached:
            return self.posterior.log_prob_at(self.features, value)
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
                  hidden: Sequence[int] = (64, 64), standardize: bool = True,
                  identity_init: bool = True, min_scale: float = 1e-3) -> FlowPosterior:
    """A masked autoregressive flow (zuko's ``MAF``) conditioned on the features.

    Arguments:
        features_dim: size of the encoder's features (the flow's context).
        latent_dim: size of ``z``.
        transforms: number of autoregressive transforms.
        hidden: hidden sizes of each transform's masked MLP.
        standardize, identity_init, min_scale: see :class:`FlowPosterior`.
    """
    flow = zuko.flows.MAF(latent_dim, features_dim, transforms=transforms, hidden_features=tuple(hidden))
    return FlowPosterior(flow, features_dim, latent_dim, standardize, identity_init, min_scale)


def nsf_posterior(features_dim: int, latent_dim: int, transforms: int = 3, bins: int = 8,
                  hidden: Sequence[int] = (64, 64), standardize: bool = True,
                  identity_init: bool = True, min_scale: float = 1e-3) -> FlowPosterior:
    """A neural spline flow (zuko's ``NSF``, monotonic rational-quadratic splines) conditioned on the
    features.

    Arguments:
        features_dim: size of the encoder's features (the flow's context).
        latent_dim: size of ``z``.
        transforms: number of autoregressive spline transforms.
        bins: spline bins.
        hidden: hidden sizes of each transform's masked MLP.
        standardize, identity_init, min_scale: see :class:`FlowPosterior`.
    """
    flow = zuko.flows.NSF(latent_dim, features_dim, transforms=transforms, bins=bins, hidden_features=tuple(hidden))
    return FlowPosterior(flow, features_dim, latent_dim, standardize, identity_init, min_scale)


def ffjord_posterior(features_dim: int, latent_dim: int, transforms: int = 1, hidden: int = 64, layers: int = 3,
                     exact: bool = True, atol: float = 1e-5, rtol: float = 1e-3,
                     standardize: bool = True, identity_init: bool = True, min_scale: float = 1e-3) -> FlowPosterior:
    """An FFJORD stack (:class:`~ovis.flows.ffjord.FFJORD`) whose state derivative reads the features.

    Arguments:
        features_dim: size of the encoder's features (the context of ``f(t, z, c)``).
        latent_dim: size of ``z``.
        transforms: stacked FFJORD transforms.
        hidden: hidden units of each ``f``.
        layers: linear layers of each ``f``.
        exact: exact trace or Hutchinson's estimator.
        atol, rtol: Dormand-Prince tolerances.
        standardize, identity_init, min_scale: see :class:`FlowPosterior`.
    """
    flow = FFJORD(latent_dim, features_dim, transforms=transforms, hidden=hidden, layers=layers, exact=exact,
                  atol=atol, rtol=rtol)
    return FlowPosterior(flow, features_dim, latent_dim, standardize, identity_init, min_scale)
