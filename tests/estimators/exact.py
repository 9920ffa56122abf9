"""Exact expectations of estimator gradients, by enumerating (or integrating over) every draw.

An estimator's gradient is a deterministic function of its random draws. On the categorical
toy (C classes, n particles per data point) there are C^n particle tuples; each tuple ``t``
gets probability ``q(t|x) = prod_j q(z_j|x)``, and

    E[g] = sum_t q(t|x) g(t) = grad of sum_t q(t|x).detach() * loss(t)

because the loss rows of different tuples are independent. All tuples of all data points are
handed to the estimator as one batch (``model.fixed_z``), so one forward and one backward
give the exact mean. On the linear Gaussian toy the draws are the standard-normal noises of
the n particles; n-dimensional Gauss-Hermite nodes (``model.fixed_eps``) with their weights
replace the tuples.

The targets are written from the definitions with the toys' own log-densities
(``log_joint_terms``, ``gauss_terms``) and :mod:`tests.estimators.naive`, never with
``ovis.estimators``.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Normal

from . import naive

#: a free-bits threshold that every layer's KL stays below: the KL terms lose their gradient.
HELD = 1e9

Terms = Tuple[Tensor, Tensor, Tensor]


def params(model: nn.Module) -> List[nn.Parameter]:
    return list(model.parameters())


def flat(grads: Sequence[Optional[Tensor]], model: nn.Module) -> Tensor:
    return torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for g, p in zip(grads, params(model))])


def gradient(objective: Tensor, model: nn.Module) -> Tensor:
    """Flat gradient of a scalar with respect to the model's parameters."""
    return flat(torch.autograd.grad(objective, params(model), allow_unused=True), model)


def inference_mask(model: nn.Module) -> Tensor:
    """``[P]`` booleans: which flat parameters belong to the inference network."""
    return torch.tensor([name.startswith("inference_network") for name, p in model.named_parameters()
                         for _ in range(p.numel())])


# ---------------------------------------------------------------------------------- draws
@functools.lru_cache(maxsize=None)
def all_tuples(C: int, n: int) -> Tensor:
    """Every tuple of ``n`` classes in ``{0..C-1}``, in lexicographic order, ``[C^n, n]``."""
    index = torch.arange(C ** n)
    powers = C ** torch.arange(n - 1, -1, -1)
    return index[:, None] // powers % C


def categorical_draws(model, xs: Tensor, n: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Every tuple of ``n`` classes for every data point: ``x_rows [R, 1]``, ``z [R, n]``, ``q(t|x) [R]``."""
    tuples = all_tuples(model.C, n)  # [T, n]
    T = tuples.shape[0]
    x_rows = xs.repeat_interleave(T, 0)  # [num_x * T, 1]
    z = tuples.repeat(xs.shape[0], 1)  # [R, n]
    with torch.no_grad():
        log_q = torch.log_softmax(model.q_logits(x_rows), -1).gather(1, z).sum(1)
    return x_rows, z, log_q.exp()


def hermite(M: int, dtype=torch.float64) -> Tuple[Tensor, Tensor]:
    """Gauss-Hermite nodes and weights for the standard normal (weights sum to 1)."""
    t, w = np.polynomial.hermite_e.hermegauss(M)
    return torch.tensor(t, dtype=dtype), torch.tensor(w / math.sqrt(2 * math.pi), dtype=dtype)


def gaussian_draws(xs: Tensor, n: int, M: int) -> Tuple[Tensor, Tensor, Tensor]:
    """The ``M^n`` Gauss-Hermite nodes of ``n`` noises for every data point: ``x_rows``, ``eps [R, n]``, weights."""
    t, w = hermite(M, xs.dtype)
    grid = torch.cartesian_prod(*([t] * n)).reshape(-1, n)
    weight = torch.cartesian_prod(*([w] * n)).reshape(-1, n).prod(1)
    T = grid.shape[0]
    return xs.repeat_interleave(T, 0), grid.repeat(xs.shape[0], 1), weight.repeat(xs.shape[0])


# ---------------------------------------------------------------------------------- log-densities
def categorical_terms(model, x_rows: Tensor, z: Tensor) -> Terms:
    """``log p(x|z), log p(z), log q(z|x)``, each ``[R, n]``, from the toy's own formulas."""
    R, n = z.shape
    lpx, lpz, lqz = model.log_joint_terms(x_rows.repeat_interleave(n, 0), z.reshape(-1))
    return lpx.view(R, n), lpz.view(R, n), lqz.view(R, n)


def gauss_terms(model, x_rows: Tensor, eps: Tensor, stl: bool = False, detach_z: bool = False,
                detach_theta: bool = False) -> Terms:
    """``log p(x|z), log p(z), log q(z|x)`` at ``z = loc + scale * eps`` (reparameterised), ``[R, n]``.

    ``stl``: ``log q`` with the parameters of q held constant (the gradient flows through z only);
    ``detach_z``: z without its path to q's parameters; ``detach_theta``: p's parameters held constant.
    """
    i, g = model.inference_network, model.generative_model
    loc = (i["a"] * x_rows[:, 0] + i["b"])[:, None]
    scale = i["s"].exp()
    z = loc + scale * eps
    if detach_z:
        z = z.detach()
    w, m = (g["w"].detach(), g["m"].detach()) if detach_theta else (g["w"], g["m"])
    lpx = Normal(w * z, 1.0).log_prob(x_rows)
    lpz = Normal(m, 1.0).log_prob(z)
    lqz = (Normal(loc.detach(), scale.detach()) if stl else Normal(loc, scale)).log_prob(z)
    return lpx, lpz, lqz


log_weights = naive.log_weights


# ---------------------------------------------------------------------------------- targets
def categorical_bound_gradient(model, xs: Tensor, K: int, alpha: float = 0.0, beta: float = 1.0,
                               held: bool = False) -> Tensor:
    """Exact gradient of ``sum_x E_q[L_K^alpha]`` (log-weights with the KL weight beta; ``held``: the
    KL term without gradient, as under free bits), by enumeration of the C^K tuples."""
    x_rows, z, _ = categorical_draws(model, xs, K)
    terms = categorical_terms(model, x_rows, z)
    prob = terms[2].sum(1).exp()  # q(t|x), with its gradient (the score part)
    bound = naive.renyi_bound(log_weights(terms, beta, held), alpha)
    return gradient((prob * bound).sum(), model)


def gaussian_bound_gradient(model, xs: Tensor, K: int, M: int, alpha: float = 0.0, beta: float = 1.0,
                            held: bool = False) -> Tensor:
    """Gradient of ``sum_x E_eps[L_K^alpha]`` by K-dimensional Gauss-Hermite quadrature with M nodes
    per dimension (reparameterised nodes: autograd differentiates the quadrature)."""
    x_rows, eps, weight = gaussian_draws(xs, K, M)
    bound = naive.renyi_bound(log_weights(gauss_terms(model, x_rows, eps), beta, held), alpha)
    return gradient((weight * bound).sum(), model)


# ---------------------------------------------------------------------------------- estimator means
def categorical_estimator_mean(estimator, model, xs: Tensor, n: int, **options) -> Tensor:
    """Exact ``sum_x E[g]`` of an estimator whose call evaluates ``n`` particles per data point."""
    x_rows, z, prob = categorical_draws(model, xs, n)
    model.fixed_z = z.reshape(-1)
    try:
        loss = estimator(model, x_rows, **options)[0]
    finally:
        model.fixed_z = None
    return gradient(-(prob * loss).sum(), model)


def gaussian_estimator_mean(estimator, model, xs: Tensor, n: int, M: int, **options) -> Tensor:
    """``sum_x E[g]`` of a reparameterised estimator by Gauss-Hermite quadrature over its ``n`` noises."""
    x_rows, eps, weight = gaussian_draws(xs, n, M)
    model.fixed_eps = eps.reshape(-1)
    try:
        loss = estimator(model, x_rows, **options)[0]
    finally:
        model.fixed_eps = None
    return gradient(-(weight * loss).sum(), model)


def reference_mean(model, xs: Tensor, n: int, mc: int, surrogate: Callable[..., Tensor],
                   M: Optional[int] = None) -> Tensor:
    """Exact ``sum_x E[g]`` of a reference estimator, averaged over ``mc`` samples of ``n / mc`` particles.

    ``surrogate(terms) -> [R*mc]``: ``terms(**flags)`` gives ``(log p(x|z), log p(z), log q(z|x))``,
    each ``[R*mc, n/mc]`` (the flags of :func:`gauss_terms` on the Gaussian toy, ``M`` nodes per noise;
    the categorical toy when ``M`` is None); the gradient of the output is the estimate of one sample.
    """
    if M is None:
        x_rows, z, prob = categorical_draws(model, xs, n)
        make = lambda **flags: categorical_terms(model, x_rows, z)
    else:
        x_rows, eps, prob = gaussian_draws(xs, n, M)
        make = lambda **flags: gauss_terms(model, x_rows, eps, **flags)
    R = x_rows.shape[0]
    per_sample = lambda **flags: tuple(t.reshape(R * mc, n // mc) for t in make(**flags))
    values = surrogate(per_sample).view(R, mc).mean(1)
    return gradient((prob * values).sum(), model)


def sleep_nodes(model, M: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Draws ``(z, x) ~ p(z) p(x|z)`` of the categorical toy as C x M quadrature nodes with weights."""
    t, w = hermite(M)
    with torch.no_grad():
        prior = torch.softmax(model.prior_logits(), -1)
        mu = model.generative_model["mu"]
    z = torch.arange(model.C).repeat_interleave(M)
    x = (mu[z] + t.repeat(model.C))[:, None]
    return z, x, prior[z] * w.repeat(model.C)


def sleep_estimator_mean(estimator, model, n: int, M: int, **options) -> Tensor:
    """Exact mean of the sleep-phase part of an estimator's gradient (wake-sleep) over the nodes of
    :func:`sleep_nodes`; row r of the batch gets ``n`` copies of node r as its sleep draws."""
    z, x, weight = sleep_nodes(model, M)
    R = z.shape[0]
    model.fixed_z = torch.zeros(R * n, dtype=torch.long)
    model.fixed_prior = (z.repeat_interleave(n), x.repeat_interleave(n, 0))
    try:
        loss = estimator(model, torch.zeros(R, 1, dtype=x.dtype), **options)[0]
    finally:
        model.fixed_z, model.fixed_prior = None, None
    return gradient(-(weight * loss).sum(), model)


def sleep_reference_mean(model, M: int) -> Tensor:
    """``E_{p(z) p(x|z)}[grad log q(z|x)]`` over the same nodes, from the toy's own ``log q``."""
    z, x, weight = sleep_nodes(model, M)
    log_q = torch.log_softmax(model.q_logits(x), -1).gather(1, z[:, None])[:, 0]
    return gradient((weight * log_q).sum(), model)


def relative_error(estimate: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> float:
    if mask is not None:
        estimate, target = estimate[mask], target[mask]
    return float((estimate - target).norm() / target.norm())
