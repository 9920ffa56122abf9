"""ovis.estimators.pathwise: layouts, refusals, and how the family's members relate on the same draws."""
import pytest
import torch

from ovis.estimators.pathwise import DoublyReparameterized, Pathwise, PathwiseIWAE, PathwiseVAE, StickingTheLanding
from ovis.models import ModelContractError, build_model

from .same_draws import assert_same, gradients


def vae():
    torch.manual_seed(0)
    return build_model("vae", (10,), N=3, hdim=8).double()


X = torch.bernoulli(torch.full((4, 10), 0.4, dtype=torch.float64))


def test_layouts():
    cfg = {"mc": 3, "iw": 5}
    assert Pathwise(**cfg).layout(Pathwise(**cfg).config) == (3, 5)
    assert PathwiseVAE(**cfg).layout(PathwiseVAE(**cfg).config) == (15, 1)
    assert PathwiseIWAE(**cfg).layout(PathwiseIWAE(**cfg).config) == (1, 15)


def test_iwae_with_mc_is_one_bound_of_all_particles():
    """pathwise-iwae with (mc, iw) = (2, 4) is pathwise with (1, 8) on the same draws."""
    model = vae()
    assert_same(gradients(PathwiseIWAE(mc=2, iw=4), model, X), gradients(Pathwise(mc=1, iw=8), model, X))


def test_vae_is_pathwise_with_one_particle_per_bound():
    model = vae()
    assert_same(gradients(PathwiseVAE(mc=1, iw=6), model, X), gradients(Pathwise(mc=6, iw=1), model, X))


@pytest.mark.parametrize("estimator", [StickingTheLanding, DoublyReparameterized])
def test_generative_gradient_is_iwae(estimator):
    """STL and DReG change the inference gradient only."""
    model = vae()
    assert_same(gradients(estimator(iw=5), model, X, beta=0.7), gradients(Pathwise(iw=5), model, X, beta=0.7),
                prefix="generative_model")


def test_stl_with_one_particle_differs_from_the_elbo_only_by_a_zero_mean_score():
    """K = 1: STL drops -beta * d log q / d phi at fixed z, whose mean is zero; on one draw it differs."""
    model = vae()
    stl, path = gradients(StickingTheLanding(iw=1), model, X), gradients(Pathwise(iw=1), model, X)
    assert not torch.allclose(stl["inference_network.0.weight"], path["inference_network.0.weight"])
    assert_same(stl, path, prefix="generative_model")


def test_dreg_refuses_hierarchical_models():
    model = build_model("vae", (10,), N=3)
    sbn = build_model("sbn", (10,), layers=(4, 3))
    with pytest.raises(ModelContractError, match="reparameterized samples"):
        DoublyReparameterized(iw=2)(sbn, X.float())
    assert DoublyReparameterized(iw=2)(model, X.float())[0].shape == (4,)


def test_pathwise_needs_reparameterized_latents():
    sbn = build_model("sbn", (10,), layers=(4,))
    with pytest.raises(ModelContractError, match="score-function estimator"):
        Pathwise(iw=2)(sbn, X.float())
