"""Score-function (REINFORCE) estimators of the IW bound gradient, with control variates.

For ``L = 1/(1-alpha) log 1/K sum_k w_k^(1-alpha)`` and ``z_k ~ q(z|x)`` (not reparameterized):

    grad_phi L = E[ sum_k (L - v_k) grad_phi log q(z_k|x) ],   v_k = softmax((1-alpha) log w)_k

A control variate ``c_k`` that depends on ``z_{-k}`` (and independent auxiliary
particles) only leaves the estimator unbiased:
``sum_k (L - c_k) grad log q(z_k) + grad L|_z`` where ``grad L|_z`` (z held fixed)
contributes ``-sum_k v_k grad log q(z_k)`` for the inference parameters and
``sum_k v_k grad log p(x, z_k)`` for the generative ones.

References:
    Williams (1992), Simple statistical gradient-following algorithms (REINFORCE).
    Mnih & Gregor (2014), NVIL, arXiv:1402.0030.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from ..models.baseline import NeuralBaseline
from .base import Diagnostics, GradientEstimator
from .bounds import score_function_surrogate

__all__ = ["ScoreFunctionEstimator", "Reinforce"]


class ScoreFunctionEstimator(GradientEstimator):
    """Shared machinery of the score-function estimators (REINFORCE, VIMCO, OVIS).

    Subclasses define :meth:`control_variate` and, if they use auxiliary particles,
    :meth:`particles`. Diagnostics add ``cv/mse``: the mean squared error of the control
    variate against the learning signal ``d_k = L - v_k``.
    """

    def particles(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        """``(K, S)``: particles in the bound and auxiliary particles; ``K + S`` are evaluated."""
        return cfg["iw"], 0

    def control_variate(self, x: Tensor, log_wk: Tensor, log_wk_aux: Optional[Tensor],
                        cfg: Dict[str, Any]) -> Tensor:
        """Control variates ``c_k`` ``[bs, mc, K]`` from detached log-weights ``[bs, mc, K]`` and,
        for estimators with auxiliary particles, their log-weights ``[bs, mc, S]`` (else ``None``)."""
        return torch.zeros_like(log_wk)

    def extra_loss(self, x: Tensor, signal: Tensor, cfg: Dict[str, Any]) -> Optional[Tensor]:
        """An extra zero-valued term of the loss ``[bs]`` (e.g. to train a baseline)."""
        return None

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]) -> Tuple[Tensor, Diagnostics, Dict]:
        K, S = self.particles(cfg)
        alpha = cfg["alpha"]
        ev = self.evaluate(model, x, cfg["mc"], K + S, reparam=False, chunk=cfg["sequential_computation"])
        if S:
            ev_aux, ev = ev.particles(K, K + S), ev.particles(0, K)
            log_wk_aux = ev_aux.log_wk(cfg["beta"]).detach()
        else:
            log_wk_aux = None
        log_wk = ev.log_wk(cfg["beta"], cfg["freebits"])  # [bs, mc, K]
        with torch.no_grad():
            c = self.control_variate(x, log_wk.detach(), log_wk_aux, cfg)
        bound, v = score_function_surrogate(log_wk, ev.log_qz.sum(-1), c, alpha)  # [bs, mc], [bs, mc, K]
        loss = -bound.mean(1)
        with torch.no_grad():
            signal = bound.detach().unsqueeze(-1) - v  # d_k = L - v_k, the learning signal c_k estimates
        extra = self.extra_loss(x, signal, cfg)
        if extra is not None:
            loss = loss + extra
        plain = alpha == 0.0 and cfg["beta"] == 1.0 and cfg["freebits"] is None
        diagnostics = self.base_diagnostics(ev, loss, cfg["beta"], bound if plain else None, v if plain else None)
        diagnostics["cv"] = {"mse": ((signal - c) ** 2).mean((1, 2))}
        return loss, diagnostics, ev.output


class Reinforce(ScoreFunctionEstimator):
    """REINFORCE for the IW bound, optionally with a neural baseline ``c(x)``.

    Without a baseline the control variate is 0. With one, ``c_k = c(x)`` for all k, and
    ``c`` is trained by minimising ``mean_k (d_k - c(x))^2`` (a zero-valued term of the loss,
    so put ``estimator.parameters()`` in the optimizer). Unbiased in both cases.

    Arguments:
        baseline: ``None``, ``True`` (a :class:`~ovis.models.baseline.NeuralBaseline` whose input
            size is inferred at the first call), or any module ``x [bs,...] -> [bs]``.
    """

    def __init__(self, mc: int = 1, iw: int = 1, baseline: Union[None, bool, nn.Module] = None,
                 **options: Any) -> None:
        super().__init__(mc=mc, iw=iw, **options)
        if baseline is True:
            baseline = NeuralBaseline()
        elif baseline is False:
            baseline = None
        elif baseline is not None and not isinstance(baseline, nn.Module):
            raise TypeError(f"baseline must be None, True or an nn.Module, got {type(baseline).__name__}")
        self.baseline: Optional[nn.Module] = baseline
        self._baseline_value: Optional[Tensor] = None

    def control_variate(self, x: Tensor, log_wk: Tensor, log_wk_aux: Tensor, cfg: Dict[str, Any]) -> Tensor:
        if self.baseline is None:
            return torch.zeros_like(log_wk)
        with torch.enable_grad():
            self._baseline_value = self.baseline(x)  # [bs]
        return self._baseline_value.detach().view(-1, 1, 1).expand_as(log_wk)

    def extra_loss(self, x: Tensor, signal: Tensor, cfg: Dict[str, Any]) -> Optional[Tensor]:
        if self.baseline is None or self._baseline_value is None:
            return None
        mse = ((signal - self._baseline_value.view(-1, 1, 1)) ** 2).mean((1, 2))
        self._baseline_value = None
        if not torch.is_grad_enabled():
            return None
        return mse - mse.detach()
