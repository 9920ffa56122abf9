"""Tiny models with exact L_K gradients, used to prove (un)biasedness of the estimators.

* :class:`CategoricalToy`: z in {0..C-1}; q(z|x) = Cat(phi_a + phi_b x), p(z) = Cat(theta_p),
  p(x|z) = N(theta_mu[z], 1). L_K is computed exactly by enumerating the C^K particle tuples.
* :class:`LinearGaussianToy`: 1-D z; p(z) = N(theta_m, 1), p(x|z) = N(theta_w z, 1),
  q(z|x) = N(phi_a x + phi_b, exp(phi_s)^2). L_K is computed by K-dimensional Gauss-Hermite
  quadrature (reparameterised nodes, so autograd gives the gradient of the quadrature).

Both can be handed their random draws (``fixed_z``: the latent of every row; ``fixed_eps``: the
standard-normal noise of every row; ``fixed_prior``: the ``(z, x)`` draws of ``sample_from_prior``),
so that the exact expectation of an estimator is a weighted sum over enumerated draws.
"""
from __future__ import annotations

import itertools
import math
from typing import Dict, List

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, Independent, Normal

from ovis.models import TemplateModel


class CategoricalToy(TemplateModel):
    def __init__(self, C: int = 3, spread: float = 1.0, seed: int = 0, dtype=torch.float64):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        r = lambda *s: torch.randn(*s, generator=g, dtype=dtype)
        self.inference_network = nn.ParameterDict({"a": nn.Parameter(0.5 * r(C)), "b": nn.Parameter(0.5 * r(C))})
        self.generative_model = nn.ParameterDict({"p": nn.Parameter(0.5 * r(C)),
                                                  "mu": nn.Parameter(spread * r(C))})
        self.C = C
        #: log-prior offset per class (a buffer): -inf makes a class impossible under p(z)
        self.register_buffer("prior_mask", torch.zeros(C, dtype=dtype))
        self.fixed_z = None  # [N] class of every row, instead of sampling q(z|x)
        self.fixed_prior = None  # (z [N], x [N, 1]) returned by sample_from_prior

    def prior_logits(self) -> Tensor:
        return self.generative_model["p"] + self.prior_mask

    def q_logits(self, x: Tensor) -> Tensor:
        return self.inference_network["a"] + self.inference_network["b"] * x  # [N, C]

    def log_joint_terms(self, x: Tensor, z: Tensor):
        """log p(x|z), log p(z), log q(z|x) for z [N] and x [N, 1]."""
        g = self.generative_model
        log_px = Normal(g["mu"][z], 1.0).log_prob(x[:, 0])
        log_pz = torch.log_softmax(self.prior_logits(), -1)[z]
        log_qz = torch.log_softmax(self.q_logits(x), -1).gather(1, z[:, None])[:, 0]
        return log_px, log_pz, log_qz

    def forward(self, x: Tensor, reparam: bool = False, zs=None, **kw) -> Dict:
        qz = Categorical(logits=self.q_logits(x))
        if zs is not None:
            z = zs[0]
        elif self.fixed_z is not None:
            assert self.fixed_z.shape == (x.shape[0],), (self.fixed_z.shape, x.shape)
            z = self.fixed_z
        else:
            z = qz.sample()
        pz = Categorical(logits=self.prior_logits().expand(x.shape[0], self.C))
        px = Independent(Normal(self.generative_model["mu"][z].unsqueeze(-1), 1.0), 1)
        return {"px": px, "z": [z], "qz": [qz], "pz": [pz]}

    def sample_from_prior(self, bs: int, **kw) -> Dict:
        pz = Categorical(logits=self.prior_logits().expand(bs, self.C))
        if self.fixed_prior is not None:
            z, x = self.fixed_prior
            assert z.shape == (bs,), (z.shape, bs)
            return {"px": PointMass(x), "z": [z], "pz": [pz]}
        z = pz.sample()
        px = Independent(Normal(self.generative_model["mu"][z].unsqueeze(-1), 1.0), 1)
        return {"px": px, "z": [z], "pz": [pz]}

    def exact_bound(self, x: Tensor, K: int) -> Tensor:
        """Exact L_K = E_q[log 1/K sum_k w_k], summed over the rows of x [bs, 1]."""
        C = self.C
        total = 0.0
        tuples = torch.tensor(list(itertools.product(range(C), repeat=K)))  # [C^K, K]
        for xi in x:
            xs = xi.expand(C, 1)
            z = torch.arange(C)
            lpx, lpz, lqz = self.log_joint_terms(xs, z)
            lw = lpx + lpz - lqz  # [C]
            lw_t = lw[tuples]  # [C^K, K]
            lq_t = lqz[tuples].sum(-1)
            total = total + (lq_t.exp() * (torch.logsumexp(lw_t, -1) - math.log(K))).sum()
        return total


class LinearGaussianToy(TemplateModel):
    def __init__(self, seed: int = 0, dtype=torch.float64):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        r = lambda: 0.3 * torch.randn((), generator=g, dtype=dtype)
        self.inference_network = nn.ParameterDict({"a": nn.Parameter(0.4 + r()), "b": nn.Parameter(r()),
                                                   "s": nn.Parameter(-0.3 + r())})
        self.generative_model = nn.ParameterDict({"m": nn.Parameter(r()), "w": nn.Parameter(1.0 + r())})
        self.fixed_eps = None  # [N] standard-normal noise of every row, instead of drawing it

    def q(self, x: Tensor) -> Normal:
        i = self.inference_network
        return Normal(i["a"] * x[:, 0] + i["b"], i["s"].exp().expand(x.shape[0]))

    def forward(self, x: Tensor, reparam: bool = False, zs=None, **kw) -> Dict:
        qz = self.q(x)
        if zs is not None:
            z = zs[0]
        elif self.fixed_eps is not None:
            assert self.fixed_eps.shape == (x.shape[0],), (self.fixed_eps.shape, x.shape)
            z = qz.loc + qz.scale * self.fixed_eps
            z = z if reparam else z.detach()
        else:
            z = qz.rsample() if reparam else qz.sample()
        g = self.generative_model
        pz = Normal(g["m"].expand(x.shape[0]), torch.ones_like(z))
        px = Independent(Normal((g["w"] * z).unsqueeze(-1), 1.0), 1)
        return {"px": px, "z": [z], "qz": [qz], "pz": [pz]}

    def sample_from_prior(self, bs: int, **kw) -> Dict:
        g = self.generative_model
        pz = Normal(g["m"].expand(bs), g["m"].new_ones(bs))
        z = pz.sample()
        px = Independent(Normal((g["w"] * z).unsqueeze(-1), 1.0), 1)
        return {"px": px, "z": [z], "pz": [pz]}

    def exact_bound(self, x: Tensor, K: int, n: int = 24) -> Tensor:
        """L_K by n^K-point Gauss-Hermite quadrature, summed over the rows of x [bs, 1]."""
        t, w = np.polynomial.hermite_e.hermegauss(n)  # weight exp(-t^2/2)
        t = torch.tensor(t, dtype=x.dtype)
        w = torch.tensor(w / math.sqrt(2 * math.pi), dtype=x.dtype)
        grid_t = torch.cartesian_prod(*([t] * K)).reshape(-1, K)
        grid_w = torch.cartesian_prod(*([w] * K)).reshape(-1, K).prod(-1)
        g = self.generative_model
        total = 0.0
        for xi in x:
            q = self.q(xi.view(1, 1))
            z = q.loc + q.scale * grid_t  # [n^K, K]
            lw = (Normal(g["w"] * z, 1.0).log_prob(xi[0]) + Normal(g["m"], 1.0).log_prob(z)
                  - Normal(q.loc, q.scale).log_prob(z))
            total = total + (grid_w * (torch.logsumexp(lw, -1) - math.log(K))).sum()
        return total


class PointMass(Distribution):
    """Rows ``x [N, 1]`` returned by ``sample()`` (a stand-in for ``p(x|z)`` in the sleep phase)."""

    arg_constraints: Dict = {}

    def __init__(self, x: Tensor):
        self.x = x
        super().__init__(batch_shape=x.shape[:1], event_shape=x.shape[1:], validate_args=False)

    def sample(self, sample_shape=torch.Size()) -> Tensor:
        return self.x.expand(*sample_shape, *self.x.shape)


def flat_grad(model: nn.Module) -> Tensor:
    return torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(p).reshape(-1)
                      for p in model.parameters()])


def exact_gradient(model, x: Tensor, K: int) -> Tensor:
    model.zero_grad()
    model.exact_bound(x, K).backward()
    g = flat_grad(model).clone()
    model.zero_grad()
    return g


def estimated_gradients(estimator, model, x: Tensor, repeats: int, mc: int, **overrides) -> Tensor:
    """[repeats, P] gradient estimates of sum_x L_K (each the average of mc draws)."""
    out = []
    for _ in range(repeats):
        model.zero_grad()
        loss, _, _ = estimator(model, x, mc=mc, **overrides)
        (-loss.sum()).backward()
        out.append(flat_grad(model).clone())
    model.zero_grad()
    return torch.stack(out)


def z_scores(samples: Tensor, target: Tensor) -> Tensor:
    mean = samples.mean(0)
    se = samples.std(0) / math.sqrt(samples.shape[0])
    return (mean - target) / se.clamp_min(1e-12)


def param_names(model: nn.Module) -> List[str]:
    return [n for n, p in model.named_parameters() for _ in range(p.numel())]
