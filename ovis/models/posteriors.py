r"""The VAE's posterior slot: ``q(z|x)`` chosen by name.

An entry of :data:`POSTERIORS` is a module factory ``(features_dim, latent_dim, **options) ->
nn.Module`` whose ``forward(features [n, features_dim])`` returns a
:class:`torch.distributions.Distribution` with batch shape ``[n]`` and event shape
``[latent_dim]`` (zuko's pattern: a module that *returns* a distribution). The features are the
encoder's output (``2 * latent_dim`` values per row in :class:`~ovis.models.vae.VAE`).

=========  ======================================================================
name       ``q(z|x)``
=========  ======================================================================
gaussian   ``N(loc, diag(softplus(raw) + min_scale)^2)``, ``[loc, raw] = features``
maf        masked autoregressive flow conditioned on the features (zuko)
nsf        neural spline flow conditioned on the features (zuko)
ffjord     FFJORD stack whose state derivative reads the features (zuko's solver)
=========  ======================================================================

By default the flows model ``(z - loc) / scale`` with ``loc`` and ``scale`` read from the features as
the gaussian posterior does, and start as the identity, so a flow posterior starts equal to the
gaussian one (options ``standardize``, ``identity_init``; :class:`~ovis.flows.posterior.FlowPosterior`).

The flow posteriors' distributions implement ``detached()`` (the density with every parameter
and the features held constant), which :func:`ovis.estimators.evaluation.detach_distribution`
uses for sticking the landing and DReG.

Example:
    >>> import torch
    >>> q = POSTERIORS.build("nsf", 8, 4, transforms=2)
    >>> dist = q(torch.randn(3, 8))
    >>> dist.batch_shape, dist.event_shape
    (torch.Size([3]), torch.Size([4]))
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from ..flows.posterior import ffjord_posterior, maf_posterior, nsf_posterior
from ..registry import Registry

__all__ = ["POSTERIORS", "GaussianPosterior"]

#: name -> ``(features_dim, latent_dim, **options) -> nn.Module`` returning ``q(z|x)``
POSTERIORS: Registry = Registry("posterior")
_RESERVED = ("features_dim", "latent_dim")


@POSTERIORS.register("gaussian", reserved=_RESERVED)
class GaussianPosterior(nn.Module):
    r"""Diagonal Gaussian ``N(loc, diag(softplus(raw) + min_scale)^2)`` from ``[loc, raw] = features``.

    Arguments:
        features_dim: must be ``2 * latent_dim``.
        latent_dim: size of ``z``.
        min_scale: lower bound of the standard deviations.
    """

    def __init__(self, features_dim: int, latent_dim: int, min_scale: float = 1e-3) -> None:
        super().__init__()
        if features_dim != 2 * latent_dim:
            raise ValueError(f"the gaussian posterior reads [loc, raw scale] from the features: features_dim must "
                             f"be 2 * latent_dim = {2 * latent_dim}, got {features_dim}")
        if min_scale < 0:
            raise ValueError(f"min_scale must be >= 0, got {min_scale}")
        self.latent_dim, self.min_scale = int(latent_dim), float(min_scale)

    def forward(self, features: Tensor) -> Distribution:
        """``features [n, 2 * latent_dim]`` -> ``q(z|x)``, batch ``[n]``, event ``[latent_dim]``."""
        loc, raw = features.chunk(2, dim=-1)
        return Independent(Normal(loc, F.softplus(raw) + self.min_scale), 1)


POSTERIORS.add("maf", maf_posterior, reserved=_RESERVED)
POSTERIORS.add("nsf", nsf_posterior, reserved=_RESERVED)
POSTERIORS.add("ffjord", ffjord_posterior, reserved=_RESERVED)
