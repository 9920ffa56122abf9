"""Every estimator against a naive reference written from the papers' equations, on the same draws.

The references (:mod:`tests.estimators.naive`) share nothing with ``ovis.estimators``: control
variates delete the k-th particle and recompute (O(K^2)), sums over particles are loops, the
score terms are zero-valued ``s - s.detach()``, DReG's pathwise term is built from
``d log w_k / d z_k`` read off autograd, and STL's detached ``q`` is rebuilt from its parameters.
Estimator and reference see the same draws (same seed) on real models (a two-layer SBN for the
score-function family, a Gaussian VAE for the reparameterized one) and must agree in float64:
loss values and every parameter gradient. Options: Renyi alpha, beta, free bits (with a
threshold that holds some layers and not others), mc > 1, auxiliary particles, a learned baseline.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Normal

from ovis.estimators import parse_estimator_id
from ovis.models import SBN, VAE

from . import naive

OPTIONS = [{}, {"alpha": 0.3}, {"beta": 0.7}, {"freebits": 0.24}, {"freebits": 2.0}, {"mc": 2}, {"alpha": -0.5, "beta": 1.3, "mc": 3}]
IW = 5
PARTITION_CONFIGS = {"config1": (5e-2, 2e-1, 3e-1), "config2": (1e-2, 2e-2, 3e-2)}  # TVO paper, fig. 3 and 6


def expand(x: torch.Tensor, n: int) -> torch.Tensor:
    """Each row of x repeated n times, consecutively."""
    return x.repeat_interleave(n, 0)


def evaluate(model, x, mc: int, n: int, reparam: bool = False):
    """``log p(x|z)`` [bs, mc, n], per-layer ``log p(z_l)``, ``log q(z_l|x)`` [bs, mc, n, L], and the output."""
    bs = x.shape[0]
    xe = expand(x, mc * n)
    out = model(xe, reparam=reparam)
    rows = bs * mc * n
    px = out["px"].log_prob(xe).reshape(rows, -1).sum(1).view(bs, mc, n)
    pz = torch.stack([p.log_prob(z).reshape(rows, -1).sum(1) for p, z in zip(out["pz"], out["z"])], -1)
    lq = torch.stack([q.log_prob(z).reshape(rows, -1).sum(1) for q, z in zip(out["qz"], out["z"])], -1)
    return px, pz.view(bs, mc, n, -1), lq.view(bs, mc, n, -1), out


def log_weights(px, pz, lq, beta, freebits, K):
    """``log p(x|z) - beta sum_l KL_l``; free bits: a layer whose KL (mean over the batch and the first K
    particles) is below the threshold keeps its value but loses its gradient."""
    kl = lq - pz
    if freebits is not None:
        keep = kl[..., :K, :].detach().mean((0, 1, 2)) > freebits
        kl = torch.where(keep, kl, kl.detach())
    return px - beta * kl.sum(-1)


def rows(t: torch.Tensor) -> torch.Tensor:
    """[bs, mc, n] -> [bs*mc, n]: one row per Monte-Carlo sample, as the naive formulas take."""
    return t.reshape(-1, t.shape[-1])


def reference_score_function(eid, est, model, x, cfg):
    """``-1/mc sum_m [L + sum_k (L - c_k) log q(z_k)]`` (zero-valued score terms), plus the zero-valued
    squared error of a learned baseline."""
    K, S = est.particles(cfg) if hasattr(est, "particles") else (cfg["iw"], 0)
    alpha, beta, mc, bs = cfg["alpha"], cfg["beta"], cfg["mc"], x.shape[0]
    px, pz, lq, _ = evaluate(model, x, mc, K + S)
    lw = rows(log_weights(px, pz, lq, beta, cfg["freebits"], K))
    log_q = rows(lq.sum(-1))
    bound = naive.renyi_bound(lw[:, :K], alpha)
    lwd, aux = lw.detach()[:, :K], lw.detach()[:, K:]
    extra = torch.zeros(bs, dtype=x.dtype)
    if eid.startswith("vimco"):
        c = naive.vimco_baselines(lwd, cfg["arithmetic"], alpha)
    elif eid.startswith("ovis-gamma"):
        c = naive.ovis_gamma_baselines(lwd, cfg["gamma"], alpha, cfg["base"])
    elif eid.startswith("ovis-S"):
        c = naive.ovis_mc_baselines(lwd, aux, alpha)
    elif est.baseline is not None:
        b = est.baseline(x).view(bs, 1, 1)  # the network c(x) the estimator trains
        d = (bound.detach()[:, None] - naive.self_normalised(lwd, alpha)).view(bs, mc, K)
        mse = ((d - b) ** 2).mean((1, 2))
        extra = mse - mse.detach()
        c = b.detach().expand(bs, mc, K).reshape(bs * mc, K)
    else:
        c = torch.zeros_like(lwd)
    score = sum((bound.detach() - c[:, k]) * log_q[:, k] for k in range(K))
    per_sample = bound + score - score.detach()
    return -per_sample.view(bs, mc).mean(1) + extra


def reference_wake(eid, est, model, x, cfg):
    mc, K, alpha, beta, bs = cfg["mc"], cfg["iw"], cfg["alpha"], cfg["beta"], x.shape[0]
    px, pz, lq, _ = evaluate(model, x, mc, K)
    lw_theta = rows(log_weights(px, pz, lq.detach(), beta, cfg["freebits"], K))
    bound = naive.renyi_bound(lw_theta, alpha)
    log_q = rows(lq.sum(-1))
    if eid == "wake-wake":
        v = naive.self_normalised(rows(log_weights(px, pz, lq, beta, None, K)).detach(), alpha)
        wake = sum(v[:, k] * log_q[:, k] for k in range(K))
        phi = (wake - wake.detach()).view(bs, mc)
    else:  # sleep phase: log q at (x, z) drawn from the model, as many draws as particles
        n = bs * mc * K
        with torch.no_grad():
            prior = model.sample_from_prior(n)
            x_sleep, zs = prior["px"].sample(), [z.detach() for z in prior["z"]]
        out = model(x_sleep, zs=zs)
        sleep = sum(q.log_prob(z).reshape(n, -1).sum(1) for q, z in zip(out["qz"], zs)).view(bs, mc, K).mean(-1)
        phi = sleep - sleep.detach()
    return -(bound.view(bs, mc) + phi).mean(1)


def tvo_partition(cfg):
    log_beta_min = cfg["log_beta_min"]
    if cfg["partition_name"] is not None:
        small, mid, large = PARTITION_CONFIGS[cfg["partition_name"]]
        K = cfg["iw"]
        log_beta_min = math.log10(small if K < 10 else mid if K < 30 else large)
    return naive.tvo_partition(cfg["num_partition"], log_beta_min)


def reference_tvo(est, model, x, cfg):
    """Masrani et al. (2019), eq. 11-13: the covariance gradient estimator, written out."""
    K, mc, bs = cfg["iw"], cfg["mc"], x.shape[0]
    px, pz, lq, _ = evaluate(model, x, mc, K)
    f = rows(log_weights(px, pz, lq, cfg["beta"], cfg["freebits"], K))
    partition = tvo_partition(cfg)
    tvo = naive.tvo_surrogate(f, rows(lq.sum(-1)), partition, naive.riemann_weights(partition, cfg["integration"]))
    return -tvo.view(bs, mc).mean(1)


def detached_q(qz):
    """``q(z|x)`` of the Gaussian VAE rebuilt with its parameters detached."""
    base = qz.base_dist
    return Independent(Normal(base.loc.detach(), base.scale.detach()), 1)


def reference_pathwise(eid, est, model, x, cfg):
    mc, iw = est.layout(cfg)
    alpha, beta, freebits, bs = cfg["alpha"], cfg["beta"], cfg["freebits"], x.shape[0]
    stl = eid in ("stl", "dreg")
    px, pz, lq, out = evaluate(model, x, mc, iw, reparam=True)
    if stl:
        z = out["z"][0]
        lq = detached_q(out["qz"][0]).log_prob(z).view(bs, mc, iw, 1)
    lw = rows(log_weights(px, pz, lq, beta, freebits, iw))
    bound = naive.renyi_bound(lw, alpha)
    if eid != "dreg":
        return -bound.view(bs, mc).mean(1)
    # theta: sum_k v_k grad_theta log w_k with z held fixed; phi: DReG's weights on (d log w_k/dz_k)(dz_k/dphi)
    z = out["z"][0]
    zd = z.detach().requires_grad_()  # z without its path to phi
    held = freebits is not None and not bool((lq - pz).detach().mean() > freebits)
    kl = detached_q(out["qz"][0]).log_prob(zd) - model.prior(zd.shape[0]).log_prob(zd)
    lw_fixed = model.p_x(zd).log_prob(expand(x, mc * iw)) - beta * (kl.detach() if held else kl)
    theta = naive.renyi_bound(lw_fixed.view(bs * mc, iw), alpha)  # reaches theta (and zd) only
    dz = torch.autograd.grad(lw_fixed.sum(), zd, retain_graph=True)[0]  # d log w_k / d z_k: rows are independent
    v = naive.self_normalised(lw.detach(), alpha).reshape(-1, 1)
    weights = naive.dreg_inference_weights(v, alpha, 0.0 if held else beta)
    path = ((weights * dz).detach() * z).sum(1).view(bs * mc, iw).sum(1)  # reaches phi through z only
    per_sample = bound.detach() + (theta - theta.detach()) + (path - path.detach())
    return -per_sample.view(bs, mc).mean(1)


def compare(eid, model, x, opts, seed=0):
    Estimator, config = parse_estimator_id(eid)
    opts = dict(opts)
    est = Estimator(mc=opts.pop("mc", 1), iw=IW, **config, **opts).double()
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
             "ovis-gamma0.5-geometric", "ovis-gamma1-arithmetic", "ovis-gamma0-arithmetic", "ovis-S1-exclusive",
             "ovis-S0.5", "ovis-S2-exclusive", "wake-wake", "wake-sleep", "tvo", "tvo-part3-config1-trapz",
             "tvo-part4-beta3-right"]


@pytest.mark.parametrize("opts", OPTIONS, ids=str)
@pytest.mark.parametrize("eid", SCORE_IDS)
def test_score_function_family_matches_reference(eid, opts):
    if eid.startswith("tvo") and "alpha" in opts:
        pytest.skip("TVO has no Renyi alpha")
    torch.manual_seed(1)
    model = SBN((20,), layers=(6, 4)).double()  # two stochastic layers
    x = torch.bernoulli(torch.full((4, 20), 0.4, dtype=torch.float64))
    compare(eid, model, x, opts)


def test_free_bits_threshold_holds_some_layers_only():
    """The free-bits option of OPTIONS splits the SBN's layers: one held, one kept (else it tests less)."""
    torch.manual_seed(1)
    model = SBN((20,), layers=(6, 4)).double()
    x = torch.bernoulli(torch.full((4, 20), 0.4, dtype=torch.float64))
    torch.manual_seed(0)
    px, pz, lq, _ = evaluate(model, x, 1, IW)
    keep = (lq - pz).mean((0, 1, 2)) > 0.24
    assert keep.any() and not keep.all(), keep


@pytest.mark.parametrize("opts", [o for o in OPTIONS if "freebits" not in o] + [{"freebits": 0.5}, {"freebits": 1e9}],
                         ids=str)
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
