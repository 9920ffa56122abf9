"""Tests of ovis.models.sbn: per-layer outputs, ancestral sampling, zs evaluation, lean forward."""
import pytest
import torch

from ovis.models import validate_model_output
from ovis.models.sbn import CONNECTIONS, SBN

LAYERS = [(5,), (5, 4), (6, 5, 3)]


def make(layers, connection="linear", shape=(1, 4, 4)):
    torch.manual_seed(0)
    return SBN(shape, layers=layers, connection=connection, hdim=7)


@pytest.mark.parametrize("connection", CONNECTIONS)
@pytest.mark.parametrize("layers", LAYERS)
def test_output_contract(layers, connection):
    model = make(layers, connection)
    x = torch.bernoulli(torch.full((6, 1, 4, 4), 0.3))
    out = model(x)
    validate_model_output(out, 6)
    assert len(out["z"]) == len(out["qz"]) == len(out["pz"]) == len(layers)
    for z, q, p, size in zip(out["z"], out["qz"], out["pz"], layers):
        assert z.shape == (6, size) and set(z.unique().tolist()) <= {0.0, 1.0}
        assert q.log_prob(z).shape == p.log_prob(z).shape == (6,)
    assert out["px"].log_prob(x).shape == (6,)
    # the last prior is p(z_L) with the learned logits; the others depend on the layer above
    assert torch.equal(out["pz"][-1].base_dist.logits[0], model.prior_logits)


@pytest.mark.parametrize("layers", [s for s in LAYERS if len(s) > 1])
def test_layers_are_chained(layers):
    """q(z_2|z_1) depends on z_1; p(z_1|z_2) does not."""
    model = make(layers)
    x = torch.bernoulli(torch.full((4, 1, 4, 4), 0.5))
    zs = model.sample_from_prior(4)["z"]
    out_a = model(x, zs=zs)
    flipped = [1 - zs[0]] + zs[1:]
    out_b = model(x, zs=flipped)
    assert not torch.allclose(out_a["qz"][1].base_dist.logits, out_b["qz"][1].base_dist.logits)
    assert torch.allclose(out_a["pz"][0].base_dist.logits, out_b["pz"][0].base_dist.logits)


@pytest.mark.parametrize("layers", LAYERS)
def test_zs_and_sample_from_prior(layers):
    model = make(layers)
    prior = model.sample_from_prior(5)
    validate_model_output(prior, 5, prior=True)
    x = prior["px"].sample()
    out = model(x, zs=prior["z"])
    assert all(a is b for a, b in zip(out["z"], prior["z"]))
    # p(z) evaluated at the prior's own samples equals the prior's log-density
    for p_out, p_prior, z in zip(out["pz"], prior["pz"], prior["z"]):
        assert torch.allclose(p_out.log_prob(z), p_prior.log_prob(z))


def test_reparam_gives_no_gradient_on_discrete_samples():
    model = make((5, 4))
    out = model(torch.zeros(3, 1, 4, 4), reparam=True)
    assert not any(z.requires_grad for z in out["z"])


def test_large_particle_batch_is_float32_and_vectorised():
    """The 784-200 benchmark shape, scaled down: many particle rows in one call."""
    model = SBN((784,), layers=(200,))
    x = torch.bernoulli(torch.full((24 * 200, 784), 0.2))
    out = model(x)
    assert out["z"][0].dtype == torch.float32 and out["z"][0].shape == (4800, 200)
    assert out["px"].log_prob(x).dtype == torch.float32


@pytest.mark.parametrize("kwargs,match", [
    ({"layers": ()}, r"layers=\(\)"),
    ({"layers": (5, 0)}, "positive sizes"),
    ({"connection": "conv"}, "connection='conv'"),
])
def test_invalid_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SBN((16,), **kwargs)
