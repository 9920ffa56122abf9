"""VIMCO: score-function estimator with leave-one-out baselines.

Reference: Mnih & Rezende (2016), Variational inference for Monte Carlo objectives,
arXiv:1602.06725.
"""
from __future__ import annotations

from typing import Any, Dict

from torch import Tensor

from .bounds import vimco_control_variate
from .score_function import ScoreFunctionEstimator

__all__ = ["Vimco"]


class Vimco(ScoreFunctionEstimator):
    """VIMCO with the geometric (``vimco-geometric``) or arithmetic (``vimco-arithmetic``) mean.

    ``c_k = log 1/K (sum_{l!=k} w_l + w_hat_{-k})`` depends on ``z_{-k}`` only: unbiased.
    For K = 1 there is no leave-one-out baseline and VIMCO reduces to REINFORCE.

    Arguments:
        arithmetic: use the arithmetic mean of the other weights instead of the geometric one.

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("sbn", (8,), layers=(4,))
        >>> loss, _, _ = Vimco(iw=8, arithmetic=True)(model, torch.zeros(3, 8), backward=True)
    """

    options = {**ScoreFunctionEstimator.options, "arithmetic": False}

    def control_variate(self, x: Tensor, log_wk: Tensor, log_wk_aux: Tensor, cfg: Dict[str, Any]) -> Tensor:
        return vimco_control_variate(log_wk, arithmetic=bool(cfg["arithmetic"]), alpha=cfg["alpha"])
