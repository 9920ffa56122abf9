"""The diagnostics every estimator returns, computed from the particles' log-probabilities.

``{'loss': {'loss', 'L_k', 'elbo', 'kl', 'nll', 'kl_q_p', 'ess'}}`` (and ``{'cv': {'mse'}}`` for
score-function estimators), each ``[bs]``, detached, averaged over the ``mc`` samples.
"""
from __future__ import annotations

import functools
from typing import Dict, Optional

import torch
from torch import Tensor

from .bounds import effective_sample_size, iw_bound
from .surrogate import mean_over_mc

__all__ = ["Diagnostics", "particle_diagnostics"]

Diagnostics = Dict[str, Dict[str, Tensor]]


@functools.lru_cache(maxsize=64)
def _row_scale(K: int, with_mse: bool, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Turns ``[L_k, ess, (sum of squared errors,) sum KL, sum log p(x|z)]`` into means over K."""
    scale = [1.0, 1.0] + [1.0 / K] * (3 if with_mse else 2)
    return torch.tensor(scale, dtype=dtype, device=device)


def particle_diagnostics(loss: Tensor, terms: Tensor, log_wk: Tensor, beta: float = 1.0,
                         bound: Optional[Tensor] = None, v: Optional[Tensor] = None,
                         cv_error: Optional[Tensor] = None) -> Diagnostics:
    """The diagnostics every estimator returns, each ``[bs]`` and detached.

    Args:
        loss: the estimator's loss ``[bs]`` (its value is what is reported).
        terms: :func:`particle_terms` of the K particles, ``[bs, mc, K, 3]``.
        log_wk: their log-weights with the KL weight ``beta``, ``[bs, mc, K]``.
        beta: the KL weight.
        bound, v: the IW bound ``[bs, mc]`` and normalised weights ``[bs, mc, K]`` of ``log_wk``
            (alpha = 0), if already computed.
        cv_error: ``c_k - d_k`` ``[bs, mc, K]``, the error of a score-function control variate
            against the learning signal ``d_k = L - v_k``: adds ``{'cv': {'mse'}}``.

    Returns:
        ``{'loss': {'loss', 'L_k', 'elbo', 'kl', 'nll', 'kl_q_p', 'ess'}}``: ``L_k``, the IW
        bound (alpha = 0, beta = 1); ``elbo``, the mean log-weight (beta = 1); ``kl``, the mean
        ``log q - log p`` summed over layers; ``nll``, the mean ``-log p(x|z)``; ``kl_q_p``,
        ``L_k - elbo``; ``ess``, the effective sample size of ``log_wk``; all averaged over ``mc``.
    """
    with torch.no_grad():
        L_k = bound if bound is not None and beta == 1.0 else iw_bound(terms[..., 2] - terms[..., 1])
        K = terms.shape[2]
        # one row per (data point, mc sample): [L_k, ess, (sum of squared errors,) sum KL, sum log p(x|z)]
        if v is None:
            ess = effective_sample_size(log_wk).unsqueeze(-1)
            if cv_error is None:
                squares = ess
            else:
                squares = torch.cat((ess, torch.linalg.vecdot(cv_error, cv_error).unsqueeze(-1)), -1)
        else:
            both = v.unsqueeze(-2) if cv_error is None else torch.stack((v, cv_error), -2)  # [bs, mc, 1|2, K]
            squares = torch.linalg.vecdot(both, both)  # sum_k v_k^2 (and sum_k (c_k - d_k)^2)
            squares[..., 0].reciprocal_()  # ess = 1 / sum_k v_k^2
        rows = torch.cat((L_k.unsqueeze(-1), squares, terms[..., 1:].sum(2)), -1)
        # element-wise only: an infinite log-probability must not turn the other columns into NaN
        rows = mean_over_mc(rows) * _row_scale(K, cv_error is not None, rows.dtype, rows.device)
        columns = rows.unbind(-1)
        L_k, ess, kl, log_px_z = columns[0], columns[1], columns[-2], columns[-1]
        elbo = log_px_z - kl
        loss = loss.detach() if loss.requires_grad else loss
        diagnostics = {"loss": {"loss": loss, "L_k": L_k, "elbo": elbo, "kl": kl, "nll": -log_px_z,
                                "kl_q_p": L_k - elbo, "ess": ess}}
        if cv_error is not None:
            diagnostics["cv"] = {"mse": columns[2]}
        return diagnostics
