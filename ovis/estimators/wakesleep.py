"""Reweighted wake-sleep: wake-wake and wake-sleep.

Generative parameters (wake phase): ``sum_k v_k grad_theta log p(x, z_k)``, an unbiased
estimate of ``grad_theta L_K``. Inference parameters:

* wake-wake (wake-phase phi update): ``sum_k v_k grad_phi log q(z_k|x)``, a self-normalised
  estimate of ``-grad_phi KL(p(z|x) || q(z|x))``; it does not estimate ``grad_phi L_K``
  (measured in ``tests/estimators/test_unbiasedness.py``);
* wake-sleep (sleep phase): ``grad_phi log q(z|x)`` at ``(x, z)`` drawn from the model,
  ``z ~ p(z), x ~ p(x|z)`` (``bs*mc*iw`` draws), minimising ``KL(p(x,z) || q(z|x)p(x))``.
  Needs ``model.sample_from_prior(n)`` and ``model(x, zs=[...])`` (evaluate q at given z).

The loss value is ``-L_K``; the inference terms are zero-valued and carry gradients only.

Exact relative bias of the inference gradient against ``grad_phi L_K`` (categorical toy,
C = 3, every particle tuple enumerated, the sleep phase by quadrature over x,
``tests/estimators/test_exact.py``), for K = 2, 3, 4: wake-wake 0.14, 0.80, 1.76 (full
gradient 0.08, 0.38, 0.68); wake-sleep 1.33, 2.49, 3.70. The generative gradients are unbiased
(exact to 1e-8, with every option).

References:
    Hinton et al. (1995), The wake-sleep algorithm for unsupervised neural networks.
    Bornschein & Bengio (2015), Reweighted Wake-Sleep, arXiv:1406.2751.
    Le et al. (2019), Revisiting Reweighted Wake-Sleep, arXiv:1805.10469.
"""
from __future__ import annotations

from typing import Any, ClassVar, Dict, List, Tuple

import torch
from torch import Tensor, nn

from ..models.template import ModelContractError, flat_log_prob, validate_model_output
from .base import Diagnostics, GradientEstimator
from .bounds import score_function_weights
from .diagnostics import particle_diagnostics
from .surrogate import finite_log_probs, freebits_layers, linear_surrogate, log_prob_gradient, mean_over_mc

__all__ = ["WakeWake", "WakeSleep"]


class WakeWake(GradientEstimator):
    """Reweighted wake-wake (``wake-wake``): wake-phase updates for theta and phi.

    The loss is ``-L_K`` with ``log q`` detached in the log-weights (so theta gets
    ``sum_k v_k grad log p(x, z_k)``), plus the zero-valued wake-phase phi term
    ``sum_k v_k log q(z_k|x)``; its gradient is written on the log-probabilities directly
    (:func:`~ovis.estimators.surrogate.log_prob_gradient`).

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("sbn", (8,), layers=(4,))
        >>> loss, _, _ = WakeWake(iw=8)(model, torch.zeros(3, 8), backward=True)
    """

    #: whether phi gets the wake-phase update ``sum_k v_k grad log q(z_k|x)``.
    wake_phase_inference: ClassVar[bool] = True

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]) -> Tuple[Tensor, Diagnostics, Dict]:
        mc, iw, alpha, beta, freebits = cfg["mc"], cfg["iw"], cfg["alpha"], cfg["beta"], cfg["freebits"]
        ev, log_probs, terms, finite = self.evaluate_terms(model, x, mc, iw, cfg)
        L = ev.num_layers
        grad = torch.is_grad_enabled()
        with torch.no_grad():
            log_wk = terms[..., 0]
            bound, v, _ = score_function_weights(log_wk, None, alpha)
            value = -mean_over_mc(bound)
            if grad:
                grads = torch.stack((v, v), -1) if self.wake_phase_inference else v.unsqueeze(-1)
                weights = log_prob_gradient(grads, L, beta, -1.0 / mc, freebits_layers(log_probs, freebits),
                                            q_in_log_w=False)
        if grad:
            inputs = log_probs
            if not self.wake_phase_inference and ev.columns is not None:
                # log q gets no wake-phase gradient: leave its columns out of the weighted sum
                weights, inputs = weights[..., :1 + L], ev.restack(1 + L)
            gradient = [(weights, finite_log_probs(inputs, finite))] + self.sleep_phase(model, x, mc, iw)
            loss = linear_surrogate(value, gradient)
        else:
            loss = value
        plain = alpha == 0.0
        diagnostics = particle_diagnostics(value, terms, log_wk, beta, bound if plain else None, v if plain else None,
                                          finite=finite)
        return loss, diagnostics, ev.output

    def sleep_phase(self, model: nn.Module, x: Tensor, mc: int, iw: int) -> List[Tuple[Tensor, Tensor]]:
        """Extra ``(weights, inputs)`` gradient terms of the phi update (none for wake-wake)."""
        return []


class WakeSleep(WakeWake):
    """Reweighted wake-sleep (``wake-sleep``): wake-phase theta update, sleep-phase phi update.

    theta gets ``sum_k v_k grad log p(x, z_k)`` (unbiased for ``grad_theta L_K``). phi gets the sleep
    phase ``grad_phi 1/n sum_i log q(z_i|x_i)`` over ``n = bs*mc*iw`` draws ``z_i ~ p(z)``,
    ``x_i ~ p(x|z_i)`` (Bornschein & Bengio, 2015, arXiv:1406.2751): it minimises
    ``KL(p(x, z) || p(x) q(z|x))`` and does not estimate ``grad_phi L_K``. The model needs
    ``sample_from_prior(n)`` and ``forward(x, zs=[...])``. The sleep pass costs a second forward and
    backward of the inference network on ``n`` rows.

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("sbn", (8,), layers=(4,))
        >>> loss, _, _ = WakeSleep(iw=8)(model, torch.zeros(3, 8), backward=True)
    """

    wake_phase_inference = False

    def sleep_phase(self, model: nn.Module, x: Tensor, mc: int, iw: int) -> List[Tuple[Tensor, Tensor]]:
        """``-1/(mc*iw) sum log q(z|x)`` over ``mc*iw`` draws ``(x, z)`` per data point from the model."""
        bs = x.shape[0]
        n = bs * mc * iw
        with torch.no_grad():
            prior = model.sample_from_prior(n)
            validate_model_output(prior, n, prior=True)
            x_sleep = prior["px"].sample()
            zs = [z.detach() for z in prior["z"]]
        out = model(x_sleep, reparam=False, zs=zs)
        validate_model_output(out, n, x=x_sleep)
        for i, (z_in, z_out) in enumerate(zip(zs, out["z"])):
            if z_out is not z_in and not torch.equal(z_out.detach(), z_in):
                raise ModelContractError(
                    f"wake-sleep evaluates q(z|x) at latent samples drawn from the prior, but the model "
                    f"ignored zs (output 'z'[{i}] differs from the given zs[{i}]); implement "
                    f"forward(x, zs=[...]) to use the given samples")
        log_q = torch.stack([flat_log_prob(q, z, n) for q, z in zip(out["qz"], zs)], -1).view(bs, mc * iw, -1)
        return [(log_q.new_full((1,), -1.0 / (mc * iw)).expand_as(log_q), log_q)]
