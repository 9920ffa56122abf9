"""REINFORCE for the IW (Renyi) bound, with an optional neural baseline.

References:
    Williams (1992), Simple statistical gradient-following algorithms (REINFORCE).
    Mnih & Gregor (2014), NVIL, arXiv:1402.0030.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

from torch import Tensor, nn

from .score_function import NeuralBaseline, ScoreFunctionEstimator

__all__ = ["Reinforce"]


class Reinforce(ScoreFunctionEstimator):
    """REINFORCE for the IW bound, optionally with a neural baseline ``c(x)``.

    Without a baseline the control variate is 0. With one, ``c_k = c(x)`` for all k, and
    ``c`` is trained by minimising ``mean_k (d_k - c(x))^2`` (a zero-valued term of the loss,
    so put ``estimator.parameters()`` in the optimizer). Unbiased in both cases.

    Arguments:
        baseline: ``None``, ``True`` (a :class:`~ovis.estimators.score_function.NeuralBaseline` whose input
            size is inferred at the first call), or any module ``x [bs,...] -> [bs]``.
    
    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("sbn", (8,), layers=(4,))
        >>> estimator = Reinforce(iw=8, baseline=True)
        >>> loss, diagnostics, _ = estimator(model, torch.zeros(3, 8))   # builds the lazy baseline
        >>> optimizer = torch.optim.Adam([*model.parameters(), *estimator.parameters()], lr=1e-3)
        >>> sorted(diagnostics["cv"])
        ['mse']
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

    def control_variate(self, x: Tensor, log_wk: Tensor, log_wk_aux: Optional[Tensor],
                        cfg: Dict[str, Any]) -> Optional[Tensor]:
        if self.baseline is None:
            return None
        return self.baseline(x).view(-1, 1, 1)  # [bs, 1, 1], trained by compute() (it has a gradient)
