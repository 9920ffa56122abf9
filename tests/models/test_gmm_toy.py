"""Tests of ovis.models.gmm_toy: true parameters, contract, diagnostics against the truth."""
import pytest
import torch

from ovis.models import validate_model_output
from ovis.models.gmm_toy import GaussianMixtureToy, component_means, sample_gmm_toy, true_prior_probs


@pytest.mark.parametrize("C", [3, 20])
def test_true_parameters(C):
    probs = true_prior_probs(C)
    assert torch.isclose(probs.sum(), torch.tensor(1.0))
    assert torch.allclose(probs / probs[0], (5 + torch.arange(C)) / 5.0)
    assert torch.equal(component_means(C), 10.0 * torch.arange(C))


@pytest.mark.parametrize("C", [3, 20])
def test_contract_and_diagnostics(C):
    model = GaussianMixtureToy(C=C)
    x = sample_gmm_toy(7, C)
    out = model(x)
    validate_model_output(out, 7)
    assert out["z"][0].shape == (7, C) and torch.all(out["z"][0].sum(-1) == 1)
    assert out["posterior_mse"].shape == (7,) and out["prior_mse"].shape == ()
    assert not out["posterior_mse"].requires_grad
    # the uniform initial prior is at a known distance from pi* (L2 norm, as the paper)
    expected = sum((1.0 / C - p) ** 2 for p in true_prior_probs(C).tolist()) ** 0.5
    assert torch.isclose(out["prior_mse"], torch.tensor(expected))


def test_posterior_error_is_the_l2_norm_by_hand():
    """Two data points, C = 2: q and p* written out, ||q - p*||_2 computed by hand."""
    import math
    model = GaussianMixtureToy(C=2)
    x = torch.tensor([[4.0], [13.0]])
    q = model.q(x).probs.detach()
    pi = true_prior_probs(2).tolist()
    for i, xi in enumerate([4.0, 13.0]):
        joint = [pi[c] * math.exp(-0.5 * ((xi - 10.0 * c) / 5.0) ** 2) for c in range(2)]
        post = [j / sum(joint) for j in joint]
        by_hand = math.sqrt(sum((float(q[i, c]) - post[c]) ** 2 for c in range(2)))
        assert math.isclose(float(model(x)["posterior_mse"][i]), by_hand, rel_tol=1e-5)
    metrics = model.evaluation_metrics(x)["gmm"]
    assert torch.allclose(metrics["posterior_mse"], model(x)["posterior_mse"])
    assert metrics["prior_mse"].shape == (2,)


def test_prior_mse_is_zero_at_the_truth():
    model = GaussianMixtureToy(C=5)
    with torch.no_grad():
        model.generative_model["logits"].copy_(true_prior_probs(5).log())
    assert model(sample_gmm_toy(3, 5))["prior_mse"] < 1e-6  # an L2 norm of float32 probabilities


def test_true_posterior_is_bayes_rule():
    model = GaussianMixtureToy(C=4)
    x = torch.tensor([[3.0], [17.0]])
    post = model.true_posterior(x)
    joint = true_prior_probs(4) * torch.exp(-0.5 * ((x - component_means(4)) / 5.0) ** 2)
    assert torch.allclose(post, joint / joint.sum(-1, keepdim=True), atol=1e-6)


def test_zs_and_sample_from_prior():
    model = GaussianMixtureToy(C=6)
    prior = model.sample_from_prior(8)
    validate_model_output(prior, 8, prior=True)
    out = model(prior["px"].sample(), zs=prior["z"])
    assert out["z"][0] is prior["z"][0]
    true = model.sample_from_prior(4000, true_model=True)["z"][0].mean(0)
    assert torch.allclose(true, true_prior_probs(6), atol=0.03)


def test_sample_gmm_toy_is_seeded():
    a = sample_gmm_toy(50, generator=torch.Generator().manual_seed(1))
    b = sample_gmm_toy(50, generator=torch.Generator().manual_seed(1))
    assert a.shape == (50, 1) and torch.equal(a, b)
