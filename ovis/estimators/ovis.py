"""OVIS: optimal variance control of the score-function estimator for IW bounds.

Reference: Lievin, Dittadi, Christensen, Winther (2020), Optimal Variance Control of the
Score Function Gradient Estimator for Importance Weighted Bounds, NeurIPS,
arXiv:2008.01998.
"""
from __future__ import annotations

from typing import Any, Dict, Tuple

from torch import Tensor

from .bounds import ovis_asymptotic_control_variate, ovis_mc_control_variate
from .score_function import ScoreFunctionEstimator

__all__ = ["OvisMonteCarlo", "OvisAsymptotic"]


class OvisMonteCarlo(ScoreFunctionEstimator):
    """OVIS-MC: Monte-Carlo estimate of the optimal control variate with S auxiliary particles.

    ``c_k = 1/S sum_s [L_K - v_k](z'_s, z_{-k})``, ``z'_s ~ q(z|x)`` independent of ``z_k``: unbiased.
    ``S = max(1, round(auxiliary * K))``. With ``exclusive=True`` (``ovis-S{y}-exclusive``) the
    S particles are drawn in addition to the K particles of the bound (``(1+y)K`` evaluated);
    otherwise (``ovis-S{y}``) they are taken out of the ``iw`` particles, and the bound uses
    ``K - S`` particles. Auxiliary particles are used for the control variate only.
    Costs O(S + K) per data point (the control variate from per-piece sums over the auxiliary
    particles, :mod:`~ovis.estimators.interpolation`), or O(S*K) pair by pair where that is cheaper.

    Arguments:
        auxiliary: y, the number of auxiliary particles per bound particle.
        exclusive: draw the auxiliary particles in addition to the ``iw`` particles.

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("sbn", (8,), layers=(4,))
        >>> estimator = OvisMonteCarlo(iw=8, auxiliary=1.0, exclusive=True)   # ovis-S1-exclusive
        >>> estimator.particles(estimator.config)   # (K, S): 16 particles evaluated
        (8, 8)
        >>> loss, _, _ = estimator(model, torch.zeros(3, 8), backward=True)
    """

    options = {**ScoreFunctionEstimator.options, "auxiliary": 1.0, "exclusive": True}

    def check_config(self, cfg: Dict[str, Any]) -> None:
        if not cfg["auxiliary"] > 0:
            raise ValueError(f"auxiliary={cfg['auxiliary']} is invalid; expected y > 0 (S = y*K)")
        self.particles(cfg)

    def particles(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        iw = cfg["iw"]
        S = max(1, int(round(cfg["auxiliary"] * iw)))
        if cfg["exclusive"]:
            return iw, S
        if S >= iw:
            raise ValueError(f"ovis-S{cfg['auxiliary']:g} takes S = {S} of the K = {iw} particles for the "
                             f"control variate, leaving none for the bound; use y*K < K, or the "
                             f"'-exclusive' variant that draws the S particles in addition")
        return iw - S, S

    def control_variate(self, x: Tensor, log_wk: Tensor, log_wk_aux: Tensor, cfg: Dict[str, Any]) -> Tensor:
        return ovis_mc_control_variate(log_wk, log_wk_aux, alpha=cfg["alpha"])


class OvisAsymptotic(ScoreFunctionEstimator):
    """OVIS-gamma: the asymptotic (large K) optimal control variate, unified expression (eq. 17).

    ``c_k = log Z_[-k] - gamma v_k`` (see :func:`~ovis.estimators.bounds.ovis_asymptotic_control_variate`).

    * ``gamma = 0`` (``ovis-gamma0``): ``c_k`` depends on ``z_{-k}`` only; unbiased.
    * ``gamma > 0``: the ``-gamma v_k`` term depends on ``z_k``, so the estimator of the inference
      gradient is biased by ``gamma * E[sum_k v_k grad log q(z_k)]`` (generative gradients are
      unaffected, and the base does not change the mean). Exact relative bias against
      ``grad L_K`` (``tests/estimators/test_exact.py``: categorical toy, C = 3, every particle tuple
      enumerated, default options), for K = 2, 3, 4: gamma = 1, full gradient 0.50, 0.85, 1.07 and
      inference gradient 0.87, 1.80, 2.75; gamma = 0.5, full 0.25, 0.43, 0.53 and inference 0.44,
      0.90, 1.38. It is large at small K on this toy, where the ESS is small; gamma = 1 is designed
      for the high-ESS regime.

    The bases ``default`` and ``arithmetic`` coincide (both are the log of the arithmetic mean of the
    other weights); ``ovis-gamma{g}-arithmetic`` is kept as the original implementation's name.

    Arguments:
        gamma: interpolation parameter (1: ESS >> 1, 0: ESS ~ 1).
        base: ``"default"``, ``"arithmetic"`` or ``"geometric"`` (log Z_[-k] from VIMCO's averages).

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("sbn", (8,), layers=(4,))
        >>> loss, _, _ = OvisAsymptotic(iw=8, gamma=0.0)(model, torch.zeros(3, 8), backward=True)   # ovis-gamma0
    """

    options = {**ScoreFunctionEstimator.options, "gamma": 1.0, "base": "default"}

    def check_config(self, cfg: Dict[str, Any]) -> None:
        if cfg["base"] not in ("default", "arithmetic", "geometric"):
            raise ValueError(f"base={cfg['base']!r} is invalid; expected 'default', 'arithmetic' or 'geometric'")

    def control_variate(self, x: Tensor, log_wk: Tensor, log_wk_aux: Tensor, cfg: Dict[str, Any]) -> Tensor:
        return ovis_asymptotic_control_variate(log_wk, gamma=float(cfg["gamma"]), alpha=cfg["alpha"],
                                               base=cfg["base"])
