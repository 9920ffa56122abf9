"""Evaluation: L_K with a large K in bounded memory, against the exact log-likelihood."""
import itertools

import pytest
import torch
from torch.distributions import Bernoulli, Independent

from ovis.training.evaluation import evaluate_bound, evaluate_split

from .tiny import TinyData, TinySBN


class CountingSBN(TinySBN):
    """Remembers the largest number of rows it was given."""

    def __init__(self):
        super().__init__()
        self.max_rows = 0

    def forward(self, x, **kw):
        self.max_rows = max(self.max_rows, x.shape[0])
        return super().forward(x, **kw)


def exact_log_px(model: TinySBN, x: torch.Tensor) -> torch.Tensor:
    """log p(x) by enumerating the 2^H latent states, [bs]."""
    H = model.prior_logits.shape[0]
    zs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=H)))  # [2^H, H]
    log_pz = Independent(Bernoulli(logits=model.prior_logits.expand_as(zs)), 1).log_prob(zs)
    px = Independent(Bernoulli(logits=model.generative_model(zs)), 1)
    log_px_z = px.log_prob(x.unsqueeze(1))  # [bs, 2^H]
    return torch.logsumexp(log_px_z + log_pz, 1)


@pytest.mark.parametrize("bs,max_rows", [(7, 100), (7, 3), (2, 4096)])
def test_rows_per_forward_are_bounded(bs, max_rows):
    torch.manual_seed(0)
    model, x = CountingSBN().eval(), TinyData(bs, 0).data
    out = evaluate_bound(model, x, iw=1000, max_rows=max_rows)
    assert model.max_rows <= max_rows
    assert set(out["loss"]) == {"loss", "L_k", "elbo", "kl", "nll", "kl_q_p", "ess"}
    assert all(v.shape == (bs,) for v in out["loss"].values())
    assert ((out["loss"]["ess"] >= 1) & (out["loss"]["ess"] <= 1000)).all()


@pytest.mark.parametrize("max_rows", [64, 1 << 15])
def test_large_k_bound_approaches_the_exact_log_likelihood(max_rows):
    torch.manual_seed(1)
    model = TinySBN().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    x = TinyData(5, 0).data
    exact = exact_log_px(model, x)
    L_5000 = evaluate_bound(model, x, iw=5000, max_rows=max_rows)["loss"]["L_k"]
    L_1 = evaluate_bound(model, x, iw=1, max_rows=max_rows)["loss"]["L_k"]
    assert torch.allclose(L_5000, exact, atol=0.05)
    assert (L_1.mean() < L_5000.mean())


def test_evaluate_split_averages_the_points():
    torch.manual_seed(0)
    model, data = TinySBN(), TinyData(9, 0)
    out = evaluate_split(model, data, torch.arange(9), iw=4, batch_size=4, max_rows=1000, device=torch.device("cpu"))
    assert set(out) == {"loss"} and isinstance(out["loss"]["L_k"], float)
    assert out["loss"]["loss"] == pytest.approx(-out["loss"]["L_k"])
    assert model.training  # the mode is restored


def test_model_metrics_are_evaluated_with_the_bound():
    """A model's ``evaluation_metrics`` (the GMM toy's errors) come out as their own group, per data point."""
    from ovis.models.gmm_toy import GaussianMixtureToy, sample_gmm_toy
    from ovis.training.evaluation import evaluate_bound

    torch.manual_seed(0)
    model = GaussianMixtureToy(C=4)
    x = sample_gmm_toy(6, 4)
    out = evaluate_bound(model, x, iw=5, max_rows=8)  # chunked: 8 rows at a time
    assert set(out) == {"loss", "gmm"}
    torch.testing.assert_close(out["gmm"]["posterior_mse"], model.errors(x)["posterior_mse"])
    assert out["gmm"]["prior_mse"].shape == (6,)
