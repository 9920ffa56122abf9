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
    """Turns the sums over K of a row (see :func:`_row_transform`) into means, element-wise."""
    return torch.tensor([1.0, 1.0] + [1.0 / K] * (4 if with_mse else 3), dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def _row_transform(K: int, with_mse: bool, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Turns a row ``[L_k, ess, (sum of squared errors,) sum log w, sum KL, sum log p(x|z)]`` into
    ``[L_k, elbo, kl, nll, kl_q_p, ess, (mse)]`` (the sums are over the K particles)."""
    n = 6 if with_mse else 5
    kl, log_px = n - 2, n - 1
    t = torch.zeros(n, 7 if with_mse else 6, dtype=torch.float64)
    t[0, 0] = t[0, 4] = 1.0  # L_k; kl_q_p = L_k - elbo
    t[log_px, 1], t[kl, 1] = 1.0 / K, -1.0 / K  # elbo = mean log p(x|z) - mean KL
    t[kl, 2] = 1.0 / K  # kl
    t[log_px, 3] = -1.0 / K  # nll
    t[log_px, 4], t[kl, 4] = -1.0 / K, 1.0 / K
    t[1, 5] = 1.0  # ess
    if with_mse:
        t[2, 6] = 1.0 / K  # mean squared error of the control variate
    return t.to(dtype=dtype, device=device)


def particle_diagnostics(loss: Tensor, terms: Tensor, log_wk: Tensor, beta: float = 1.0,
                         bound: Optional[Tensor] = None, v: Optional[Tensor] = None,
                         cv_error: Optional[Tensor] = None, finite: Optional[bool] = None) -> Diagnostics:
    """The diagnostics every estimator returns, each ``[bs]`` and detached.

    Arguments:
        loss: the estimator's loss ``[bs]`` (its value is what is reported).
        terms: :func:`particle_terms` of the K particles, ``[bs, mc, K, 3]``.
        log_wk: their log-weights with the KL weight ``beta``, ``[bs, mc, K]``.
        beta: the KL weight.
        bound, v: the IW bound ``[bs, mc]`` and normalised weights ``[bs, mc, K]`` of ``log_wk``
            (alpha = 0), if already computed.
        cv_error: ``c_k - d_k`` ``[bs, mc, K]``, the error of a score-function control variate
            against the learning signal ``d_k = L - v_k``: adds ``{'cv': {'mse'}}``.
        finite: ``True`` when every log-probability behind ``terms`` is known to be finite (see
            :func:`~ovis.estimators.surrogate.all_finite`): the columns are then combined with one
            small matrix product. Otherwise element-wise, so that an infinite log-probability
            does not turn the other columns into NaN.

    Returns:
        ``{'loss': {'loss', 'L_k', 'elbo', 'kl', 'nll', 'kl_q_p', 'ess'}}``: ``L_k``, the IW
        bound (alpha = 0, beta = 1); ``elbo``, the mean log-weight (beta = 1); ``kl``, the mean
        ``log q - log p`` summed over layers; ``nll``, the mean ``-log p(x|z)``; ``kl_q_p``,
        ``L_k - elbo``; ``ess``, the effective sample size of ``log_wk``; all averaged over ``mc``.
    """
    with torch.no_grad():
        L_k = bound if bound is not None and beta == 1.0 else iw_bound(terms[..., 2] - terms[..., 1])
        K = terms.shape[2]
        with_mse = cv_error is not None
        # one row per (data point, mc sample):
        # [L_k, ess, (sum of squared errors,) sum log w, sum KL, sum log p(x|z)]
        if v is None:
            ess = effective_sample_size(log_wk).unsqueeze(-1)
            if not with_mse:
                squares = ess
            else:
                squares = torch.cat((ess, torch.linalg.vecdot(cv_error, cv_error).unsqueeze(-1)), -1)
        else:
            both = torch.stack((v, cv_error), -2) if with_mse else v.unsqueeze(-2)  # [bs, mc, 1|2, K]
            squares = torch.linalg.vecdot(both, both)  # sum_k v_k^2 (and sum_k (c_k - d_k)^2)
            squares[..., 0].reciprocal_()  # ess = 1 / sum_k v_k^2
        rows = mean_over_mc(torch.cat((L_k.unsqueeze(-1), squares, terms.sum(2)), -1))
        if finite:
            columns = (rows @ _row_transform(K, with_mse, rows.dtype, rows.device)).unbind(-1)
        else:  # element-wise only
            cols = (rows * _row_scale(K, with_mse, rows.dtype, rows.device)).unbind(-1)
            L_k, ess, kl, log_px_z = cols[0], cols[1], cols[-2], cols[-1]
            elbo = log_px_z - kl
            columns = (L_k, elbo, kl, -log_px_z, L_k - elbo, ess) + ((cols[2],) if with_mse else ())
        loss = loss.detach() if loss.requires_grad else loss
        names = ("L_k", "elbo", "kl", "nll", "kl_q_p", "ess")
        diagnostics = {"loss": {"loss": loss, **dict(zip(names, columns))}}
        if with_mse:
            diagnostics["cv"] = {"mse": columns[6]}
        return diagnostics
