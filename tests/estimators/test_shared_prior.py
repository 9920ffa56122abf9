"""Models whose distributions have batch shapes that broadcast (a prior shared by every row).

The most common user model returns its prior as ``Bernoulli(logits=self.prior)`` with a
registered ``(1, Z)`` buffer: ``log_prob(z)`` broadcasts to one row per particle, which is all an
estimator needs. Every estimator id trains such models (Bernoulli, Normal and categorical latents)
through a loop that anneals ``alpha`` and sets ``beta`` per call, and the gradient statistics work
on them; a batch shape that cannot broadcast to one row per particle still gets an error naming
the output key.
"""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.distributions import Bernoulli, Independent, Normal, OneHotCategorical

from ovis.analysis.gradients import get_gradients_statistics
from ovis.estimators import parse_estimator_id
from ovis.models import ModelContractError, TemplateModel

D, Z, C = 12, 4, 3


class SharedPriorModel(TemplateModel):
    """The README's model, with its prior a ``(1, Z)`` buffer (``(1, Z, C)`` for categorical latents)."""

    def __init__(self, latent: str = "bernoulli", prior_shape=None):
        super().__init__()
        self.latent = latent
        width = {"bernoulli": Z, "normal": 2 * Z, "categorical": Z * C}[latent]
        self.inference_network = nn.Linear(D, width)
        self.generative_model = nn.Linear(Z * (C if latent == "categorical" else 1), D)
        default = (1, Z, C) if latent == "categorical" else (1, Z)
        self.register_buffer("prior", torch.zeros(prior_shape or default))

    def q(self, x):
        h = self.inference_network(x.flatten(1))
        if self.latent == "bernoulli":
            return Independent(Bernoulli(logits=h), 1)
        if self.latent == "normal":
            mu, log_sigma = h.chunk(2, -1)
            return Independent(Normal(mu, log_sigma.exp()), 1)
        return Independent(OneHotCategorical(logits=h.view(-1, Z, C)), 1)

    def p(self, prior):
        if self.latent == "bernoulli":
            return Independent(Bernoulli(logits=prior), 1)
        if self.latent == "normal":
            return Independent(Normal(prior, torch.ones_like(prior)), 1)
        return Independent(OneHotCategorical(logits=prior), 1)

    def forward(self, x, reparam=False, zs=None, **kw):
        qz = self.q(x)
        z = zs[0] if zs is not None else (qz.rsample() if reparam and qz.has_rsample else qz.sample())
        px = Independent(Bernoulli(logits=self.generative_model(z.flatten(1))), 1)
        return {"px": px, "z": [z], "qz": [qz], "pz": [self.p(self.prior)]}  # pz: batch shape (1, ...)

    def sample_from_prior(self, bs, **kw):
        pz = self.p(self.prior.expand(bs, *self.prior.shape[1:]))
        z = pz.sample()
        return {"px": Independent(Bernoulli(logits=self.generative_model(z.flatten(1))), 1), "z": [z], "pz": [pz]}


ESTIMATORS = ["pathwise", "pathwise-vae", "pathwise-iwae", "stl", "dreg", "reinforce", "reinforce-baseline",
              "vimco-arithmetic", "vimco-geometric", "ovis-S1-exclusive", "ovis-S0.5", "ovis-gamma0", "ovis-gamma1",
              "ovis-gamma1-arithmetic", "ovis-gamma0-geometric", "wake-wake", "wake-sleep", "tvo", "tvo-part2-config1"]
REPARAM = ("pathwise", "stl", "dreg")


def train(eid, latent, steps=6):
    torch.manual_seed(0)
    model = SharedPriorModel(latent)
    x = torch.bernoulli(torch.full((8, D), 0.3))
    Estimator, config = parse_estimator_id(eid)
    estimator = Estimator(mc=1, iw=4, **config)
    estimator(model, x)  # materialises a lazy baseline
    opt = torch.optim.Adam(list(model.parameters()) + list(estimator.parameters()), lr=1e-2)
    tvo = eid.startswith("tvo")
    values = []
    for step in range(steps):
        alpha = 0.0 if tvo else 0.9 * (1 - step / (steps - 1))  # Renyi warm-up, annealed to 0
        opt.zero_grad()
        loss, diagnostics, _ = estimator(model, x, alpha=alpha, beta=0.5 + 0.1 * step)
        loss.mean().backward()
        opt.step()
        values.append(float(diagnostics["loss"]["L_k"].mean()))
    return model, estimator, x, values


@pytest.mark.parametrize("latent", ["bernoulli", "normal", "categorical"])
@pytest.mark.parametrize("eid", ESTIMATORS)
def test_every_estimator_trains_a_shared_prior_model(eid, latent):
    if eid.startswith(REPARAM) and latent != "normal":
        with pytest.raises(ModelContractError, match="needs reparameterized samples"):
            train(eid, latent)
        return
    model, estimator, x, values = train(eid, latent)
    assert all(map(torch.isfinite, map(torch.tensor, values))), values
    for p in model.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_tvo_refuses_alpha_with_its_message():
    model = SharedPriorModel("bernoulli")
    Estimator, config = parse_estimator_id("tvo")
    with pytest.raises(ValueError, match=re.escape("alpha=0.5 is not supported by TVO")):
        Estimator(iw=4, **config)(model, torch.zeros(2, D), alpha=0.5)


@pytest.mark.parametrize("eid", ["ovis-gamma1", "vimco-arithmetic", "pathwise-iwae"])
def test_gradient_statistics_on_a_shared_prior_model(eid):
    torch.manual_seed(0)
    model = SharedPriorModel("normal" if eid.startswith("pathwise") else "bernoulli")
    x = torch.bernoulli(torch.full((4, D), 0.3))
    Estimator, config = parse_estimator_id(eid)
    estimator = Estimator(mc=1, iw=4, **config)
    for method in ("batched", "loop"):
        stats, meta = get_gradients_statistics(estimator, model, x, mc_samples=6, key_filter="inference_network",
                                               method=method)
        assert meta["method"] == method  # the batched pass traced the model (no fallback to the loop)
        assert stats["grads"]["variance"] > 0
        for value in stats["grads"].values():
            assert torch.isfinite(torch.as_tensor(value)).all()


@pytest.mark.parametrize("shape", [(1, Z), (Z,), (8 * 4, Z)])
def test_broadcastable_prior_shapes_are_valid(shape):
    model = SharedPriorModel("bernoulli", prior_shape=shape)
    Estimator, config = parse_estimator_id("vimco-arithmetic")
    loss, _, _ = Estimator(iw=4, **config)(model, torch.zeros(8, D))
    assert loss.shape == (8,)


@pytest.mark.parametrize("shape", [(3, Z), (2, 1, Z)])
def test_a_prior_that_cannot_broadcast_gets_an_error_naming_the_key(shape):
    model = SharedPriorModel("bernoulli", prior_shape=shape)
    Estimator, config = parse_estimator_id("vimco-arithmetic")
    with pytest.raises(ModelContractError, match=r"'pz\[0\]' has batch shape .* one row per particle"):
        Estimator(iw=4, **config)(model, torch.zeros(8, D))
