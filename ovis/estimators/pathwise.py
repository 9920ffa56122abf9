"""Reparameterized (pathwise) estimators: VAE/IWAE, sticking the landing, DReG.

References:
    Kingma & Welling (2014), Auto-Encoding Variational Bayes, arXiv:1312.6114.
    Burda et al. (2016), Importance Weighted Autoencoders, arXiv:1509.00519.
    Roeder et al. (2017), Sticking the Landing, arXiv:1703.09194.
    Tucker et al. (2019), Doubly Reparameterized Gradient Estimators for Monte Carlo
    Objectives (DReG), arXiv:1810.04152.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from ..models.template import ModelContractError, flat_log_prob
from .base import Diagnostics, Evaluation, GradientEstimator, detach_distribution
from .bounds import score_function_weights
from .diagnostics import particle_diagnostics
from .surrogate import finite_log_probs, freebits_layers, linear_surrogate, log_prob_gradient, mean_over_mc

__all__ = ["Pathwise", "PathwiseVAE", "PathwiseIWAE", "StickingTheLanding", "DoublyReparameterized"]


class Pathwise(GradientEstimator):
    """Reparameterization gradient of the IW (Renyi) bound averaged over ``mc`` samples.

    ``loss = -1/mc sum_m L_K^alpha(z_{m,1..K})``. Unbiased for the gradient of its objective,
    for generative and inference parameters. Needs reparameterizable latents.

    The gradient with respect to the log-probabilities (``v_k``, ``beta v_k``, ``-beta v_k`` for
    ``log p(x|z_k)``, ``log p(z_k)``, ``log q(z_k|x)``) is applied in one weighted sum
    (:func:`~ovis.estimators.surrogate.linear_surrogate`); autograd carries it through the
    reparameterized ``z`` to both sets of parameters.

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("vae", (8,), N=2, hdim=16)
        >>> x = torch.bernoulli(torch.full((4, 8), 0.3))
        >>> loss, diagnostics, output = Pathwise(mc=1, iw=16)(model, x)
        >>> loss.mean().backward()
        >>> sorted(diagnostics["loss"])
        ['L_k', 'elbo', 'ess', 'kl', 'kl_q_p', 'loss', 'nll']
    """

    reparam = True

    def layout(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        """How the ``mc*iw`` samples are grouped: ``(mc, iw)``."""
        return cfg["mc"], cfg["iw"]

    def gradient_inputs(self, ev: Evaluation, log_probs: Tensor, v: Tensor, cfg: Dict[str, Any]) -> Tensor:
        """The stacked log-probabilities that carry the gradient (:meth:`Evaluation.stacked`)."""
        return log_probs

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]) -> Tuple[Tensor, Diagnostics, Dict]:
        mc, iw = self.layout(cfg)
        alpha, beta, freebits = cfg["alpha"], cfg["beta"], cfg["freebits"]
        ev, log_probs, terms, finite = self.evaluate_terms(model, x, mc, iw, cfg, reparam=True)
        grad = torch.is_grad_enabled()
        with torch.no_grad():
            bound, v, _ = score_function_weights(terms[..., 0], None, alpha)  # [bs, mc], [bs, mc, iw]
            value = -mean_over_mc(bound)
            if grad:
                weights = log_prob_gradient(v.unsqueeze(-1), ev.num_layers, beta, -1.0 / mc,
                                            freebits_layers(log_probs, freebits))
        if grad:
            inputs = self.gradient_inputs(ev, log_probs, v, cfg)
            loss = linear_surrogate(value, [(weights, finite_log_probs(inputs, finite))])
        else:
            loss = value
        return loss, self.diagnostics(terms, bound, v, value, cfg, finite), ev.output

    def diagnostics(self, terms: Tensor, bound: Tensor, v: Tensor, loss: Tensor, cfg: Dict[str, Any],
                    finite: Optional[bool] = None) -> Diagnostics:
        """Diagnostics with the particles grouped as (mc, iw), comparable across estimators."""
        mc, iw, beta = cfg["mc"], cfg["iw"], cfg["beta"]
        if terms.shape[1:3] == (mc, iw):
            same = cfg["alpha"] == 0.0
            return particle_diagnostics(loss, terms, terms[..., 0], beta, bound if same else None, v if same else None,
                                        finite=finite)
        terms = terms.reshape(terms.shape[0], mc, iw, terms.shape[-1])
        return particle_diagnostics(loss, terms, terms[..., 0], beta, finite=finite)


class PathwiseVAE(Pathwise):
    """Pathwise ELBO (VAE, ``pathwise-vae``): the ``mc*iw`` samples are independent ELBO samples (K = 1).

    Unbiased for the gradient of ``L_1``, the ELBO (the Renyi bound with one particle is the ELBO
    for every ``alpha``). Diagnostics still group the samples as ``(mc, iw)``, so ``L_k`` is
    comparable across estimators.

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("vae", (8,), N=2, hdim=16)
        >>> loss, diagnostics, _ = PathwiseVAE(iw=8)(model, torch.zeros(3, 8))
        >>> loss.shape
        torch.Size([3])
    """

    def layout(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        return cfg["mc"] * cfg["iw"], 1


class PathwiseIWAE(Pathwise):
    """Pathwise IWAE (``pathwise-iwae``): the ``mc*iw`` samples form a single IW bound (K = mc*iw).

    Unbiased for the gradient of ``L_{mc*iw}``, the tightest bound these samples give (``pathwise``
    averages ``mc`` bounds of ``iw`` particles instead). Burda et al. (2016), arXiv:1509.00519.

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("vae", (8,), N=2, hdim=16)
        >>> loss, _, _ = PathwiseIWAE(mc=2, iw=8)(model, torch.zeros(3, 8))   # one bound of 16 particles
        >>> loss.shape
        torch.Size([3])
    """

    def layout(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        return 1, cfg["mc"] * cfg["iw"]


def _stl_log_probs(ev: Evaluation) -> Tensor:
    """The stacked log-probabilities with ``log q(z|x)`` evaluated with the parameters of q detached
    (``z`` keeps its path gradient), ``[bs, mc, iw, 1 + 2L]``; no gradient flows into the unused
    ``log q``."""
    out = ev.output
    n = out["z"][0].shape[0]
    lq = [flat_log_prob(detach_distribution(q), z, n) for q, z in zip(out["qz"], out["z"])]
    return ev.restack(1 + ev.num_layers, lq)


class StickingTheLanding(Pathwise):
    """Sticking the landing (STL): pathwise gradient without the score term of ``log q``.

    Unbiased for K = 1 (the ELBO). For K > 1 the dropped term ``-sum_k v_k d log q(z_k)/d phi``
    no longer has zero mean, so STL is biased for the gradient of L_K with respect to the
    inference parameters (the generative gradient is unchanged and unbiased). Exact relative bias
    against ``grad L_K`` (``tests/estimators/test_exact.py``: 1-D linear Gaussian toy, Gauss-Hermite
    quadrature over the noise, default options): full gradient 0.73 (K = 2) and 1.13 (K = 3),
    inference gradient 1.08 and 2.15; unbiased for K = 1 (to 1e-8, with every option).

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("vae", (8,), N=2, hdim=16)
        >>> loss, _, _ = StickingTheLanding(iw=1)(model, torch.zeros(3, 8), backward=True)
    """

    def gradient_inputs(self, ev: Evaluation, log_probs: Tensor, v: Tensor, cfg: Dict[str, Any]) -> Tensor:
        return _stl_log_probs(ev)


class DoublyReparameterized(Pathwise):
    """Doubly reparameterized gradient (DReG) of the IW (Renyi) bound, with the KL weight ``beta``.

    Generative parameters: ``sum_k v_k d log w_k / d theta`` (as IWAE). Inference parameters:
    ``sum_k v_k [1 - beta (1 - alpha)(1 - v_k)] (d log w_k / d z_k)(d z_k / d phi)`` with the
    score term of ``log q`` removed, ``v = softmax((1-alpha) log w)`` and
    ``log w = log p(x|z) + beta (log p(z) - log q(z|x))``. For ``alpha = 0, beta = 1`` the weights are
    ``v_k^2`` (Tucker et al., 2019, eq. 7). Unbiased for both sets of parameters.

    Derivation: the score term of ``grad_phi L`` is ``-beta E[sum_k v_k grad_phi log q(z_k|x)]``;
    the reparameterization identity ``E[g grad_phi log q(z)] = E[(dg/dz)(dz/dphi)]`` with
    ``g = v_k``, ``dv_k / d log w_k = (1 - alpha) v_k (1 - v_k)``, turns it into a pathwise term.
    A layer held by free bits has no ``log q`` in its gradient (``beta`` acts as 0 there), and the
    plain pathwise gradient is already score-free.

    Implemented in one backward pass: a gradient hook on each latent sample rescales the
    gradient flowing into ``z_k`` by ``1 - beta (1 - alpha)(1 - v_k)``. This is exact for models
    whose single stochastic layer is sampled directly from ``q(z|x)``; models with several
    reparameterized layers are refused with an error (the hook would rescale twice).

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("vae", (8,), N=2, hdim=16)
        >>> loss, _, _ = DoublyReparameterized(iw=8)(model, torch.zeros(3, 8), beta=0.5, alpha=0.2)
        >>> loss.mean().backward()
    """

    def gradient_inputs(self, ev: Evaluation, log_probs: Tensor, v: Tensor, cfg: Dict[str, Any]) -> Tensor:
        zs = ev.output["z"]
        if len(zs) != 1:
            raise ModelContractError(
                f"dreg supports models with one stochastic layer; this model has {len(zs)}. Use "
                f"'pathwise-iwae' or 'stl' for hierarchical models.")
        inputs = _stl_log_probs(ev)
        if zs[0].requires_grad:
            with torch.no_grad():
                beta = cfg["beta"] * (1.0 - cfg["alpha"])
                held = freebits_layers(log_probs, cfg["freebits"])
                if held is not None:
                    beta = held[0].to(v.dtype) * beta  # 0 for a layer held by free bits
                scale = (1.0 - beta * (1.0 - v)).reshape(-1)
            shape = (-1,) + (1,) * (zs[0].dim() - 1)
            zs[0].register_hook(lambda g: g * scale.view(shape).to(g.dtype))
        return inputs
