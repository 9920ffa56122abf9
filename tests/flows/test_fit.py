"""fit_density and mean_nll on a model with a closed-form maximum-likelihood solution."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

from ovis.flows.fit import fit_density, mean_nll


class DiagGaussian(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.loc, self.log_scale = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))

    def forward(self):
        return Independent(Normal(self.loc, self.log_scale.exp()), 1)


def test_fit_reaches_the_maximum_likelihood_gaussian():
    torch.manual_seed(0)
    data = torch.randn(2000, 2) * torch.tensor([0.5, 2.0]) + torch.tensor([1.0, -3.0])
    model = DiagGaussian(2)
    history = fit_density(model, data, epochs=60, batch_size=500, lr=5e-2)
    assert len(history["loss"]) == 60 * 4 and len(history["epoch_seconds"]) == 60
    mle = Independent(Normal(data.mean(0), data.std(0, unbiased=False)), 1)
    best = -mle.log_prob(data).mean().item()
    assert abs(mean_nll(model, data, batch_size=300) - best) < 2e-3
    torch.testing.assert_close(model.loc.detach(), data.mean(0), atol=2e-2, rtol=0)


def test_mean_nll_is_the_average_negative_log_density():
    model = DiagGaussian(3)
    data = torch.randn(1001, 3)
    assert mean_nll(model, data, batch_size=100) == pytest.approx(-model().log_prob(data).mean().item(), rel=1e-6)


def test_max_steps_and_bad_arguments():
    model = DiagGaussian(1)
    assert len(fit_density(model, torch.randn(100, 1), epochs=5, batch_size=10, max_steps=7)["loss"]) == 7
    with pytest.raises(ValueError, match="lr > 0"):
        fit_density(model, torch.randn(10, 1), lr=0.0)


class Recorder(nn.Module):
    """A one-parameter Gaussian that records the batches ``fit_density`` evaluates."""

    def __init__(self):
        super().__init__()
        self.loc, self.seen = nn.Parameter(torch.zeros(1)), []

    def forward(self):
        model = self

        class Dist:
            def log_prob(self, x):
                model.seen.append(x.clone())
                return Normal(model.loc, 1.0).log_prob(x).sum(-1)

        return Dist()


def test_without_shuffle_the_batches_follow_the_order_of_the_data():
    data = torch.arange(25.0)[:, None]
    model = Recorder()
    fit_density(model, data, epochs=2, batch_size=10, shuffle=False)
    expected = [data[0:10], data[10:20], data[20:25]] * 2
    assert len(model.seen) == len(expected)
    for seen, batch in zip(model.seen, expected):
        torch.testing.assert_close(seen, batch)


def test_with_shuffle_every_epoch_is_a_new_permutation_of_the_data():
    data = torch.arange(25.0)[:, None]
    model = Recorder()
    fit_density(model, data, epochs=2, batch_size=10, seed=3)
    first, second = torch.cat(model.seen[:3]), torch.cat(model.seen[3:])
    assert sorted(first.flatten().tolist()) == sorted(second.flatten().tolist()) == data.flatten().tolist()
    assert not torch.equal(first, second) and not torch.equal(first, data)
