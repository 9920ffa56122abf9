"""OVIS-MC's control variate in O(S + K) per data point: the auxiliary sums as functions, built from
the auxiliary particles alone.

OVIS-MC's control variate (Lievin et al., 2020, eq. 12) needs, for every particle k, two means
over the S auxiliary log-weights ``a_s``, both functions of the one number ``b = loo_k =
log sum_{l != k} w_l``::

    H(b) = 1/S sum_s logaddexp(b, a_s) = b + 1/S sum_s softplus(a_s - b)
    G(b) = 1/S sum_s sigmoid(a_s - b)

Evaluated pair by pair (:func:`exact_means`) that is O(S K) per data point. Any function of
``z_{-k}`` and of the auxiliary particles is a valid control variate, so ``H`` and ``G`` may be
replaced by accurate approximations **built from the auxiliary particles alone** (an approximation
whose construction depended on the ``loo_k`` would depend on ``z_k`` through the others, and bias
the estimator). :func:`auxiliary_means` splits the real line into pieces of width ``w = 2`` nats on
a fixed grid (piece ``p`` is ``[p w, (p + 1) w)``, the same for every data set) and, for ``b`` in
piece ``q``, sums the auxiliary particles in three groups:

* pieces ``q - 2 .. q + 2`` (``|a_s - b| < 3 w``): the kernels ``softplus(a - b)`` and
  ``sigmoid(a - b)`` on each pair of pieces are replaced by their tensor Chebyshev interpolants of
  12 points per variable (analytic, poles at distance pi from the real axis: error below 1e-9).
  The sum over s then needs only the Chebyshev moments ``sum_s T_l(a~_s)`` of each piece;
* pieces ``p <= q - 3`` (``b - a_s > 2 w``): the convergent series
  ``sigmoid(t) = sum_m (-1)^(m+1) e^(m t)``, ``softplus(t) = sum_m (-1)^(m+1) e^(m t) / m`` (t < 0),
  7 terms (error below ``e^(-32)``), from the power sums ``sum_s e^(m a_s)`` of the pieces,
  accumulated over pieces in log-space;
* pieces ``p >= q + 3``: the same series in ``b - a_s`` after ``sigmoid(t) = 1 - sigmoid(-t)``,
  ``softplus(t) = t + softplus(-t)``, with the count and the sum of those ``a_s``.

Every group is computed from per-piece sums over the auxiliary particles (``O(S)``), combined per
piece (``O(P)`` for ``P`` occupied pieces) and read at each ``loo_k`` (``O(K)``): O(S + K + P) per
data point in all, in float64, within 1e-9 of the pair-by-pair sums (measured: 2e-10 at most over
scales of the log-weights from 0.01 to 300 nats). The function ``(H, G)(b)`` is fixed once the
auxiliary particles are: the value at one ``loo_k`` does not depend on the other ``loo_l`` (tested,
bit for bit).

References:
    Lievin, Dittadi, Christensen, Winther (2020), Optimal Variance Control of the Score Function
    Gradient Estimator for Importance Weighted Bounds, NeurIPS, arXiv:2008.01998.
    Trefethen (2013), Approximation Theory and Approximation Practice, ch. 8 (Chebyshev
    interpolants of analytic functions).
"""
from __future__ import annotations

import functools
import math
from typing import Tuple

import torch
from torch import Tensor

__all__ = ["auxiliary_means", "exact_means", "interpolation_pieces", "interpolation_cost", "WIDTH", "NODES",
           "BAND", "TERMS"]

WIDTH = 2.0  # width of a piece of the fixed grid, in nats
NODES = 12  # Chebyshev points per piece and variable (degree 11)
BAND = 2  # pieces q - BAND .. q + BAND are interpolated for b in piece q; the others have |a - b| > BAND w
TERMS = 7  # terms of the series, for |a - b| > BAND w: error below e^(-BAND w (TERMS + 1)) = e^(-32)

# relative costs per unit of work, measured on one CPU thread (float64): a pair of the exact sums
# (one logaddexp and one sigmoid), an auxiliary particle, a particle of the bound, a piece, a call
_PAIR, _AUX, _PARTICLE, _PIECE, _CALL = 1.0, 20.0, 20.0, 100.0, 50000.0


def interpolation_pieces(aux: Tensor) -> int:
    """Number of pieces of the fixed grid spanned by the auxiliary log-weights ``[*, S]`` (finite):
    the largest over the rows."""
    piece = torch.floor(aux / WIDTH)
    return int((piece.amax(-1) - piece.amin(-1)).max()) + 1


def interpolation_cost(K: int, S: int, pieces: int, rows: int = 1) -> Tuple[float, float]:
    """``(exact, interpolated)`` relative costs for ``rows`` data points of K particles and S auxiliary
    particles spanning ``pieces`` pieces (units: one pair of the exact sums)."""
    exact = rows * S * K * _PAIR
    interpolated = rows * (S * _AUX + K * _PARTICLE + (pieces + 4) * _PIECE) + _CALL
    return exact, interpolated


@functools.lru_cache(maxsize=8)
def _chebyshev(n: int, dtype: torch.dtype, device: torch.device) -> Tuple[Tensor, Tensor]:
    """Chebyshev points of the first kind on [-1, 1], ``[n]``, and the matrix ``[n, n]`` taking
    values at them to the coefficients of ``sum_j c_j T_j``."""
    j = torch.arange(n, dtype=torch.float64)
    theta = math.pi * (j + 0.5) / n
    nodes = torch.cos(theta)
    transform = 2.0 / n * torch.cos(j[:, None] * theta[None, :])  # T_i(x_j) = cos(i theta_j)
    transform[0] /= 2.0
    return nodes.to(dtype=dtype, device=device), transform.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=8)
def _near_kernels(dtype: torch.dtype, device: torch.device) -> Tensor:
    """Tensor Chebyshev coefficients of ``softplus(a - b)`` and ``sigmoid(a - b)`` for ``b`` in piece
    ``q`` and ``a`` in piece ``q - o``, ``o = -BAND .. BAND``: ``[2 BAND + 1, n (a), 2n (b: softplus,
    sigmoid)]``, so that ``kernel(a - b) ~ sum_{i, l} C[o + BAND, l, i] T_i(b~) T_l(a~)`` with local
    coordinates in [-1, 1]."""
    nodes, transform = _chebyshev(NODES, torch.float64, torch.device("cpu"))
    out = []
    for o in range(-BAND, BAND + 1):
        # a - b at (b-node i, a-node l): w (-o + (x_l - x_i) / 2)
        t = WIDTH * (-o + 0.5 * (nodes[None, :] - nodes[:, None]))  # [i, l]
        kernels = []
        for values in (torch.logaddexp(t, torch.zeros(())), torch.sigmoid(t)):
            coef = transform @ values @ transform.T  # [i, l]
            kernels.append(coef.T)  # [l, i]
        out.append(torch.cat(kernels, 1))  # [l, 2n]
    return torch.stack(out).to(dtype=dtype, device=device)


def exact_means(b: Tensor, aux: Tensor, max_elements: int = 2 ** 20) -> Tuple[Tensor, Tensor]:
    """``(H(b), G(b))`` pair by pair, O(S m) per row: ``b [R, m]`` (``-inf`` allowed), ``aux [R, S]`` ->
    ``[R, m]`` each; chunked over S so that no intermediate exceeds ``max_elements``."""
    R, m = b.shape
    S = aux.shape[-1]
    H = torch.zeros_like(b)
    G = torch.zeros_like(b)
    chunk = max(1, min(S, max_elements // max(1, R * m)))
    for start in range(0, S, chunk):
        part = aux[:, None, start:start + chunk]  # [R, 1, s]
        H += torch.logaddexp(b[..., None], part).sum(-1)
        G += torch.sigmoid(part - b[..., None]).sum(-1)
    return H / S, G / S


def _piece_sums(aux: Tensor, start: Tensor, P: int, max_elements: int) -> Tensor:
    """Per-piece sums over the auxiliary particles, ``[n + 2T + 1, R, P]``: the Chebyshev moments
    ``sum_s T_l(a~_s)`` (l < n), the power sums ``sum_s e^(m (x_s - w))`` and ``sum_s e^(-m x_s)``
    (m = 1..T, ``x_s = a_s - p w`` in ``[0, w)``) and ``sum_s a_s`` (relative to ``start * w``).

    Arguments:
        aux: auxiliary log-weights ``[R, S]``, finite, float64.
        start: the first piece of each row, ``[R, 1]``.
        P: pieces per row (every ``a_s`` lies in pieces ``start .. start + P - 1``).
        max_elements: largest intermediate tensor (chunked over S).
    """
    R, S = aux.shape
    n, T = NODES, TERMS
    width = n + 2 * T + 1
    sums = aux.new_zeros(width, R * P)
    row = torch.arange(R, device=aux.device)[:, None] * P
    chunk = max(1, min(S, max_elements // max(1, R * width)))
    for s0 in range(0, S, chunk):
        a = aux[:, s0:s0 + chunk] - start * WIDTH  # relative to the first piece: [R, s]
        piece = torch.floor(a * (1.0 / WIDTH)).clamp_(0, P - 1)
        x = a - piece * WIDTH  # in [0, w)
        values = a.new_empty(width, *a.shape)
        u = torch.mul(x, 2.0 / WIDTH, out=values[1]).sub_(1.0)
        values[0].fill_(1.0)
        for l in range(2, n):  # T_l = 2 u T_{l-1} - T_{l-2}
            torch.mul(values[l - 1], u, out=values[l]).mul_(2.0).sub_(values[l - 2])
        torch.exp(x - WIDTH, out=values[n])  # e^(x - w), e^(-x) and their powers
        torch.exp(-x, out=values[n + T])
        for k in range(1, T):
            torch.mul(values[n + k - 1], values[n], out=values[n + k])
            torch.mul(values[n + T + k - 1], values[n + T], out=values[n + T + k])
        values[-1] = a
        sums.index_add_(1, (row + piece.long()).reshape(-1), values.view(width, -1))
    return sums.view(width, R, P)


def auxiliary_means(loo: Tensor, aux: Tensor, max_elements: int = 2 ** 20) -> Tuple[Tensor, Tensor]:
    """``H(loo_k)`` and ``G(loo_k)`` (see the module docstring) from sums over the auxiliary particles
    on a fixed grid, ``[R, K]`` each, O(S + K + P) per row.

    Arguments:
        loo: ``log sum_{l != k} w_l``, ``[R, K]`` (``-inf`` and ``+inf`` allowed), float64.
        aux: the auxiliary log-weights ``[R, S]``, finite, float64.
        max_elements: largest intermediate tensor (chunked over S).

    Returns:
        ``(H, G)``, each ``[R, K]``, within 1e-9 of the pair-by-pair sums.

    Example:
        >>> import torch
        >>> aux, loo = torch.randn(2, 50, dtype=torch.float64), 3 * torch.randn(2, 7, dtype=torch.float64)
        >>> H, G = auxiliary_means(loo, aux)
        >>> exact_H = torch.logaddexp(loo[..., None], aux[:, None, :]).mean(-1)
        >>> bool((H - exact_H).abs().max() < 1e-9)
        True
    """
    R, K = loo.shape
    S = aux.shape[-1]
    n, T, w = NODES, TERMS, WIDTH
    start = torch.floor(aux.amin(-1, keepdim=True) * (1.0 / w))  # [R, 1]: the fixed grid's first piece
    # pieces relative to the first, computed as _piece_sums computes them (so that rounding in
    # a - start * w cannot put a particle beyond the last piece)
    P = int(torch.floor((aux - start * w) * (1.0 / w)).max()) + 1
    sums = _piece_sums(aux, start, P, max_elements)  # [width, R, P]
    moments, count, total = sums[:n], sums[0], sums[-1]
    log_lo = sums[n:n + T].log()  # [T, R, P]
    log_up = sums[n + T:n + 2 * T].log()
    m = torch.arange(1, T + 1, dtype=aux.dtype, device=aux.device)[:, None, None]  # [T, 1, 1]
    p = torch.arange(P, dtype=aux.dtype, device=aux.device)  # [P]
    # b in piece q (relative to the first piece), read through j = q + B + 1 in [0, P + 2B + 2): j = 0
    # holds every b below the pieces (every a_s at least B + 1 pieces above), the last j every b above
    B = BAND
    Pb = P + 2 * B + 2
    # pieces q - B .. q + B: moments padded by 2B + 1 pieces, so piece q - o is at j + B - o
    padded = torch.nn.functional.pad(moments, (2 * B + 1, 2 * B + 1)).permute(1, 2, 0)  # [R, P + 4B + 2, n]
    kernels = _near_kernels(aux.dtype, aux.device)  # [2B + 1, n, 2n]
    near = sum(padded[:, 2 * B - i:2 * B - i + Pb] @ kernels[i] for i in range(2 * B + 1))  # o = i - B: [R, Pb, 2n]
    # pieces p >= q + B + 1 = j: count, sum, and
    # sum_s e^(m ((q + B + 1) w - a_s)) = sum_{p >= j} e^(-m w (p - j)) up_p, in log-space
    count_up = torch.nn.functional.pad(count.flip(-1).cumsum(-1).flip(-1), (0, 2 * B + 2))  # [R, Pb]
    total_up = torch.nn.functional.pad(total.flip(-1).cumsum(-1).flip(-1), (0, 2 * B + 2))
    log_u = torch.logcumsumexp((log_up - m * w * p).flip(-1), -1).flip(-1) + m * w * p  # [T, R, P] at j = p
    log_u = torch.nn.functional.pad(log_u, (0, 2 * B + 2), value=-math.inf)  # [T, R, Pb]
    # pieces p <= q - B - 1 = j - 2B - 2:
    # sum_s e^(m (a_s - (q - B) w)) = sum_{p <= j - 2B - 2} e^(-m w (j - 2B - 2 - p)) lo_p
    log_l = torch.logcumsumexp(log_lo + m * w * p, -1) - m * w * p  # [T, R, P] at j - 2B - 2 = p
    log_l = torch.nn.functional.pad(log_l, (2 * B + 2, 0), value=-math.inf)  # [T, R, Pb]
    # read at every loo_k
    finite = torch.isfinite(loo)
    b = torch.where(finite, loo - start * w, torch.zeros((), dtype=loo.dtype, device=loo.device))  # [R, K]
    q = torch.floor(b * (1.0 / w))
    j = (q + B + 1).clamp_(0, Pb - 1)
    qc = j - B - 1
    u = (2.0 / w * (b - qc * w) - 1.0).clamp_(-1.0, 1.0)  # local coordinate in piece qc (near = 0 elsewhere)
    basis = [torch.ones_like(u), u]
    for _ in range(2, n):
        basis.append(2.0 * u * basis[-1] - basis[-2])
    index = j.long()
    coef = near.gather(1, index[..., None].expand(R, K, 2 * n))  # [R, K, 2n]
    chebyshev = torch.stack(basis, -1)  # [R, K, n]
    near_F = (coef[..., :n] * chebyshev).sum(-1)
    near_G = (coef[..., n:] * chebyshev).sum(-1)
    sign = torch.where(m % 2 == 1, 1.0, -1.0).to(aux.dtype)  # [T, 1, 1]
    idx_T = index.expand(T, R, K)
    above = torch.exp(m * (b - (qc + B + 1) * w) + log_u.gather(2, idx_T)) * sign  # [T, R, K]
    below = torch.exp(m * ((qc - B) * w - b) + log_l.gather(2, idx_T)) * sign
    n_up, a_up = count_up.gather(1, index), total_up.gather(1, index)
    G = (n_up + near_G - above.sum(0) + below.sum(0)) / S
    F = (a_up - n_up * b + near_F + ((above + below) / m).sum(0)) / S
    H = loo + F
    H = torch.where(finite, H, torch.where(loo > 0, loo, aux.mean(-1, keepdim=True)))
    G = torch.where(finite, G, (loo < 0).to(G.dtype))
    return H, G
