"""Tests of ovis.models.gaussian_toy: contract, closed-form optimum, and training towards it."""
import pytest
import torch

from ovis.estimators.config import parse_estimator_id
from ovis.models import validate_model_output
from ovis.models.gaussian_toy import Q_SCALE, GaussianToy, sample_gaussian_toy, true_mu


@pytest.mark.parametrize("D", [1, 5, 20])
def test_contract(D):
    model = GaussianToy(D)
    x = sample_gaussian_toy(6, model.mu_true)
    out = model(x, reparam=True)
    validate_model_output(out, 6)
    assert out["z"][0].shape == (6, D) and out["z"][0].requires_grad
    assert not model(x)["z"][0].requires_grad
    assert out["mse_theta"].shape == out["mse_phi"].shape == ()
    assert torch.allclose(out["qz"][0].base_dist.scale, torch.full((6, D), Q_SCALE))


@pytest.mark.parametrize("D", [2, 5])
def test_mse_is_zero_at_the_closed_form_optimum(D):
    model = GaussianToy(D)
    x = sample_gaussian_toy(500, model.mu_true, torch.Generator().manual_seed(0))
    model.set_optimum(x)
    assert torch.allclose(model.mu_star, x.mean(0))
    opt = model.optimal_parameters()
    with torch.no_grad():
        model.inference_network.weight.copy_(opt["A"])
        model.inference_network.bias.copy_(opt["b"])
        model.generative_model["mu"].copy_(opt["mu"])
    out = model(x[:4])
    assert out["mse_theta"] == 0 and out["mse_phi"] == 0
    # at the optimum the mean of q is the true posterior mean (x + mu*) / 2
    assert torch.allclose(out["qz"][0].base_dist.loc, (x[:4] + model.mu_star) / 2, atol=1e-6)


def test_zs_and_sample_from_prior():
    model = GaussianToy(3)
    prior = model.sample_from_prior(5)
    validate_model_output(prior, 5, prior=True)
    out = model(prior["px"].sample(), zs=prior["z"])
    assert out["z"][0] is prior["z"][0]
    true = model.sample_from_prior(20000, true_model=True)["z"][0].mean(0)
    assert torch.allclose(true, true_mu(3, 0), atol=0.05)


def test_pathwise_iwae_training_approaches_the_optimum():
    torch.manual_seed(0)
    D = 5
    model = GaussianToy(D)
    x = sample_gaussian_toy(256, model.mu_true, torch.Generator().manual_seed(1))
    model.set_optimum(x)
    Estimator, config = parse_estimator_id("pathwise-iwae")
    estimator = Estimator(mc=1, iw=8, **config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    start = model.parameter_mse()
    for step in range(400):
        batch = x[torch.randint(0, x.shape[0], (32,))]
        optimizer.zero_grad()
        loss, _, _ = estimator(model, batch)
        loss.mean().backward()
        optimizer.step()
    end = model.parameter_mse()
    assert end["mse_theta"] < start["mse_theta"] / 10, (start, end)
    assert end["mse_phi"] < start["mse_phi"] / 10, (start, end)
