"""OVIS-MC's control variate in O((S + K) M): the auxiliary sums as functions, interpolated.

OVIS-MC's control variate (Lievin et al., 2020, eq. 12) needs, for every particle k, two means
over the S auxiliary log-weights ``a_s``, both functions of the one number ``b = loo_k =
log sum_{l != k} w_l``::

    H(b) = 1/S sum_s logaddexp(b, a_s)        (the replaced bounds, before -log K)
    G(b) = 1/S sum_s sigmoid(a_s - b)          (the replaced weights v_k)

Evaluated pair by pair that is O(S K) per data point. Any function of ``z_{-k}`` and of the
auxiliary particles is a valid control variate, so ``H`` and ``G`` may be replaced by accurate
approximations **built from the auxiliary particles alone** (an approximation whose nodes depended
on the ``loo_k`` would depend on ``z_k`` through the others, and bias the estimator). Here:

* outside ``[min a - 2, max a + 2]`` every ``|a_s - b| > 2`` and both sums are convergent power
  series in ``exp(-|a_s - b|)``, exact to float64 with 20 terms, from the power sums
  ``log mean_s exp(+-n a_s)`` (O(S) each);
* inside, a piecewise Chebyshev interpolant of degree 20 on pieces of width at most 4 nats
  (``softplus`` and ``sigmoid`` have their poles at distance pi from the real axis, so the
  error is below 1e-10), whose nodes cost O(S) each.

With M nodes in all this costs O(S M + K d) per data point instead of O(S K), and is chosen
when cheaper (:func:`interpolation_cost`). Everything is computed in float64.

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

__all__ = ["auxiliary_means", "exact_means", "interpolation_pieces", "interpolation_cost", "DEGREE", "MARGIN", "TERMS"]

DEGREE = 20  # Chebyshev degree per piece
WIDTH = 4.0  # largest piece, in nats
MARGIN = 2.0  # the series hold for |a_s - b| > MARGIN
TERMS = 20  # terms of the series: error below exp(-2 * 21) / 21


def interpolation_pieces(aux: Tensor) -> int:
    """Pieces of the interpolant for auxiliary log-weights ``[*, S]`` (finite): the same number for
    every row, enough that each row's pieces are at most 4 nats wide."""
    span = (aux.amax(-1) - aux.amin(-1)).max()
    return max(1, int(math.ceil((float(span) + 2 * MARGIN) / WIDTH)))


def interpolation_cost(K: int, S: int, pieces: int) -> Tuple[int, int]:
    """``(exact, interpolated)`` operation counts per data point: ``2 S K`` against
    ``2 S (pieces (d + 1) + 2 T) + 3 K (d + 1)``."""
    return 2 * S * K, 2 * S * (pieces * (DEGREE + 1) + 2 * TERMS) + 3 * K * (DEGREE + 1)


@functools.lru_cache(maxsize=8)
def _chebyshev(degree: int, dtype: torch.dtype, device: torch.device) -> Tuple[Tensor, Tensor]:
    """Chebyshev points of the first kind on [-1, 1], ``[d+1]``, and the matrix ``[d+1, d+1]``
    taking values at them to the coefficients of ``sum_j c_j T_j``."""
    n = degree + 1
    j = torch.arange(n, dtype=torch.float64)
    theta = math.pi * (j + 0.5) / n
    nodes = torch.cos(theta)
    basis = torch.cos(j[:, None] * theta[None, :])  # T_i(x_j) = cos(i theta_j)
    transform = 2.0 / n * basis
    transform[0] /= 2.0
    return nodes.to(dtype=dtype, device=device), transform.to(dtype=dtype, device=device)


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


def _series(b_hi: Tensor, b_lo: Tensor, aux: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """The sums at ``b_hi`` (at least MARGIN above every ``a_s``) and at ``b_lo`` (at least MARGIN below).

    Above: ``logaddexp(b, a) = b + sum_n (-1)^(n+1) e^(n(a-b)) / n`` and ``sigmoid(a - b) =
    sum_n (-1)^(n+1) e^(n(a-b))``; below, the same in ``e^(n(b-a))`` with ``logaddexp(b, a) = a +
    log1p(e^(b-a))`` and ``sigmoid(a - b) = 1 - sigmoid(b - a)``. Returns ``(H_hi, G_hi, H_lo, G_lo)``.
    """
    S = aux.shape[-1]
    n = torch.arange(1, TERMS + 1, dtype=aux.dtype, device=aux.device)  # [T]
    sign = 1.0 - 2.0 * ((n - 1) % 2)  # +1, -1, +1, ...
    # log mean_s e^(+-n a_s), [R, T], one power at a time (memory R * S)
    power_hi = torch.stack([torch.logsumexp(k * aux, -1) for k in range(1, TERMS + 1)], -1) - math.log(S)
    power_lo = torch.stack([torch.logsumexp(-k * aux, -1) for k in range(1, TERMS + 1)], -1) - math.log(S)
    terms_hi = torch.exp(power_hi[:, None, :] - n * b_hi[..., None])  # [R, m, T]; exponents <= -2n
    terms_lo = torch.exp(power_lo[:, None, :] + n * b_lo[..., None])
    H_hi = b_hi + (terms_hi * (sign / n)).sum(-1)
    G_hi = (terms_hi * sign).sum(-1)
    H_lo = aux.mean(-1, keepdim=True) + (terms_lo * (sign / n)).sum(-1)
    G_lo = 1.0 - (terms_lo * sign).sum(-1)
    return H_hi, G_hi, H_lo, G_lo


def auxiliary_means(loo: Tensor, aux: Tensor, pieces: int, max_elements: int = 2 ** 20) -> Tuple[Tensor, Tensor]:
    """``H(loo_k)`` and ``G(loo_k)`` (see the module docstring) from an interpolant of the auxiliary
    particles, ``[R, K]`` each.

    Arguments:
        loo: ``log sum_{l != k} w_l``, ``[R, K]`` (``-inf`` allowed), float64.
        aux: the auxiliary log-weights ``[R, S]``, finite, float64.
        pieces: number of Chebyshev pieces (:func:`interpolation_pieces`, from ``aux`` alone).
        max_elements: largest intermediate tensor when the nodes are evaluated.

    Returns:
        ``(H, G)``, each ``[R, K]``, within 1e-10 of the pair-by-pair sums.

    Example:
        >>> import torch
        >>> aux, loo = torch.randn(2, 50, dtype=torch.float64), 3 * torch.randn(2, 7, dtype=torch.float64)
        >>> H, G = auxiliary_means(loo, aux, interpolation_pieces(aux))
        >>> exact_H = torch.logaddexp(loo[..., None], aux[:, None, :]).mean(-1)
        >>> bool((H - exact_H).abs().max() < 1e-10)
        True
    """
    R, K = loo.shape
    lo = aux.amin(-1, keepdim=True) - MARGIN  # [R, 1]: from the auxiliary particles only
    hi = aux.amax(-1, keepdim=True) + MARGIN
    width = (hi - lo) / pieces  # [R, 1], at most WIDTH
    nodes, transform = _chebyshev(DEGREE, loo.dtype, loo.device)
    # the interpolation nodes of every piece, [R, pieces * (d + 1)]
    left = lo + width * torch.arange(pieces, dtype=loo.dtype, device=loo.device)  # [R, pieces]
    at = (left[..., None] + 0.5 * width[..., None] * (nodes + 1.0)).reshape(R, -1)
    H_nodes, G_nodes = exact_means(at, aux, max_elements)
    # coefficients per piece: [R, pieces, d + 1]
    coef_H = (H_nodes - at).view(R, pieces, DEGREE + 1) @ transform.T  # interpolate F = H - b, bounded
    coef_G = G_nodes.view(R, pieces, DEGREE + 1) @ transform.T
    # evaluate at loo: the piece, the local coordinate, the Chebyshev basis by recurrence
    inside = (loo >= lo) & (loo <= hi)
    b = torch.where(inside, loo, lo)  # any point inside for the others (their value is not used)
    index = ((b - lo) / width).floor().clamp_(0, pieces - 1).long()  # [R, K]
    u = 2.0 * (b - lo - index * width) / width - 1.0
    basis = [torch.ones_like(u), u]
    for _ in range(2, DEGREE + 1):
        basis.append(2.0 * u * basis[-1] - basis[-2])
    T = torch.stack(basis, -1)  # [R, K, d + 1]
    gather = index[..., None].expand(R, K, DEGREE + 1)
    F_in = (coef_H.gather(1, gather) * T).sum(-1)
    G_in = (coef_G.gather(1, gather) * T).sum(-1)
    above = loo > hi
    H_hi, G_hi, H_lo, G_lo = _series(torch.where(above, loo, hi), torch.where(loo < lo, loo, lo), aux)
    H = torch.where(inside, b + F_in, torch.where(above, H_hi, H_lo))
    G = torch.where(inside, G_in, torch.where(above, G_hi, G_lo))
    return H, G
