"""Every model x every estimator family: one step gives a finite loss and finite gradients.

Pathwise estimators on discrete latents must refuse with the clear ModelContractError, and
DReG must refuse models with several reparameterized layers.
"""
import pytest
import torch
from torch import nn
from torch.distributions import Independent, Normal

from ovis.estimators.config import parse_estimator_id
from ovis.models import SBN, VAE, GaussianMixtureToy, GaussianToy, ModelContractError, TemplateModel
from ovis.models.gaussian_toy import sample_gaussian_toy
from ovis.models.gmm_toy import sample_gmm_toy

ESTIMATORS = [
    "pathwise", "pathwise-vae", "pathwise-iwae", "stl", "dreg", "reinforce", "reinforce-baseline",
    "vimco-arithmetic", "vimco-geometric", "ovis-S0.5", "ovis-S1-exclusive", "ovis-gamma0", "ovis-gamma1",
    "ovis-gamma1-arithmetic", "wake-wake", "wake-sleep", "tvo", "tvo-part3-config1-trapz",
]
PATHWISE = {"pathwise", "pathwise-vae", "pathwise-iwae", "stl", "dreg"}


def image(n=3):
    return torch.bernoulli(torch.full((n, 1, 4, 4), 0.4))


#: name -> (model factory, data factory, has reparameterizable latents)
MODELS = {
    "vae-normal": (lambda: VAE((1, 4, 4), "normal", N=3, hdim=8, nlayers=1), image, True),
    "vae-normal-gaussian-lik": (lambda: VAE((1, 4, 4), "normal", N=3, hdim=8, nlayers=1, likelihood="normal",
                                            learn_prior=True), lambda: torch.rand(3, 1, 4, 4), True),
    "vae-bernoulli": (lambda: VAE((1, 4, 4), "bernoulli", N=3, hdim=8, nlayers=1, learn_prior=True), image, False),
    "vae-categorical": (lambda: VAE((1, 4, 4), "categorical", N=3, K=4, hdim=8, nlayers=1), image, False),
    "sbn-linear": (lambda: SBN((1, 4, 4), layers=(5,)), image, False),
    "sbn-mlp-2": (lambda: SBN((1, 4, 4), layers=(5, 4), connection="mlp", hdim=6), image, False),
    "gmm-toy": (lambda: GaussianMixtureToy(C=5), lambda: sample_gmm_toy(3, 5), False),
    "gaussian-toy": (lambda: GaussianToy(3), lambda: sample_gaussian_toy(3, torch.zeros(3)), True),
}


def grads(module: nn.Module, prefix: str = ""):
    return {prefix + n: p.grad for n, p in module.named_parameters()}


@pytest.mark.parametrize("estimator_id", ESTIMATORS)
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_one_step(model_name, estimator_id):
    torch.manual_seed(0)
    make_model, make_data, reparameterizable = MODELS[model_name]
    model, x = make_model(), make_data()
    Estimator, config = parse_estimator_id(estimator_id)
    estimator = Estimator(mc=2, iw=4, **config)
    if estimator_id in PATHWISE and not reparameterizable:
        with pytest.raises(ModelContractError, match="needs reparameterized samples"):
            estimator(model, x)
        return
    loss, diagnostics, output = estimator(model, x)
    assert loss.shape == (3,) and torch.isfinite(loss).all()
    assert torch.isfinite(diagnostics["loss"]["L_k"]).all()
    loss.mean().backward()
    g = grads(model)
    assert all(torch.isfinite(v).all() for v in g.values() if v is not None), model_name
    assert all(torch.isfinite(v).all() for v in grads(estimator).values() if v is not None)
    inference = [v for n, v in g.items() if "inference_network" in n and v is not None]
    generative = [v for n, v in g.items() if "inference_network" not in n and v is not None]
    assert any(v.abs().sum() > 0 for v in inference), f"no inference gradient for {model_name}"
    assert any(v.abs().sum() > 0 for v in generative), f"no generative gradient for {model_name}"


class TwoGaussianLayers(TemplateModel):
    """z_1 ~ q(z_1|x), z_2 ~ q(z_2|z_1), both reparameterizable (only used to test DReG's refusal)."""

    def __init__(self):
        super().__init__()
        self.inference_network = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
        self.generative_model = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])

    def forward(self, x, reparam=False, zs=None, **kw):
        q1 = Independent(Normal(self.inference_network[0](x), 1.0), 1)
        z1 = q1.rsample() if reparam else q1.sample()
        q2 = Independent(Normal(self.inference_network[1](z1), 1.0), 1)
        z2 = q2.rsample() if reparam else q2.sample()
        p1 = Independent(Normal(self.generative_model[1](z2), 1.0), 1)
        p2 = Independent(Normal(torch.zeros_like(z2), 1.0), 1)
        px = Independent(Normal(self.generative_model[0](z1), 1.0), 1)
        return {"px": px, "z": [z1, z2], "qz": [q1, q2], "pz": [p1, p2]}


def test_dreg_refuses_several_reparameterized_layers():
    Estimator, config = parse_estimator_id("dreg")
    with pytest.raises(ModelContractError, match="dreg supports models with one stochastic layer"):
        Estimator(iw=4, **config)(TwoGaussianLayers(), torch.randn(3, 2))
    # the same model is fine for the other pathwise estimators
    Estimator, config = parse_estimator_id("pathwise-iwae")
    loss, _, _ = Estimator(iw=4, **config)(TwoGaussianLayers(), torch.randn(3, 2))
    assert torch.isfinite(loss).all()
