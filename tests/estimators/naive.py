"""Naive reference formulas, written from the papers' equations for these tests alone.

Nothing here imports ``ovis.estimators``: every leave-one-out term deletes the k-th entry
and recomputes (O(K^2)), every sum over particles is a Python loop over k. The functions
take log-weights ``[T, K]`` (T independent particle sets, vectorised so that the exact
enumeration of all particle tuples stays fast) and return ``[T]`` or ``[T, K]``.

References:
    Burda et al. (2016), IWAE, arXiv:1509.00519, eq. (7)-(8); Li & Turner (2016), arXiv:1602.02311.
    Mnih & Rezende (2016), VIMCO, arXiv:1602.06725, eq. (10).
    Lievin et al. (2020), OVIS, arXiv:2008.01998, eq. (12) (Monte-Carlo) and eq. (17) (unified).
    Tucker et al. (2019), DReG, arXiv:1810.04152, eq. (7) (here with alpha and beta).
    Masrani et al. (2019), TVO, arXiv:1907.00031, eq. (11)-(13).
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Tuple

import torch
from torch import Tensor


def log_weights(terms: Tuple[Tensor, Tensor, Tensor], beta: float = 1.0, held: bool = False) -> Tensor:
    """``log w = log p(x|z) - beta (log q(z|x) - log p(z))`` from ``(log p(x|z), log p(z), log q(z|x))``;
    ``held`` (free bits above every layer's KL): the KL term keeps its value but loses its gradient."""
    lpx, lpz, lqz = terms
    kl = lqz - lpz
    return lpx - beta * (kl.detach() if held else kl)


def without(lw: Tensor, k: int) -> Tensor:
    """``lw`` with its k-th particle deleted, ``[T, K-1]``."""
    return torch.cat([lw[:, :k], lw[:, k + 1:]], dim=1)


def renyi_bound(lw: Tensor, alpha: float) -> Tensor:
    """``1/(1-alpha) log(1/K sum_k w_k^(1-alpha))``, ``[T]``, by a loop over k."""
    K = lw.shape[1]
    total = torch.zeros_like(lw[:, 0])
    peak = lw.max(1).values.detach()
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    for k in range(K):
        total = total + torch.exp((1 - alpha) * (lw[:, k] - peak))
    return (torch.log(total / K) + (1 - alpha) * peak) / (1 - alpha)


def self_normalised(lw: Tensor, alpha: float) -> Tensor:
    """``v_k = w_k^(1-alpha) / sum_l w_l^(1-alpha)``, ``[T, K]``."""
    e = torch.exp((1 - alpha) * (lw - lw.max(1, keepdim=True).values))
    return e / e.sum(1, keepdim=True)


def log_mean_exp(lw: Tensor) -> Tensor:
    """``log 1/n sum_j exp(lw_j)`` over the columns, ``[T]`` (``-inf`` when every entry is)."""
    peak = lw.max(1).values
    safe = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    return torch.log(torch.exp(lw - safe[:, None]).mean(1)) + safe


def vimco_baselines(lw: Tensor, arithmetic: bool, alpha: float) -> Tensor:
    """VIMCO: ``c_k = L(z_1, .., w_hat_{-k}, .., z_K)``, the bound with w_k replaced by the mean of
    the others (arithmetic, or geometric: exp of the mean log-weight), ``[T, K]``."""
    K = lw.shape[1]
    if K == 1:
        return torch.zeros_like(lw)
    cols: List[Tensor] = []
    for k in range(K):
        others = without(lw, k)
        if arithmetic:
            replacement = log_mean_exp((1 - alpha) * others) / (1 - alpha)
        else:
            replacement = others.mean(1)
        cols.append(renyi_bound(torch.cat([others, replacement[:, None]], 1), alpha))
    return torch.stack(cols, 1)


def ovis_gamma_baselines(lw: Tensor, gamma: float, alpha: float, base: str) -> Tensor:
    """OVIS, unified asymptotic expression: ``c_k = log Z_[-k] + (1-gamma) log(1 - 1/K) - gamma v_k``.

    ``log Z_[-k]``: ``log 1/(K-1) sum_{l!=k} w_l`` ("default", "arithmetic": the arithmetic mean of
    the other weights) or VIMCO's geometric baseline ("geometric"). With alpha, the weights are
    ``w^(1-alpha)`` and the log-terms are divided by ``1-alpha``. Where every other particle has zero
    weight, ``log Z_[-k]`` (-inf) is replaced by 0.
    """
    K = lw.shape[1]
    if K == 1:
        return torch.zeros_like(lw)
    if base == "geometric":
        log_z = vimco_baselines(lw, arithmetic=False, alpha=alpha)
    else:
        log_z = torch.stack([log_mean_exp((1 - alpha) * without(lw, k)) / (1 - alpha) for k in range(K)], 1)
    log_z = finite_or_zero(log_z + (1 - gamma) * math.log(1 - 1 / K) / (1 - alpha))
    return log_z - gamma * self_normalised(lw, alpha)


def ovis_mc_baselines(lw: Tensor, aux: Tensor, alpha: float) -> Tensor:
    """OVIS-MC: ``c_k = 1/S sum_s [L - v_k](z_1, .., z'_s, .., z_K)`` (z_k replaced by z'_s), ``[T, K]``."""
    K, S = lw.shape[1], aux.shape[1]
    cols = []
    for k in range(K):
        total = torch.zeros_like(lw[:, 0])
        for s in range(S):
            replaced = lw.clone()
            replaced[:, k] = aux[:, s]
            total = total + renyi_bound(replaced, alpha) - self_normalised(replaced, alpha)[:, k]
        cols.append(total / S)
    return torch.stack(cols, 1)


def finite_or_zero(c: Tensor) -> Tensor:
    """A baseline that is not finite (every other particle has zero weight) replaced by 0."""
    return torch.where(torch.isfinite(c), c, torch.zeros_like(c))


def dreg_inference_weights(v: Tensor, alpha: float, beta: float) -> Tensor:
    """Weights of ``(d log w_k / d z_k)(d z_k / d phi)`` in DReG with alpha and beta:
    ``v_k (1 - beta (1 - alpha)(1 - v_k))`` (``v_k^2`` for alpha = 0, beta = 1)."""
    return v * (1 - beta * (1 - alpha) * (1 - v))


def tvo_partition(num_partition: int, log_beta_min: float) -> List[float]:
    """``[0, 10^log_beta_min, .., 1]``, log-spaced (TVO paper, section 5)."""
    if num_partition == 1:
        return [0.0, 1.0]
    n = num_partition
    return [0.0] + [10 ** (log_beta_min * (1 - j / (n - 1))) for j in range(n)]


def riemann_weights(partition: List[float], integration: str) -> List[float]:
    """``delta_j`` of the left, right or trapezoid Riemann sum over the partition."""
    J = len(partition)
    d = [partition[j + 1] - partition[j] for j in range(J - 1)]
    w = [0.0] * J
    for j in range(J - 1):
        if integration in ("left", "trapz"):
            w[j] += d[j] if integration == "left" else d[j] / 2
        if integration in ("right", "trapz"):
            w[j + 1] += d[j] if integration == "right" else d[j] / 2
    return w


def tvo_surrogate(f: Tensor, log_q: Tensor, partition: List[float], delta: List[float]) -> Tensor:
    """TVO with the covariance gradient estimator (Masrani et al., 2019, eq. 11-13), ``[T]``.

    ``f = log w [T, K]`` and ``log q(z_k|x) [T, K]`` carry gradients (z fixed). Value:
    ``sum_j delta_j E_j[f]``; gradient: ``sum_j delta_j (E_j[grad f] + c Cov_j(f, grad log q + beta_j grad f))``
    with the self-normalised weights of ``pi_j ~ q exp(beta_j f)`` and ``c = K/(K-1)`` (1 for K = 1).
    A particle with ``f = -inf`` gets weight 0 at every beta_j (at beta_0 = 0 the limit beta -> 0+).
    """
    K = f.shape[1]
    c = K / (K - 1) if K > 1 else 1.0
    fd = f.detach()
    zero = fd == -math.inf
    value = torch.zeros_like(fd[:, 0])
    surrogate = torch.zeros_like(fd[:, 0])
    for beta_j, delta_j in zip(partition, delta):
        logits = torch.where(zero, torch.full_like(fd, -math.inf), beta_j * torch.where(zero, 0.0, fd))
        w = torch.softmax(logits, 1)
        f_safe = torch.where(zero, 0.0, fd)
        mean = (w * f_safe).sum(1)
        value = value + delta_j * mean
        for k in range(K):
            f_k = torch.where(zero[:, k], torch.zeros_like(f[:, k]), f[:, k])
            lq_k = torch.where(zero[:, k], torch.zeros_like(log_q[:, k]), log_q[:, k])
            centred = w[:, k] * (f_safe[:, k] - mean)
            surrogate = surrogate + delta_j * (w[:, k] * f_k + c * centred * (lq_k + beta_j * f_k))
    return value + surrogate - surrogate.detach()


# ---------------------------------------------------------------------------------- reference estimators
# Each returns ``[T]`` values whose autograd gradient is the estimator's gradient for one set of
# particles (the score terms are zero-valued: ``s - s.detach()``). ``terms(**flags)`` gives
# ``(log p(x|z), log p(z), log q(z|x))``, each ``[T, n]``, with gradients (see tests/estimators/exact.py).

Baseline = Callable[[Tensor, Optional[Tensor]], Tensor]


def score_function(terms, K: int, alpha: float, beta: float, held: bool, baseline: Optional[Baseline]) -> Tensor:
    """``L + sum_k (L - c_k) log q(z_k|x)`` (score terms zero-valued) over the first K particles; the
    others are auxiliary particles given to ``baseline(log w [T, K], log w_aux [T, S])``."""
    lpx, lpz, lqz = terms()
    lw = log_weights((lpx, lpz, lqz), beta, held)
    L = renyi_bound(lw[:, :K], alpha)
    aux = lw.detach()[:, K:] if lw.shape[1] > K else None
    c = torch.zeros_like(lw[:, :K]) if baseline is None else finite_or_zero(baseline(lw.detach()[:, :K], aux))
    score = sum((L.detach() - c[:, k]) * lqz[:, k] for k in range(K))
    return L + score - score.detach()


def wake_wake(terms, alpha: float, beta: float, held: bool, inference: bool = True) -> Tensor:
    """Reweighted wake: ``sum_k v_k grad log p(x, z_k)`` for theta and ``sum_k v_k grad log q(z_k|x)``
    for phi (``inference``; wake-sleep's phi update is the sleep phase instead); value L."""
    lpx, lpz, lqz = terms()
    lw = log_weights((lpx, lpz, lqz.detach()), beta, held)
    L = renyi_bound(lw, alpha)
    if not inference:
        return L
    v = self_normalised(lw.detach(), alpha)
    wake = sum(v[:, k] * lqz[:, k] for k in range(lw.shape[1]))
    return L + wake - wake.detach()


def tvo(terms, beta: float, held: bool, partition: List[float], delta: List[float]) -> Tensor:
    lpx, lpz, lqz = terms()
    return tvo_surrogate(log_weights((lpx, lpz, lqz), beta, held), lqz, partition, delta)


def sticking_the_landing(terms, alpha: float, beta: float, held: bool) -> Tensor:
    """The bound with q's parameters held constant in ``log q`` (Roeder et al., 2017)."""
    return renyi_bound(log_weights(terms(stl=True), beta, held), alpha)


def doubly_reparameterized(terms, alpha: float, beta: float, held: bool) -> Tensor:
    """theta: ``sum_k v_k grad log w_k``; phi: ``sum_k v_k (1 - beta(1-alpha)(1 - v_k)) (d log w_k/dz_k)(dz_k/dphi)``
    (``beta`` acts as 0 when the KL term is held)."""
    lw_theta = log_weights(terms(stl=True, detach_z=True), beta, held)  # reaches theta only
    L = renyi_bound(lw_theta, alpha)
    lw_path = log_weights(terms(stl=True, detach_theta=True), beta, held)  # reaches phi through z only
    v = self_normalised(lw_path.detach(), alpha)
    weights = dreg_inference_weights(v, alpha, 0.0 if held else beta)
    path = sum(weights[:, k] * lw_path[:, k] for k in range(lw_path.shape[1]))
    return L + path - path.detach()
