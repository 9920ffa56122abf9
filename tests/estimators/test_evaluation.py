"""detach_distribution on flow posteriors, and STL / DReG with a flow posterior against their definitions.

The references hold q's parameters constant by a deep copy of the posterior module with
``requires_grad=False`` and detached encoder features, written independently of
``detach_distribution`` and of ``FlowDistribution.detached``.
"""
from __future__ import annotations

import copy

import pytest
import torch
from torch.distributions import (AffineTransform, ExpTransform, Independent, Normal, TransformedDistribution)

from ovis.estimators import parse_estimator_id
from ovis.estimators.evaluation import detach_distribution, expand_particles
from ovis.models import VAE
from ovis.models.template import flat_log_prob

FLOWS = {"maf": {"transforms": 2, "hidden": (16,)}, "nsf": {"transforms": 2, "hidden": (16,)},
         "ffjord": {"hidden": 8, "atol": 1e-8, "rtol": 1e-6}}


def _vae(posterior, seed=0):
    torch.manual_seed(seed)
    model = VAE((6,), latent="normal", N=2, hdim=12, nlayers=1, likelihood="bernoulli",
                posterior=posterior, posterior_options=FLOWS.get(posterior)).double()
    return model


@pytest.mark.parametrize("posterior", sorted(FLOWS))
def test_detached_flow_has_the_density_and_only_the_path_gradient(posterior):
    model = _vae(posterior)
    x = torch.bernoulli(torch.full((3, 6), 0.5, dtype=torch.float64))
    h = model.inference_network(x)
    q = model.posterior(h)
    z = q.rsample().detach().requires_grad_()
    lq = detach_distribution(q).log_prob(z)
    # reference: a copy of the flow that cannot learn, evaluated at detached features
    frozen = copy.deepcopy(model.posterior).requires_grad_(False)
    ref = frozen(h.detach()).log_prob(z)
    torch.testing.assert_close(lq, ref)
    params = list(model.parameters())
    grads = torch.autograd.grad(lq.sum(), params + [z], allow_unused=True)
    assert all(g is None or g.abs().max() == 0 for g in grads[:-1])
    torch.testing.assert_close(grads[-1], torch.autograd.grad(ref.sum(), z)[0])
    # the undetached density does depend on the parameters (the test above can fail)
    full = torch.autograd.grad(q.log_prob(z).sum(), params, allow_unused=True)
    assert any(g is not None and g.abs().max() > 0 for g in full)


def test_refuses_what_it_cannot_detach():
    loc = torch.zeros(3, requires_grad=True)
    dist = TransformedDistribution(Independent(Normal(torch.zeros(3), 1.0), 1), [AffineTransform(loc, 2.0),
                                                                                 ExpTransform()])
    with pytest.raises(TypeError, match="cannot detach the parameters of TransformedDistribution.*detached()"):
        detach_distribution(dist)


def test_simple_distributions_are_still_detached():
    loc = torch.zeros(2, requires_grad=True)
    d = detach_distribution(Independent(Normal(loc, torch.ones(2)), 1))
    z = torch.ones(2, requires_grad=True)
    d.log_prob(z).backward()
    assert loc.grad is None and z.grad is not None


def _reference_loss(model, x, K, estimator):
    """-mean_b of the STL / DReG surrogate written from the definitions (Roeder et al. 2017; Tucker et
    al. 2019, eq. 7) with a frozen copy of q, on the particles the estimator draws from the same seed."""
    xs = expand_particles(x, 1, K)
    n = xs.shape[0]
    out = model(xs, reparam=True)
    z = out["z"][0]
    h = model.inference_network(xs).detach()
    frozen = copy.deepcopy(model.posterior).requires_grad_(False)
    log_q = frozen(h).log_prob(z)
    log_w = (flat_log_prob(out["px"], xs, n) + flat_log_prob(out["pz"][0], z, n) - log_q).view(-1, K)
    v = torch.softmax(log_w.detach(), -1)
    generative = -(v * log_w).sum(-1).mean()
    inference = -((v ** 2 if estimator == "dreg" else v) * log_w).sum(-1).mean()
    return generative, inference


@pytest.mark.parametrize("posterior", ["nsf", "ffjord"])
@pytest.mark.parametrize("estimator", ["stl", "dreg"])
def test_stl_and_dreg_gradients_on_a_flow_posterior(posterior, estimator):
    K = 3
    model = _vae(posterior, seed=1)
    x = torch.bernoulli(torch.full((2, 6), 0.5, dtype=torch.float64))
    Estimator, config = parse_estimator_id(estimator)
    est = Estimator(mc=1, iw=K, **config)
    torch.manual_seed(5)
    loss, _, _ = est(model, x)
    loss.mean().backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()

    torch.manual_seed(5)
    generative, inference = _reference_loss(model, x, K, estimator)
    inf_names = [n for n, _ in model.named_parameters() if n.startswith(("inference_network", "posterior"))]
    gen_names = [n for n, _ in model.named_parameters() if n not in inf_names]
    params = dict(model.named_parameters())
    g_inf = torch.autograd.grad(inference, [params[n] for n in inf_names], retain_graph=True, allow_unused=True)
    g_gen = torch.autograd.grad(generative, [params[n] for n in gen_names], allow_unused=True)
    for name, g in list(zip(inf_names, g_inf)) + list(zip(gen_names, g_gen)):
        expected = torch.zeros_like(params[name]) if g is None else g
        torch.testing.assert_close(got[name], expected, atol=1e-6, rtol=1e-5, msg=name)
    assert any(got[n].abs().max() > 0 for n in inf_names if n.startswith("posterior"))


@pytest.mark.parametrize("posterior", ["nsf", "ffjord"])
def test_stl_differs_from_the_full_pathwise_gradient(posterior):
    """The score term that STL drops is non-zero for a flow, so a kept score term would be caught."""
    model = _vae(posterior, seed=2)
    x = torch.bernoulli(torch.full((2, 6), 0.5, dtype=torch.float64))
    grads = {}
    for eid in ("stl", "pathwise-iwae"):
        Estimator, config = parse_estimator_id(eid)
        torch.manual_seed(9)
        model.zero_grad()
        Estimator(mc=1, iw=1, **config)(model, x)[0].mean().backward()
        grads[eid] = torch.cat([p.grad.reshape(-1) for n, p in model.named_parameters() if n.startswith("posterior")])
    assert (grads["stl"] - grads["pathwise-iwae"]).abs().max() > 1e-6
