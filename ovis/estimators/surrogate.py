"""From stacked log-probabilities to a loss that carries an estimator's gradient.

Every estimator here has a gradient of the form ``sum_k a_k d log w_k + b_k d log q(z_k|x)``
with ``z`` held fixed (the pathwise ones then let autograd carry it through the
reparameterized ``z``). :func:`log_prob_gradient` spreads ``(a_k, b_k)`` over the stacked
log-probabilities ``[log p(x|z), log p(z_l).., log q(z_l|x)..]`` (one small matrix product) and
:func:`linear_surrogate` attaches that gradient to the loss value in two plain operations, so
that autograd, ``torch.func.grad`` and ``vmap`` all handle it, with no custom autograd node.
"""
from __future__ import annotations

import functools
import math
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ["all_finite", "particle_terms", "freebits_mask", "freebits_layers", "mean_over_mc", "log_prob_gradient",
           "linear_surrogate", "finite_log_probs"]


def freebits_mask(kl: Tensor, freebits: float) -> Tensor:
    """Layers whose KL ``[bs, mc, iw, L]``, averaged over batch and particles, exceeds ``freebits``
    nats and so keep their gradient (Kingma et al., 2016), ``[L]`` booleans."""
    return kl.mean(dim=(0, 1, 2)) > freebits


def freebits_layers(log_probs: Tensor, freebits: Optional[float], K: Optional[int] = None) -> Optional[Tensor]:
    """:func:`freebits_mask` of the stacked log-probabilities ``[bs, mc, iw, 1 + 2L]`` (of their first
    ``K`` particles), ``[L]`` booleans; ``None`` when free bits are off."""
    if freebits is None:
        return None
    L = (log_probs.shape[-1] - 1) // 2
    lp = log_probs.detach()[..., :K, :] if K is not None else log_probs.detach()
    return freebits_mask(lp[..., 1 + L:] - lp[..., 1:1 + L], freebits)


def mean_over_mc(t: Tensor) -> Tensor:
    """Average ``[bs, mc]`` over the Monte-Carlo samples -> ``[bs]`` (a view when ``mc = 1``)."""
    return t.squeeze(1) if t.shape[1] == 1 else t.mean(1)


def all_finite(log_probs: Tensor) -> Optional[bool]:
    """Whether every value of ``log_probs`` is finite, where that costs nothing to know: on the CPU
    (no device synchronisation) outside ``torch.func`` transforms (which cannot read values);
    ``None`` (unknown) otherwise. ``True`` is certain; ``False`` may also mean an overflowing sum."""
    if log_probs.device.type != "cpu":
        return None
    try:
        return math.isfinite((log_probs.detach() if torch.is_grad_enabled() else log_probs).sum())
    except RuntimeError:  # a torch.func transform (vmap) cannot read the value
        return None


@functools.lru_cache(maxsize=64)
def _term_coefficients(L: int, beta: float, dtype: torch.dtype, device: torch.device) -> Tensor:
    coef = torch.zeros(1 + 2 * L, 3, dtype=torch.float64)
    coef[0, 0] = coef[0, 2] = 1.0  # log w = log p(x|z) - beta * sum_l (log q_l - log p_l)
    coef[1:1 + L, 0], coef[1 + L:, 0] = beta, -beta
    coef[1:1 + L, 1], coef[1 + L:, 1] = -1.0, 1.0  # KL term = sum_l (log q_l - log p_l)
    return coef.to(dtype=dtype, device=device)


def particle_terms(log_probs: Tensor, beta: float = 1.0, finite: Optional[bool] = None) -> Tensor:
    """``[log w (KL weight beta), KL term, log p(x|z)]`` of every particle, ``[*, 3]``, from the stacked
    log-probabilities ``[*, 1 + 2L]`` (see :meth:`Evaluation.stacked`).

    With ``finite=True`` (see :func:`all_finite`) one matrix product; otherwise element-wise, so
    that a ``-inf`` log-probability gives infinite terms and not ``0 * -inf = NaN`` in the others.
    """
    L = (log_probs.shape[-1] - 1) // 2
    if finite:
        return log_probs @ _term_coefficients(L, float(beta), log_probs.dtype, log_probs.device)
    log_px_z = log_probs[..., 0]
    kl = log_probs[..., 1 + L:] - log_probs[..., 1:1 + L]
    kl = kl.squeeze(-1) if L == 1 else kl.sum(-1)
    log_w = log_px_z - kl if beta == 1.0 else torch.sub(log_px_z, kl, alpha=beta)
    return torch.stack((log_w, kl, log_px_z), -1)


@functools.lru_cache(maxsize=128)
def _gradient_mix(L: int, beta: float, scale: float, q_in_log_w: bool, dtype: torch.dtype,
                  device: torch.device) -> Tensor:
    mix = torch.zeros(2, 1 + 2 * L, dtype=torch.float64)
    mix[0, 0] = scale  # d log w / d log p(x|z)
    mix[0, 1:1 + L] = beta * scale  # d log w / d log p(z_l)
    if q_in_log_w:
        mix[0, 1 + L:] = -beta * scale  # d log w / d log q(z_l|x)
    mix[1, 1 + L:] = scale
    return mix.to(dtype=dtype, device=device)


def log_prob_gradient(grads: Tensor, L: int, beta: float = 1.0, scale: float = 1.0,
                      freebits: Optional[Tensor] = None, q_in_log_w: bool = True) -> Tensor:
    """Per-particle gradients of an objective, spread over the stacked log-probabilities.

    An objective whose gradient is ``sum_k a_k d log w_k + b_k d log q(z_k|x)`` (``z`` held fixed)
    has gradient ``[a_k, beta_l a_k, b_k - beta_l a_k]`` with respect to ``[log p(x|z_k),
    log p(z_k,l).., log q(z_k,l|x)..]`` (see :meth:`Evaluation.stacked`); one small matrix
    product. Give the result to :func:`~ovis.estimators.surrogate.linear_surrogate`.

    Arguments:
        grads: ``(a_k, b_k)``, ``[*, K, 2]``, or ``(a_k,)``, ``[*, K, 1]`` (``b = 0``).
        L: number of latent layers.
        beta: KL weight in ``log w``.
        scale: multiplies everything (e.g. ``-1/mc`` for a loss averaged over ``mc``).
        freebits: ``[L]`` booleans, layers whose KL keeps its gradient (:func:`freebits_mask`);
            ``None``: all.
        q_in_log_w: ``False`` when ``log w`` was formed with ``log q`` detached (its ``-beta a``
            term is dropped).

    Returns:
        ``[*, K, 1 + 2L]``.
    """
    mix = _gradient_mix(L, float(beta), float(scale), q_in_log_w, grads.dtype, grads.device)
    if freebits is not None:
        keep = torch.cat([freebits.new_ones(1), freebits, freebits if q_in_log_w else freebits.new_ones(L)])
        mix = torch.stack((mix[0] * keep, mix[1]))
    return grads @ (mix if grads.shape[-1] == 2 else mix[:1])


def linear_surrogate(value: Tensor, terms: Sequence[Tuple[Tensor, Tensor]]) -> Tensor:
    """``value`` ``[bs]``, carrying the gradient of ``sum(weights * inputs)`` over each row.

    For every ``(weights, inputs)`` pair (same leading dimension ``bs``; ``weights`` without
    gradient), the result's gradient with respect to ``inputs`` is ``weights`` (times the incoming
    gradient of its row); its value is exactly ``value``. This writes an estimator's whole
    gradient as a few plain operations, which autograd, ``torch.func.grad`` and ``vmap`` all
    handle. ``inputs`` must be finite (``0 * -inf`` is NaN): pass log-probabilities through
    :func:`finite_log_probs`.
    """
    total: Optional[Tensor] = None
    for weights, inputs in terms:
        part = weights * inputs
        if part.dim() > 1:
            part = part.sum(tuple(range(1, part.dim())))
        total = part if total is None else total + part
    if total is None:
        return value
    return value + (total - total.detach())


def finite_log_probs(log_probs: Tensor, finite: Optional[bool] = None) -> Tensor:
    """``log_probs`` made safe for :func:`linear_surrogate`: ``-inf`` (a particle with weight 0) is
    raised to the lowest finite value, so that ``0 * log p`` stays 0; the gradient is unchanged
    where finite and 0 at ``-inf``.

    Input known to be finite (``finite=True``, or :func:`all_finite` when ``finite`` is ``None``)
    is returned as it is, which saves the masking operation in the backward pass.
    """
    if finite is None:
        finite = all_finite(log_probs)
    if finite:
        return log_probs
    return log_probs.clamp_min(torch.finfo(log_probs.dtype).min)
