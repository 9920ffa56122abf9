"""Tests of ovis.models.vae: the model contract, zs evaluation, prior sampling, reparameterization."""
import pytest
import torch
from torch import nn

from ovis.models import validate_model_output
from ovis.models.vae import LATENTS, LIKELIHOODS, VAE

SHAPES = [(1, 4, 4), (16,)]


def make(latent, likelihood="bernoulli", shape=(1, 4, 4), **kw):
    torch.manual_seed(0)
    return VAE(shape, latent=latent, N=3, K=4, hdim=8, nlayers=1, likelihood=likelihood, **kw)


def data(shape, n=6):
    return torch.bernoulli(torch.full((n, *shape), 0.4))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("likelihood", LIKELIHOODS)
@pytest.mark.parametrize("latent", LATENTS)
def test_output_contract(latent, likelihood, shape):
    model = make(latent, likelihood, shape)
    out = model(data(shape))
    validate_model_output(out, 6)
    latent_shape = (6, 3, 4) if latent == "categorical" else (6, 3)
    assert out["z"][0].shape == latent_shape
    assert out["px"].event_shape == shape
    assert out["px"].log_prob(data(shape)).shape == (6,)
    assert out["qz"][0].log_prob(out["z"][0]).shape == (6,)
    assert out["pz"][0].log_prob(out["z"][0]).shape == (6,)
    assert out["qz"][0].log_prob(out["z"][0]).dtype == torch.float32


@pytest.mark.parametrize("latent", LATENTS)
def test_reparam_only_where_honest(latent):
    model = make(latent)
    z_rep = model(data((1, 4, 4)), reparam=True)["z"][0]
    z_sf = model(data((1, 4, 4)), reparam=False)["z"][0]
    assert z_rep.requires_grad == (latent == "normal")
    assert not z_sf.requires_grad


@pytest.mark.parametrize("latent", LATENTS)
def test_zs_evaluates_at_given_samples(latent):
    model = make(latent)
    x = data((1, 4, 4))
    z = model.sample_from_prior(6)["z"][0]
    out = model(x, zs=[z])
    assert out["z"][0] is z
    expected = model.q(x).log_prob(z)
    assert torch.allclose(out["qz"][0].log_prob(out["z"][0]), expected)


@pytest.mark.parametrize("latent", LATENTS)
@pytest.mark.parametrize("learn_prior", [False, True])
def test_sample_from_prior(latent, learn_prior):
    model = make(latent, learn_prior=learn_prior)
    out = model.sample_from_prior(5)
    validate_model_output(out, 5, prior=True)
    assert out["px"].sample().shape == (5, 1, 4, 4)
    assert isinstance(model.prior_params, nn.Parameter) == learn_prior


@pytest.mark.parametrize("latent", LATENTS)
def test_fixed_prior(latent):
    model = make(latent)
    pz = model.prior(2)
    if latent == "normal":
        assert torch.allclose(pz.base_dist.loc, torch.zeros(2, 3))
        assert torch.allclose(pz.base_dist.scale, torch.ones(2, 3))
    elif latent == "bernoulli":
        assert torch.allclose(pz.base_dist.probs, torch.full((2, 3), 0.5))
    else:
        assert torch.allclose(pz.base_dist.probs, torch.full((2, 3, 4), 0.25))


def test_parameters_split_into_inference_and_generative():
    model = make("normal", learn_prior=True)
    names = [n for n, _ in model.named_parameters()]
    assert any(n.startswith("inference_network") for n in names)
    assert any(n.startswith("generative_model") for n in names)
    assert "prior_params" in names


def test_init_output_bias_matches_data_mean():
    model = make("bernoulli")
    mean = torch.rand(1, 4, 4) * 0.8 + 0.1
    model.init_output_bias(mean)
    with torch.no_grad():
        model.generative_model[-1].weight.zero_()
    probs = model.sample_from_prior(3)["px"].base_dist.probs
    assert torch.allclose(probs, mean.expand(3, 1, 4, 4), atol=1e-5)


@pytest.mark.parametrize("kwargs,match", [
    ({"latent": "gumbel"}, "latent='gumbel'"),
    ({"likelihood": "poisson"}, "likelihood='poisson'"),
    ({"N": 0}, "N >= 1"),
])
def test_invalid_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VAE((4,), **kwargs)


def test_rejects_bad_input_and_options():
    model = make("normal")
    with pytest.raises(ValueError, match=r"expected \[N, \*\(1, 4, 4\)\]"):
        model(torch.zeros(3, 16))
    with pytest.raises(ValueError, match="zs has 2 entries"):
        model(data((1, 4, 4)), zs=[torch.zeros(6, 3), torch.zeros(6, 3)])
    with pytest.raises(TypeError, match="unknown option"):
        model(data((1, 4, 4)), tau=0.5)
