"""Gradient statistics: batched (vmap) samples equal the one-backward-per-sample loop on the same draws;
variance, SNR, DSNR and direction on cases with a known answer."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Independent, Normal, OneHotCategorical

from ovis.analysis.gradients import (get_gradients_statistics, gradient_samples, reduce_gradient_samples,
                                     select_parameters)
from ovis.estimators import parse_estimator_id
from ovis.models import TemplateModel

DTYPE = torch.float64


class BernoulliModel(TemplateModel):
    """One layer of bernoulli latents (drawn element by element: same draws batched or not)."""

    def __init__(self, D=6, H=5):
        super().__init__()
        self.inference_network = nn.Linear(D, H)
        self.generative_model = nn.Linear(H, D)
        self.prior = nn.Parameter(torch.zeros(H))

    def forward(self, x, reparam=False, zs=None, **kw):
        qz = Independent(Bernoulli(logits=self.inference_network(x)), 1)
        z = qz.sample() if zs is None else zs[0]
        pz = Independent(Bernoulli(logits=self.prior.expand_as(z)), 1)
        return {"px": Independent(Bernoulli(logits=self.generative_model(z)), 1), "z": [z], "qz": [qz], "pz": [pz]}


class GaussianModel(TemplateModel):
    """Gaussian latents of size 16 (a multiple of the 16-value blocks of torch's normal sampler)."""

    def __init__(self, D=6, H=16):
        super().__init__()
        self.inference_network = nn.Linear(D, 2 * H)
        self.generative_model = nn.Linear(H, D)

    def forward(self, x, reparam=False, zs=None, **kw):
        mu, log_sigma = self.inference_network(x).chunk(2, -1)
        qz = Independent(Normal(mu, log_sigma.exp()), 1)
        z = (qz.rsample() if reparam else qz.sample()) if zs is None else zs[0]
        pz = Independent(Normal(torch.zeros_like(z), torch.ones_like(z)), 1)
        return {"px": Independent(Bernoulli(logits=self.generative_model(z)), 1), "z": [z], "qz": [qz], "pz": [pz]}


class CategoricalModel(TemplateModel):
    """One-hot categorical latents (``OneHotCategorical.sample`` uses ``F.one_hot``)."""

    def __init__(self, D=6, N=3, K=4):
        super().__init__()
        self.N, self.K = N, K
        self.inference_network = nn.Linear(D, N * K)
        self.generative_model = nn.Linear(N * K, D)

    def forward(self, x, reparam=False, zs=None, **kw):
        qz = Independent(OneHotCategorical(logits=self.inference_network(x).view(-1, self.N, self.K)), 1)
        z = qz.sample() if zs is None else zs[0]
        pz = Independent(OneHotCategorical(logits=torch.zeros_like(z)), 1)
        px = Independent(Bernoulli(logits=self.generative_model(z.flatten(1))), 1)
        return {"px": px, "z": [z], "qz": [qz], "pz": [pz]}


def _setup(model_cls, estimator_id, iw=4, **options):
    torch.manual_seed(0)
    model = model_cls().to(DTYPE)
    x = (torch.rand(3, 6) > 0.5).to(DTYPE)
    Estimator, config = parse_estimator_id(estimator_id)
    estimator = Estimator(mc=1, iw=iw, **config, **options).to(DTYPE)
    if estimator_id == "reinforce-baseline":
        estimator(model, x)  # size the lazy baseline
        estimator.to(DTYPE)
    return estimator, model, x


CASES = [(BernoulliModel, e) for e in ("ovis-gamma1", "ovis-gamma0", "ovis-S1-exclusive", "vimco-arithmetic",
                                       "vimco-geometric", "reinforce", "reinforce-baseline", "tvo", "wake-wake")]
CASES += [(GaussianModel, e) for e in ("pathwise-iwae", "pathwise-vae", "stl", "dreg", "ovis-gamma1")]
CASES += [(CategoricalModel, e) for e in ("vimco-arithmetic", "ovis-gamma1")]


@pytest.mark.parametrize("model_cls,estimator_id", CASES)
def test_batched_samples_equal_the_loop_on_the_same_draws(model_cls, estimator_id):
    estimator, model, x = _setup(model_cls, estimator_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no silent fallback to the loop
        batched = gradient_samples(estimator, model, x, mc_samples=7, seed=11, batch_size=3, alpha=0.2 * (
            estimator_id not in ("tvo",)))
    loop = gradient_samples(estimator, model, x, mc_samples=7, seed=11, method="loop",
                            alpha=0.2 * (estimator_id not in ("tvo",)))
    assert batched.method == "batched" and loop.method == "loop"
    A, B = loop.matrix(), batched.matrix()
    assert A.shape == (7, sum(p.numel() for _, p in select_parameters(model, "inference_network")))
    assert A.abs().max() > 0 and not torch.allclose(A[0], A[1])  # independent samples
    torch.testing.assert_close(B, A, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(batched.ess, loop.ess, rtol=1e-9, atol=1e-12)
    stats_a, _ = reduce_gradient_samples(loop)
    stats_b, _ = reduce_gradient_samples(batched)
    for group in stats_a:
        for name in stats_a[group]:
            torch.testing.assert_close(stats_b[group][name], stats_a[group][name], rtol=1e-8, atol=1e-14)


def test_batched_and_loop_agree_in_distribution_for_hierarchical_sampling():
    """Two stochastic layers: the batched pass draws layer by layer for all samples, so the particles
    differ from the loop's, but the gradient distribution is the same."""

    class TwoLayers(TemplateModel):
        def __init__(self):
            super().__init__()
            self.inference_network = nn.ModuleList([nn.Linear(6, 4), nn.Linear(4, 3)])
            self.generative_model = nn.ModuleList([nn.Linear(4, 6), nn.Linear(3, 4)])

        def forward(self, x, reparam=False, **kw):
            q1 = Independent(Bernoulli(logits=self.inference_network[0](x)), 1)
            z1 = q1.sample()
            q2 = Independent(Bernoulli(logits=self.inference_network[1](z1)), 1)
            z2 = q2.sample()
            p2 = Independent(Bernoulli(logits=torch.zeros_like(z2)), 1)
            p1 = Independent(Bernoulli(logits=self.generative_model[1](z2)), 1)
            px = Independent(Bernoulli(logits=self.generative_model[0](z1)), 1)
            return {"px": px, "z": [z1, z2], "qz": [q1, q2], "pz": [p1, p2]}

    torch.manual_seed(0)
    model = TwoLayers().to(DTYPE)
    x = (torch.rand(2, 6) > 0.5).to(DTYPE)
    Estimator, config = parse_estimator_id("vimco-arithmetic")
    estimator = Estimator(mc=1, iw=3, **config)
    a = gradient_samples(estimator, model, x, mc_samples=3000, seed=1).matrix()
    b = gradient_samples(estimator, model, x, mc_samples=3000, seed=2, method="loop").matrix()
    se = torch.sqrt(a.var(0) / 3000 + b.var(0) / 3000)
    z = (a.mean(0) - b.mean(0)) / (se + 1e-12)
    assert z.abs().max() < 5
    torch.testing.assert_close(a.var(0), b.var(0), rtol=0.25, atol=1e-8)


class LinearLoss(nn.Module):
    """A stand-in estimator: ``loss = -(theta . eps)`` with ``eps ~ N(mu, sigma^2 I)`` per data point,
    so a gradient sample is ``-mean_b eps_b``: mean ``-mu``, variance ``sigma^2 / bs`` per coordinate."""

    config = {"mc": 1, "iw": 1}

    def __init__(self, mu: Tensor, sigma: float) -> None:
        super().__init__()
        self.mu, self.sigma = mu, sigma

    def forward(self, model, x, **overrides):
        eps = self.mu + self.sigma * torch.randn(x.shape[0], self.mu.shape[0], dtype=self.mu.dtype)
        loss = -(eps * model.theta).sum(-1)
        ess = torch.full((x.shape[0],), 2.0, dtype=self.mu.dtype)
        return loss, {"loss": {"loss": loss.detach(), "ess": ess}}, {}


class Theta(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.theta = nn.Parameter(torch.ones(d, dtype=DTYPE))


@pytest.mark.parametrize("method", ["batched", "loop"])
def test_variance_snr_dsnr_direction_known_answer(method):
    mu = torch.tensor([5.0, 0.0, 0.0], dtype=DTYPE)
    sigma, bs, M = 2.0, 4, 20000 if method == "batched" else 4000
    x = torch.zeros(bs, 1, dtype=DTYPE)
    stats, meta = get_gradients_statistics(LinearLoss(mu, sigma), Theta(3), x, mc_samples=M, key_filter="theta",
                                           oracle_grad=-mu, seed=0, method=method)
    std = sigma / math.sqrt(bs)  # 1.0
    tol = 4 / math.sqrt(M)  # a few standard errors of the estimates
    torch.testing.assert_close(meta["mean"], -mu, atol=4 * std / math.sqrt(M), rtol=0)
    torch.testing.assert_close(meta["variance"], torch.full((3,), std ** 2, dtype=DTYPE), rtol=3 * tol, atol=0)
    assert stats["grads"]["variance"].item() == pytest.approx(std ** 2, rel=3 * tol)
    assert meta["snr"][0].item() == pytest.approx(5.0 / std, rel=3 * tol)
    # |mean| / std of the other coordinates is |N(0, 1/M)| / 1: tiny
    assert meta["snr"][1:].max() < 5 / math.sqrt(M)
    assert stats["grads"]["snr"].item() == pytest.approx(meta["snr"].mean().item())
    assert stats["snr"]["max"].item() == pytest.approx(meta["snr"].max().item())
    assert stats["snr"]["p50"].item() == pytest.approx(float(np.percentile(meta["snr"].numpy(), 50)))
    # DSNR: |g . u| ~ |5 + N(0, 1)| along u, ||g_perp|| is a Rayleigh(1) norm: E[1/R] = sqrt(pi/2)
    assert stats["grads"]["dsnr"].item() == pytest.approx(5.0 * math.sqrt(math.pi / 2), rel=0.05)
    assert stats["grads"]["direction"].item() == pytest.approx(1.0, abs=1e-3)
    assert stats["grads"]["ess"].item() == 2.0 and stats["grads"]["keep_ratio"].item() == 1.0
    orthogonal, _ = get_gradients_statistics(LinearLoss(mu, sigma), Theta(3), x, mc_samples=50, key_filter="theta",
                                             oracle_grad=torch.tensor([0.0, 1.0, 0.0]), seed=0, method=method)
    assert abs(orthogonal["grads"]["direction"].item()) < 0.1


def test_reduce_matches_numpy_and_masks_constant_parameters():
    g = torch.randn(50, 7, generator=torch.Generator().manual_seed(0), dtype=DTYPE) + torch.arange(7.0)
    g[:, 3] = 0.0  # an unused parameter: zero variance
    stats, per = reduce_gradient_samples(g, epsilon=1e-12)
    a = g.numpy()
    np.testing.assert_allclose(per["mean"].numpy(), a.mean(0))
    np.testing.assert_allclose(per["variance"].numpy(), a.var(0, ddof=1), atol=1e-15)
    keep = np.arange(7) != 3
    snr = np.abs(a.mean(0)) / a.std(0, ddof=1).clip(1e-300)
    np.testing.assert_allclose(stats["grads"]["snr"].item(), snr[keep].mean())
    np.testing.assert_allclose(stats["grads"]["variance"].item(), a.var(0, ddof=1)[keep].mean())
    np.testing.assert_allclose(stats["snr"]["p25"].item(), np.percentile(snr[keep], 25))
    assert stats["grads"]["keep_ratio"].item() == pytest.approx(6 / 7)
    u = a.mean(0) / np.linalg.norm(a.mean(0))
    par = a @ u
    perp = np.linalg.norm(a - par[:, None] * u, axis=1)
    np.testing.assert_allclose(stats["grads"]["dsnr"].item(), np.mean(np.abs(par) / perp), rtol=1e-10)


def test_chunking_does_not_change_the_samples():
    estimator, model, x = _setup(BernoulliModel, "ovis-gamma1")
    a = gradient_samples(estimator, model, x, mc_samples=9, seed=4, batch_size=9).matrix()
    b = gradient_samples(estimator, model, x, mc_samples=9, seed=4, batch_size=2).matrix()
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)


def test_seed_leaves_the_global_stream_and_the_model_alone():
    estimator, model, x = _setup(BernoulliModel, "vimco-arithmetic")
    model.train()
    state = torch.get_rng_state()
    before = [p.detach().clone() for p in model.parameters()]
    get_gradients_statistics(estimator, model, x, mc_samples=5, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())
    assert model.training


def test_key_filter():
    model = BernoulliModel()
    assert [n for n, _ in select_parameters(model, "inference_network")] == ["inference_network.weight",
                                                                             "inference_network.bias"]
    assert sorted(n for n, _ in select_parameters(model, "prior,generative_model.bias")) == [
        "generative_model.bias", "prior"]
    with pytest.raises(ValueError, match="encoder"):
        select_parameters(model, "encoder")


def test_untraceable_model_falls_back_to_the_loop_with_a_warning():
    class ItemModel(BernoulliModel):
        def forward(self, x, **kw):
            out = super().forward(x, **kw)
            if float(out["z"][0].sum()) < 0:  # data-dependent Python control flow: vmap cannot trace it
                raise AssertionError
            return out

    estimator, model, x = _setup(ItemModel, "ovis-gamma1")
    with pytest.warns(RuntimeWarning, match="falling back"):
        stats, meta = get_gradients_statistics(estimator, model, x, mc_samples=4, seed=0)
    reference, _ = get_gradients_statistics(estimator, model, x, mc_samples=4, seed=0, method="loop")
    assert meta["method"] == "loop"
    torch.testing.assert_close(stats["grads"]["variance"], reference["grads"]["variance"])


def test_invalid_arguments():
    estimator, model, x = _setup(BernoulliModel, "ovis-gamma1")
    with pytest.raises(ValueError, match="mc_samples"):
        get_gradients_statistics(estimator, model, x, mc_samples=1)
    with pytest.raises(ValueError, match="method"):
        get_gradients_statistics(estimator, model, x, mc_samples=3, method="vectorised")
    with pytest.raises(ValueError, match="oracle_grad"):
        get_gradients_statistics(estimator, model, x, mc_samples=3, oracle_grad=torch.zeros(2))
