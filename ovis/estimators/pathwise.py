"""Reparameterized (pathwise) estimators: VAE/IWAE, sticking the landing, DReG.

References:
    Kingma & Welling (2014), Auto-Encoding Variational Bayes, arXiv:1312.6114.
    Burda et al. (2016), Importance Weighted Autoencoders, arXiv:1509.00519.
    Roeder et al. (2017), Sticking the Landing, arXiv:1703.09194.
    Tucker et al. (2019), Doubly Reparameterized Gradient Estimators for Monte Carlo
    Objectives (DReG), arXiv:1810.04152.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

import torch
from torch import Tensor, nn

from ..models.template import ModelContractError, flat_log_prob
from .base import Diagnostics, Evaluation, GradientEstimator, detach_distribution
from .bounds import iw_bound, normalized_weights

__all__ = ["Pathwise", "PathwiseVAE", "PathwiseIWAE", "StickingTheLanding", "DoublyReparameterized"]


class Pathwise(GradientEstimator):
    """Reparameterization gradient of the IW (Renyi) bound averaged over ``mc`` samples.

    ``loss = -1/mc sum_m L_K^alpha(z_{m,1..K})``. Unbiased for the gradient of its objective,
    for generative and inference parameters. Needs reparameterizable latents.

    Example::

        Estimator, config = parse_estimator_id("pathwise-iwae")
        loss, diagnostics, output = Estimator(mc=1, iw=16, **config)(model, x)
    """

    reparam = True

    def layout(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        """How the ``mc*iw`` samples are grouped: ``(mc, iw)``."""
        return cfg["mc"], cfg["iw"]

    def log_weights(self, ev: Evaluation, cfg: Dict[str, Any]) -> Tensor:
        return ev.log_wk(cfg["beta"], cfg["freebits"])

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]) -> Tuple[Tensor, Diagnostics, Dict]:
        mc, iw = self.layout(cfg)
        ev = self.evaluate(model, x, mc, iw, reparam=True, chunk=cfg["sequential_computation"])
        bound = iw_bound(self.log_weights(ev, cfg), cfg["alpha"])  # [bs, mc]
        loss = -bound.mean(1)
        return loss, self.diagnostics(ev, loss, cfg), ev.output

    def diagnostics(self, ev: Evaluation, loss: Tensor, cfg: Dict[str, Any]) -> Diagnostics:
        """Diagnostics with the particles grouped as (mc, iw), comparable across estimators."""
        return self.base_diagnostics(ev.regroup(cfg["mc"], cfg["iw"]), loss, cfg["beta"])


class PathwiseVAE(Pathwise):
    """Pathwise ELBO (VAE): the ``mc*iw`` samples are independent ELBO samples (K = 1)."""

    def layout(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        return cfg["mc"] * cfg["iw"], 1


class PathwiseIWAE(Pathwise):
    """Pathwise IWAE: the ``mc*iw`` samples form a single IW bound (K = mc*iw)."""

    def layout(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        return 1, cfg["mc"] * cfg["iw"]


def _stl_log_qz(ev: Evaluation) -> Tensor:
    """``log q(z|x)`` with the parameters of q detached (z keeps its path gradient), ``[bs,mc,iw,L]``."""
    out = ev.output
    n = out["z"][0].shape[0]
    if n != ev.log_qz[..., 0].numel():
        raise ValueError("stl and dreg need all particles in one evaluation to compute gradients; "
                         "use sequential_computation only under torch.no_grad() (evaluation)")
    lq = torch.stack([flat_log_prob(detach_distribution(q), z, n) for q, z in zip(out["qz"], out["z"])], -1)
    return lq.view_as(ev.log_qz)


class StickingTheLanding(Pathwise):
    """Sticking the landing (STL): pathwise gradient without the score term of ``log q``.

    Unbiased for K = 1 (the ELBO). For K > 1 the dropped term ``-sum_k v_k d log q(z_k)/d phi``
    no longer has zero mean, so STL is biased for the gradient of L_K with respect to the
    inference parameters (the generative gradient is unchanged and unbiased). Measured in
    ``tests/estimators/test_unbiasedness.py`` on the 1-D linear Gaussian model (24 x 800 draws
    against quadrature): relative bias of the full gradient 0.34 for K = 2 and 0.59 for K = 3
    (max |z| 51 and 79); for K = 1 it passes the z-test.
    """

    def log_weights(self, ev: Evaluation, cfg: Dict[str, Any]) -> Tensor:
        if not torch.is_grad_enabled():
            return ev.log_wk(cfg["beta"], cfg["freebits"])
        stl = Evaluation(ev.log_px_z, ev.log_pz, _stl_log_qz(ev), ev.output)
        return stl.log_wk(cfg["beta"], cfg["freebits"])


class DoublyReparameterized(Pathwise):
    """Doubly reparameterized gradient (DReG) of the IW (Renyi) bound.

    Generative parameters: ``sum_k v_k d log w_k / d theta`` (as IWAE). Inference
    parameters: ``sum_k (alpha + (1-alpha) v_k) v_k (d log w_k / d z_k)(d z_k / d phi)`` with the
    score term of ``log q`` removed (``v = softmax((1-alpha) log w)``); for ``alpha = 0`` the
    weights are ``v_k^2`` (Tucker et al., 2019, eq. 7). Unbiased for both.

    Implemented in one backward pass: a gradient hook on each latent sample rescales the
    gradient flowing into ``z_k`` by ``alpha + (1-alpha) v_k``. This is exact for models whose
    single stochastic layer is sampled directly from ``q(z|x)``; models with several
    reparameterized layers are refused with an error (the hook would rescale twice).
    """

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]) -> Tuple[Tensor, Diagnostics, Dict]:
        mc, iw = self.layout(cfg)
        ev = self.evaluate(model, x, mc, iw, reparam=True, chunk=cfg["sequential_computation"])
        zs = ev.output["z"]
        if not torch.is_grad_enabled():
            bound = iw_bound(ev.log_wk(cfg["beta"], cfg["freebits"]), cfg["alpha"])
            loss = -bound.mean(1)
            return loss, self.diagnostics(ev, loss, cfg), ev.output
        if len(zs) != 1:
            raise ModelContractError(
                f"dreg supports models with one stochastic layer; this model has {len(zs)}. Use "
                f"'pathwise-iwae' or 'stl' for hierarchical models.")
        stl = Evaluation(ev.log_px_z, ev.log_pz, _stl_log_qz(ev), ev.output)
        log_wk = stl.log_wk(cfg["beta"], cfg["freebits"])
        bound = iw_bound(log_wk, cfg["alpha"])
        if torch.is_grad_enabled() and zs[0].requires_grad:
            a = cfg["alpha"]
            scale = (a + (1 - a) * normalized_weights(log_wk.detach(), a)).reshape(-1)
            shape = (-1,) + (1,) * (zs[0].dim() - 1)
            zs[0].register_hook(lambda g: g * scale.view(shape).to(g.dtype))
        loss = -bound.mean(1)
        return loss, self.diagnostics(ev, loss, cfg), ev.output
