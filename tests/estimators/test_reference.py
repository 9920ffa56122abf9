"""Every estimator against a plain autograd reference written from the papers' formulas.

The estimators write their gradients as one weighted sum of the log-probabilities
(``linear_surrogate``). Here the same losses are written the textbook way, with autograd
through the log-weights and zero-valued score terms, and the two must agree in float64 on
the same random draws: loss values, every parameter gradient and every diagnostic. Options
(Renyi alpha, beta, free bits, mc > 1, auxiliary particles, learned baselines) are covered.
"""
from __future__ import annotations


import pytest
import torch

from ovis.estimators import parse_estimator_id
from ovis.estimators.evaluation import detach_distribution, expand_particles
from ovis.estimators.bounds import (iw_bound, normalized_weights, ovis_asymptotic_control_variate,
                                    ovis_mc_control_variate, vimco_control_variate)
from ovis.estimators.tvo import partition_weights
from ovis.models import SBN, VAE
from ovis.models.template import flat_log_prob

OPTIONS = [{}, {"alpha": 0.3}, {"beta": 0.7}, {"freebits": 2.0}, {"mc": 2}, {"alpha": -0.5, "beta": 1.3, "mc": 3}]


def log_probs(model, x, mc, n, reparam=False, stl=False):
    """Reference evaluation: ``log p(x|z)`` [bs, mc, n] and per-layer ``log p(z)``, ``log q(z|x)``."""
    bs = x.shape[0]
    out = model(expand_particles(x, mc, n), reparam=reparam)
    rows = bs * mc * n
    qz = [detach_distribution(q) for q in out["qz"]] if stl else out["qz"]
    px = flat_log_prob(out["px"], expand_particles(x, mc, n), rows).view(bs, mc, n)
    pz = torch.stack([flat_log_prob(p, z, rows) for p, z in zip(out["pz"], out["z"])], -1).view(bs, mc, n, -1)
    lq = torch.stack([flat_log_prob(q, z, rows) for q, z in zip(qz, out["z"])], -1).view(bs, mc, n, -1)
    return px, pz, lq, out


def log_weights(px, pz, lq, beta, freebits, K):
    """``log p(x|z) - beta * sum_l KL_l`` with free bits: a layer whose mean KL is below the
    threshold keeps its value but loses its gradient."""
    kl = lq - pz
    if freebits is not None:
        keep = kl[..., :K, :].detach().mean((0, 1, 2)) > freebits
        kl = torch.where(keep, kl, kl.detach())
    return px - beta * kl.sum(-1)


def reference_score_function(eid, est, model, x, cfg):
    """``-1/mc sum_m [L + sum_k (L - c_k) log q(z_k)]`` with a zero-valued score term, plus the
    zero-valued squared error of a learned baseline."""
    K, S = est.particles(cfg) if hasattr(est, "particles") else (cfg["iw"], 0)
    alpha, beta, mc = cfg["alpha"], cfg["beta"], cfg["mc"]
    px, pz, lq, _ = log_probs(model, x, mc, K + S)
    lw_all = log_weights(px, pz, lq, beta, cfg["freebits"], K)
    lw, aux = lw_all[..., :K], lw_all.detach()[..., K:]
    log_q = lq[..., :K, :].sum(-1)
    bound = iw_bound(lw, alpha)
    lwd = lw.detach()
    extra = 0.0
    if eid.startswith("vimco"):
        c = vimco_control_variate(lwd, arithmetic=cfg["arithmetic"], alpha=alpha)
    elif eid.startswith("ovis-gamma"):
        c = ovis_asymptotic_control_variate(lwd, gamma=cfg["gamma"], alpha=alpha, base=cfg["base"])
    elif eid.startswith("ovis-S"):
        c = ovis_mc_control_variate(lwd, aux, alpha=alpha)
    elif est.baseline is not None:
        b = est.baseline(x).view(-1, 1, 1)
        d = (bound.detach().unsqueeze(-1) - normalized_weights(lwd, alpha))
        mse = ((d - b) ** 2).mean((1, 2))
        extra = mse - mse.detach()
        c = b.detach().expand_as(lwd)
    else:
        c = torch.zeros_like(lwd)
    score = ((bound.detach().unsqueeze(-1) - c) * (log_q - log_q.detach())).sum(-1)
    return -(bound + score).mean(1) + extra


def reference_wake(eid, est, model, x, cfg):
    mc, K, alpha, beta = cfg["mc"], cfg["iw"], cfg["alpha"], cfg["beta"]
    px, pz, lq, _ = log_probs(model, x, mc, K)
    bound = iw_bound(log_weights(px, pz, lq.detach(), beta, cfg["freebits"], K), alpha)
    log_q = lq.sum(-1)
    if eid == "wake-wake":
        v = normalized_weights(log_weights(px, pz, lq, beta, None, K).detach(), alpha)
        phi = (v * (log_q - log_q.detach())).sum(-1)
    else:  # sleep phase: log q at (x, z) drawn from the model, as many draws as particles
        n = x.shape[0] * mc * K
        with torch.no_grad():
            prior = model.sample_from_prior(n)
            x_sleep, zs = prior["px"].sample(), [z.detach() for z in prior["z"]]
        out = model(x_sleep, zs=zs)
        sleep = torch.stack([flat_log_prob(q, z, n) for q, z in zip(out["qz"], zs)], -1).sum(-1)
        sleep = sleep.view(x.shape[0], mc, K).mean(-1)
        phi = sleep - sleep.detach()
    return -(bound + phi).mean(1)


def reference_tvo(est, model, x, cfg):
    """Masrani et al. (2019), eq. 11-13: the covariance gradient estimator, written out."""
    K, mc = cfg["iw"], cfg["mc"]
    px, pz, lq, _ = log_probs(model, x, mc, K)
    f = log_weights(px, pz, lq, cfg["beta"], cfg["freebits"], K).unsqueeze(-1)  # [bs, mc, K, 1]
    log_q = lq.sum(-1).unsqueeze(-1)
    partition = est.partition(cfg).to(f)
    delta = partition_weights(partition, cfg["integration"])
    with torch.no_grad():
        w = torch.softmax(f * partition, dim=2)
        centred = f - (w * f).sum(2, keepdim=True)
    thermo = log_q + partition * f
    thermo = thermo - thermo.detach()
    cov = K / (K - 1) * (w * centred * (thermo - (w * thermo).sum(2, keepdim=True))).sum(2)
    tvo = (((w * f).sum(2) + cov) * delta).sum(-1)
    return -tvo.mean(1)


def reference_pathwise(eid, est, model, x, cfg):
    mc, iw = est.layout(cfg)
    px, pz, lq, out = log_probs(model, x, mc, iw, reparam=True, stl=eid in ("stl", "dreg"))
    lw = log_weights(px, pz, lq, cfg["beta"], cfg["freebits"], iw)
    if eid == "dreg":  # rescale the gradient reaching z_k by alpha + (1 - alpha) v_k
        a = cfg["alpha"]
        scale = (a + (1 - a) * normalized_weights(lw.detach(), a)).reshape(-1, 1)
        out["z"][0].register_hook(lambda g: g * scale)
    return -iw_bound(lw, cfg["alpha"]).mean(1)


def compare(eid, model, x, opts, seed=0):
    Estimator, config = parse_estimator_id(eid)
    opts = dict(opts)
    est = Estimator(mc=opts.pop("mc", 1), iw=5, **config, **opts).double()
    if config.get("baseline"):
        torch.manual_seed(seed)
        est.baseline(x[:1])
        est.double()
    cfg = est.config
    params = list(model.parameters()) + list(est.parameters())

    torch.manual_seed(seed)
    loss, diagnostics, _ = est(model, x)
    grads = torch.autograd.grad(loss.mean(), params, allow_unused=True)

    torch.manual_seed(seed)
    if eid.startswith(("pathwise", "stl", "dreg")):
        ref = reference_pathwise(eid, est, model, x, cfg)
    elif eid.startswith("tvo"):
        ref = reference_tvo(est, model, x, cfg)
    elif eid.startswith("wake"):
        ref = reference_wake(eid, est, model, x, cfg)
    else:
        ref = reference_score_function(eid, est, model, x, cfg)
    ref_grads = torch.autograd.grad(ref.mean(), params, allow_unused=True)

    torch.testing.assert_close(loss, ref, rtol=1e-12, atol=1e-12)
    named = list(model.named_parameters()) + list(est.named_parameters())
    for (name, param), g, r in zip(named, grads, ref_grads):
        g = torch.zeros_like(param) if g is None else g
        r = torch.zeros_like(param) if r is None else r
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-11, msg=lambda m: f"{eid} {opts} {name}: {m}")
    return loss, diagnostics


SCORE_IDS = ["reinforce", "reinforce-baseline", "vimco-arithmetic", "vimco-geometric", "ovis-gamma0", "ovis-gamma1",
             "ovis-gamma0.5-geometric", "ovis-gamma1-arithmetic", "ovis-S1-exclusive", "ovis-S0.5", "ovis-S2-exclusive",
             "wake-wake", "wake-sleep", "tvo", "tvo-part3-config1-trapz", "tvo-part4-beta3-right"]


@pytest.mark.parametrize("opts", OPTIONS, ids=str)
@pytest.mark.parametrize("eid", SCORE_IDS)
def test_score_function_family_matches_reference(eid, opts):
    if eid.startswith("tvo") and "alpha" in opts:
        pytest.skip("TVO has no Renyi alpha")
    torch.manual_seed(1)
    model = SBN((20,), layers=(6, 4)).double()  # two stochastic layers
    x = torch.bernoulli(torch.full((4, 20), 0.4, dtype=torch.float64))
    compare(eid, model, x, opts)


@pytest.mark.parametrize("opts", [o for o in OPTIONS if "freebits" not in o] + [{"freebits": 0.5}], ids=str)
@pytest.mark.parametrize("eid", ["pathwise", "pathwise-vae", "pathwise-iwae", "stl", "dreg"])
def test_pathwise_family_matches_reference(eid, opts):
    torch.manual_seed(1)
    model = VAE((20,), latent="normal", N=4, nlayers=1).double()
    x = torch.bernoulli(torch.full((4, 20), 0.4, dtype=torch.float64))
    compare(eid, model, x, opts)


def test_loss_value_is_exactly_minus_the_bound():
    torch.manual_seed(0)
    model = SBN((20,), layers=(6,))
    x = torch.bernoulli(torch.full((8, 20), 0.4))
    for eid in ["reinforce", "vimco-geometric", "ovis-gamma1", "ovis-S1-exclusive", "wake-wake", "pathwise-iwae"]:
        if eid.startswith("pathwise"):
            model = VAE((20,), latent="normal", N=4, nlayers=1)
        Estimator, config = parse_estimator_id(eid)
        loss, diagnostics, _ = Estimator(iw=7, **config)(model, x)
        assert torch.equal(loss.detach(), -diagnostics["loss"]["L_k"]), eid


def test_learned_baseline_is_fitted_by_its_squared_error():
    """The zero-valued MSE term trains the baseline: its mean squared error drops."""
    torch.manual_seed(0)
    model = SBN((20,), layers=(6,))
    x = torch.bernoulli(torch.full((16, 20), 0.4))
    Estimator, config = parse_estimator_id("reinforce-baseline")
    est = Estimator(iw=4, **config)
    est(model, x)  # materialise the lazy baseline
    opt = torch.optim.Adam(est.parameters(), lr=1e-2)
    mse = []
    for _ in range(150):
        opt.zero_grad()
        loss, diagnostics, _ = est(model, x, mc=8)
        loss.mean().backward()
        opt.step()
        mse.append(float(diagnostics["cv"]["mse"].mean()))
    assert sum(mse[-10:]) < 0.2 * sum(mse[:10])
