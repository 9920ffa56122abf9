"""Pure functions on log-weights: bounds, normalised weights, ESS, leave-one-out terms, control variates.

Every function takes and returns tensors, holds no state, and works on the last
dimension (the K particles). Shapes below use ``[*, K]`` for log-weights
``log w_k = log p(x, z_k) - log q(z_k | x)``; in the estimators ``* = [bs, mc]``.

All leave-one-out quantities cost O(K) time and memory: sums over ``l != k`` are
computed with prefix and suffix ``logcumsumexp`` in log-space, which is exact and
stable whatever the magnitude of the log-weights (no ``log(1 - v_k)`` shortcut,
which silently couples the "leave-one-out" term to ``z_k`` in float32).

References:
    Burda et al. (2016), Importance Weighted Autoencoders, arXiv:1509.00519.
    Li & Turner (2016), Renyi Divergence Variational Inference, arXiv:1602.02311.
    Mnih & Rezende (2016), Variational inference for Monte Carlo objectives (VIMCO), arXiv:1602.06725.
    Lievin et al. (2020), Optimal Variance Control of the Score Function Gradient Estimator
    for Importance Weighted Bounds (OVIS), arXiv:2008.01998.
"""
from __future__ import annotations

import math
from typing import Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "check_alpha",
    "iw_bound",
    "normalized_weights",
    "effective_sample_size",
    "leave_one_out_logsumexp",
    "leave_one_out_mean",
    "vimco_control_variate",
    "ovis_asymptotic_control_variate",
    "ovis_mc_control_variate",
    "ovis_mc_path",
    "score_function_weights",
]


def check_alpha(alpha: float) -> float:
    """Validate the Renyi parameter: the IWR bound needs ``alpha < 1``."""
    alpha = float(alpha)
    if not alpha < 1:
        raise ValueError(f"alpha={alpha} is invalid: the Renyi (IWR) bound needs alpha < 1 "
                         f"(alpha=0 gives the importance-weighted bound)")
    return alpha


def iw_bound(log_wk: Tensor, alpha: float = 0.0) -> Tensor:
    """Importance-weighted Renyi bound ``1/(1-alpha) log 1/K sum_k w_k^(1-alpha)``.

    Arguments:
        log_wk: log-weights ``[*, K]``.
        alpha: Renyi parameter (< 1); ``alpha=0`` is the IW bound L_K.

    Returns:
        the bound, ``[*]``.

    Example:
        >>> import torch
        >>> iw_bound(torch.log(torch.tensor([[1.0, 3.0]])))   # log((1 + 3) / 2)
        tensor([0.6931])
    """
    alpha = check_alpha(alpha)
    K = log_wk.shape[-1]
    if alpha == 0.0:
        return torch.logsumexp(log_wk, dim=-1) - math.log(K)
    return (torch.logsumexp((1.0 - alpha) * log_wk, dim=-1) - math.log(K)) / (1.0 - alpha)


def normalized_weights(log_wk: Tensor, alpha: float = 0.0) -> Tensor:
    """Self-normalised weights ``v_k = w_k^(1-alpha) / sum_l w_l^(1-alpha)``, ``[*, K]``."""
    alpha = check_alpha(alpha)
    return torch.softmax(log_wk if alpha == 0.0 else (1.0 - alpha) * log_wk, dim=-1)


def effective_sample_size(log_wk: Tensor) -> Tensor:
    """Effective sample size ``(sum_k w_k)^2 / sum_k w_k^2`` in ``[1, K]``, shape ``[*]``."""
    return torch.exp(2 * torch.logsumexp(log_wk, -1) - torch.logsumexp(2 * log_wk, -1))


def leave_one_out_logsumexp(log_wk: Tensor) -> Tensor:
    """``log sum_{l != k} w_l`` for every k, in O(K), ``[*, K]``.

    Computed as ``logaddexp(prefix_{k-1}, suffix_{k+1})`` with inclusive prefix and
    suffix ``logcumsumexp`` of the log-weights padded with ``-inf`` on both sides. For
    ``K = 1`` the sum is empty and the result is ``-inf``.

    Example:
        >>> import torch
        >>> leave_one_out_logsumexp(torch.log(torch.tensor([1.0, 2.0, 4.0]))).exp()   # 2 + 4, 1 + 4, 1 + 2
        tensor([6., 5., 3.])
    """
    K = log_wk.shape[-1]
    if K == 1:
        return torch.full_like(log_wk, -math.inf)
    padded = F.pad(log_wk, (1, 1), value=-math.inf)  # [*, K + 2]: w_0 = w_{K+1} = 0
    before = torch.logcumsumexp(padded, dim=-1)[..., :K]  # log sum_{l < k}
    after = torch.logcumsumexp(padded.flip(-1), dim=-1).flip(-1)[..., 2:]  # log sum_{l > k}
    return torch.logaddexp(before, after)


def leave_one_out_mean(log_wk: Tensor) -> Tensor:
    """Mean of the *other* log-weights ``1/(K-1) sum_{l != k} log w_l``, ``[*, K]``.

    Prefix plus suffix sums (no ``sum - log w_k``), accumulated in float64: exact when the k-th
    term dominates (magnitudes of 1e4, K in the thousands) and when it is ``-inf`` (a particle
    with weight 0 still gets the mean of the others). ``K = 1``: zeros.
    """
    K = log_wk.shape[-1]
    if K == 1:
        return torch.zeros_like(log_wk)
    padded = F.pad(log_wk.double(), (1, 1))  # [*, K + 2], zero on both sides
    before = padded.cumsum(-1)[..., :K]  # sum_{l < k}
    after = padded.flip(-1).cumsum(-1).flip(-1)[..., 2:]  # sum_{l > k}
    return (before + after).to(log_wk.dtype).div_(K - 1)


def vimco_control_variate(log_wk: Tensor, arithmetic: bool = False, alpha: float = 0.0) -> Tensor:
    """VIMCO's baseline ``log 1/K (sum_{l != k} w_l + w_hat_{-k})`` (Mnih & Rezende, 2016, eq. 10).

    ``w_hat_{-k}`` replaces the k-th weight by the geometric (``exp`` of the mean log-weight of
    the others) or the arithmetic mean of the other weights. With ``alpha``, the weights are
    ``w^(1-alpha)`` and the result is divided by ``1-alpha`` as in :func:`iw_bound`. It depends on
    ``z_{-k}`` only. For ``K = 1`` there is no other particle and the baseline is 0.

    Arguments:
        log_wk: log-weights ``[*, K]``.
        arithmetic: arithmetic instead of geometric mean.
        alpha: Renyi parameter.

    Returns:
        control variates ``c_k``, ``[*, K]``.

    Example:
        >>> import torch
        >>> vimco_control_variate(torch.log(torch.tensor([1.0, 2.0, 4.0])), arithmetic=True).exp()
        tensor([3.0000, 2.5000, 1.5000])
    """
    alpha = check_alpha(alpha)
    K = log_wk.shape[-1]
    if K == 1:
        return torch.zeros_like(log_wk)
    lw = log_wk if alpha == 0.0 else (1.0 - alpha) * log_wk
    loo = leave_one_out_logsumexp(lw)
    if arithmetic:
        # 1/K (sum_{l!=k} w_l + mean_{l!=k} w_l) = 1/(K-1) sum_{l!=k} w_l
        c = loo - math.log(K - 1)
    else:
        c = torch.logaddexp(loo, leave_one_out_mean(lw)) - math.log(K)
    if alpha != 0.0:
        c = c / (1.0 - alpha)
    return _finite_baseline(c, loo)


def _finite_baseline(c: Tensor, loo: Tensor) -> Tensor:
    """``c`` where the other particles carry weight (``loo > -inf``), 0 where they all have zero weight.

    There ``log sum_{l != k} w_l = -inf`` and a log-space baseline is ``-inf`` (its learning signal
    ``L - c_k`` infinite). Both branches depend on ``z_{-k}`` only, so the estimator stays unbiased;
    0 is REINFORCE's baseline.
    """
    return torch.where(loo == -math.inf, torch.zeros((), dtype=c.dtype, device=c.device), c)


def ovis_asymptotic_control_variate(log_wk: Tensor, gamma: float = 1.0, alpha: float = 0.0,
                                    base: str = "default") -> Tensor:
    """OVIS asymptotic control variate, unified expression (Lievin et al., 2020, eq. 17).

    ``c_k = log Z_[-k] + (1 - gamma) log(1 - 1/K) - gamma * v_k`` where, by ``base``, ``log Z_[-k]`` is

    * ``"default"`` and ``"arithmetic"``: ``log 1/(K-1) sum_{l!=k} w_l``, the log of the arithmetic
      mean of the other weights (VIMCO's arithmetic baseline, so the two bases coincide);
    * ``"geometric"``: VIMCO's geometric baseline ``log 1/K (sum_{l!=k} w_l + exp(mean_{l!=k} log w_l))``.

    ``gamma = 1`` is the high-ESS limit, ``gamma = 0`` the ESS ~ 1 limit. Only ``gamma = 0`` gives
    a baseline that depends on ``z_{-k}`` alone; ``gamma > 0`` adds ``-gamma v_k``, which
    depends on ``z_k`` and biases the estimator (see :class:`ovis.estimators.ovis.OvisAsymptotic`).
    With ``alpha`` the weights are ``w^(1-alpha)`` and ``log Z_[-k] + (1 - gamma) log(1 - 1/K)`` is
    divided by ``1 - alpha``, matching :func:`iw_bound`. For ``K = 1``: 0. Where every other particle
    has zero weight, ``log Z_[-k]`` is replaced by 0 (a function of ``z_{-k}``, so no bias), which
    keeps the learning signal finite.

    Arguments:
        log_wk: log-weights ``[*, K]``.
        gamma: interpolation parameter.
        alpha: Renyi parameter.
        base: ``"default"``, ``"arithmetic"`` or ``"geometric"``.

    Returns:
        control variates ``c_k``, ``[*, K]``.
    """
    alpha = check_alpha(alpha)
    if base not in ("default", "arithmetic", "geometric"):
        raise ValueError(f"base={base!r} is invalid; expected 'default', 'arithmetic' or 'geometric'")
    K = log_wk.shape[-1]
    if K == 1:
        return torch.zeros_like(log_wk)
    lw = log_wk if alpha == 0.0 else (1.0 - alpha) * log_wk
    loo = leave_one_out_logsumexp(lw)
    if base == "geometric":
        log_z = torch.logaddexp(loo, leave_one_out_mean(lw)) - (math.log(K) - (1.0 - gamma) * math.log1p(-1.0 / K))
    else:  # log 1/(K-1) sum_{l!=k} w_l + (1 - gamma) log(1 - 1/K)
        log_z = loo - (gamma * math.log(K - 1) + (1.0 - gamma) * math.log(K))
    if alpha != 0.0:
        log_z = log_z / (1.0 - alpha)
    log_z = _finite_baseline(log_z, loo)
    if gamma == 0.0:
        return log_z
    return torch.sub(log_z, normalized_weights(log_wk, alpha), alpha=gamma)  # log Z_[-k] - gamma v_k


def ovis_mc_control_variate(log_wk: Tensor, log_wk_aux: Tensor, alpha: float = 0.0,
                            max_elements: int = 2 ** 20, method: str = "auto") -> Tensor:
    """OVIS Monte-Carlo estimate of the optimal control variate (Lievin et al., 2020, eq. 12).

    ``c_k = 1/S sum_s d_k(z'_s, z_{-k})`` with ``d_k = L_K - v_k`` evaluated on the particle set
    where ``z_k`` is replaced by the auxiliary particle ``z'_s ~ q(z|x)``. It depends on
    ``z_{-k}`` and the auxiliary particles only, so the estimator stays unbiased.

    With ``loo_k = log sum_{l!=k} w_l``: the replaced bound is
    ``(logaddexp(loo_k, log w'_s) - log K) / (1-alpha)`` and the replaced weight
    ``v_k = sigmoid(log w'_s - loo_k)``, in log-space and stable at any magnitude, also when every
    other particle has zero weight (``loo_k = -inf``: the replaced bound is that of ``z'_s`` alone and
    ``v_k = 1``). A ``c_k`` left undefined (the replaced sets all have zero weight) is replaced by 0,
    a function of ``z_{-k}`` and the auxiliary particles, so the estimator stays unbiased.

    Two ways to compute the two means over s, chosen by ``method``:

    * ``"exact"``: pair by pair, O(S*K) time per data point, memory O(K + max_elements) (chunked over S);
    * ``"interpolated"``: as functions of ``loo_k`` built from the auxiliary particles alone
      (:mod:`ovis.estimators.interpolation`: per-piece sums on a fixed grid of 2 nats, Chebyshev
      near the particles and convergent series away from them), O(S + K + P) per data point for
      auxiliary log-weights spanning P pieces, within 1e-9 of the exact sums (float64 inside);
    * ``"auto"`` (default): the interpolant where it costs fewer operations and the auxiliary
      log-weights are finite, else exact. The choice reads the auxiliary particles and the shapes
      only, never ``z_k``.

    Arguments:
        log_wk: log-weights ``[*, K]``.
        log_wk_aux: log-weights of the auxiliary particles ``[*, S]``, S >= 1.
        alpha: Renyi parameter.
        max_elements: largest intermediate tensor (elements) before chunking over S.
        method: ``"auto"``, ``"exact"`` or ``"interpolated"``.

    Returns:
        control variates ``c_k``, ``[*, K]``.
    """
    from .interpolation import auxiliary_means, exact_means

    alpha = check_alpha(alpha)
    if method not in ("auto", "exact", "interpolated"):
        raise ValueError(f"method={method!r} is invalid; expected 'auto', 'exact' or 'interpolated'")
    K, S = log_wk.shape[-1], log_wk_aux.shape[-1]
    if S < 1:
        raise ValueError("ovis_mc_control_variate needs at least one auxiliary particle (S >= 1)")
    a = 1.0 - alpha
    aux = a * log_wk_aux
    if K == 1:  # no other particle: the replaced set is {z'_s}, v = 1
        c = (aux / a - 1.0).mean(-1, keepdim=True)
        return torch.where(torch.isfinite(c), c, torch.zeros((), dtype=c.dtype, device=c.device))
    loo = leave_one_out_logsumexp(a * log_wk)  # [*, K]
    batch = loo.shape[:-1]
    if method == "auto":
        method = ovis_mc_path(K, aux)
    elif method == "interpolated" and not (aux.numel() and _all_finite(aux)):
        raise ValueError("method='interpolated' needs finite auxiliary log-weights; use 'auto' or 'exact'")
    if method == "interpolated":
        H, G = auxiliary_means(loo.reshape(-1, K).double(), aux.reshape(-1, S).double(), max_elements)
    else:
        H, G = exact_means(loo.reshape(-1, K), aux.reshape(-1, S), max_elements)
    H, G = H.to(loo.dtype).view(*batch, K), G.to(loo.dtype).view(*batch, K)
    c = (H - math.log(K)) / a - G
    return torch.where(torch.isfinite(c), c, torch.zeros((), dtype=c.dtype, device=c.device))


def ovis_mc_path(K: int, aux: Tensor) -> str:
    """The path ``method="auto"`` of :func:`ovis_mc_control_variate` takes for K particles and the
    auxiliary log-weights ``aux [*, S]`` (already scaled by ``1 - alpha``): ``"interpolated"`` where
    it is cheaper (:func:`~ovis.estimators.interpolation.interpolation_cost`) and ``aux`` is finite,
    else ``"exact"``. It reads the shapes and the auxiliary particles only, never ``z_k``."""
    from .interpolation import interpolation_cost, interpolation_pieces

    S = aux.shape[-1]
    if K < 2 or not aux.numel() or not _all_finite(aux):
        return "exact"
    exact_cost, interpolated_cost = interpolation_cost(K, S, interpolation_pieces(aux.detach()), aux.numel() // S)
    return "interpolated" if interpolated_cost < exact_cost else "exact"


def _all_finite(t: Tensor) -> bool:
    """Whether ``t`` is finite (``False`` where that cannot be read, e.g. under ``torch.func.vmap``)."""
    try:
        return bool(torch.isfinite(t).all())
    except RuntimeError:
        return False


def score_function_weights(log_wk: Tensor, c: Union[None, Tensor, float], alpha: float = 0.0
                           ) -> Tuple[Tensor, Tensor, Tensor]:
    """What the score-function estimator of the IW (Renyi) bound needs from the log-weights.

    The estimators call it under ``torch.no_grad()``: these are the coefficients of their gradient,
    not quantities to differentiate.

    Arguments:
        log_wk: log-weights ``[*, K]``.
        c: control variates, broadcastable to ``[*, K]`` (``None``: 0).
        alpha: Renyi parameter.

    Returns:
        ``(bound [*], v [*, K], prefactor [*, K])``: the bound
        ``L = 1/(1-alpha) log 1/K sum_k w_k^(1-alpha)``, the normalised weights
        ``v = softmax((1-alpha) log w)`` (the derivative of ``L`` with respect to ``log w``) and
        the score-function prefactors ``L - c_k``.

    Example:
        >>> import torch
        >>> bound, v, prefactor = score_function_weights(torch.tensor([[0.0, 0.0]]), None)
        >>> v
        tensor([[0.5000, 0.5000]])
        >>> bound
        tensor([0.])
    """
    lw = log_wk if alpha == 0.0 else (1.0 - alpha) * log_wk
    log_v = torch.log_softmax(lw, dim=-1)
    # log_softmax computes lw - max - log sum exp(lw - max); at the arg-max that is exactly
    # -log sum exp(lw - max), so max(lw) - max(log v) is logsumexp(lw), without a second pass
    lse = lw.amax(-1) - log_v.amax(-1)
    bound = lse - math.log(log_wk.shape[-1])
    if alpha != 0.0:
        bound = bound / (1.0 - alpha)
    prefactor = bound.unsqueeze(-1) if c is None else bound.unsqueeze(-1) - c
    return bound, log_v.exp(), prefactor.expand_as(lw)
