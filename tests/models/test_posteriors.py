"""The VAE's posterior slot: registry entries, shape contract, the gaussian entry's numerics, the flag, and
a VAE with a flow posterior trained a few steps with pathwise-iwae, dreg and stl."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Independent, Normal

from ovis.estimators import parse_estimator_id
from ovis.models import VAE
from ovis.models.posteriors import POSTERIORS
from ovis.registry import RegistryError
from ovis.training.arguments import config_from_args, parse_args
from ovis.training.factory import build_model, model_hparams

SMALL = {"gaussian": {}, "maf": {"transforms": 2, "hidden": (16,)}, "nsf": {"transforms": 2, "hidden": (16,)},
         "ffjord": {"hidden": 8}}


def test_registered_names():
    assert POSTERIORS.names() == ["ffjord", "gaussian", "maf", "nsf"]
    with pytest.raises(RegistryError, match="valid options are"):
        POSTERIORS.build("nsf", 8, 4, bin=3)
    with pytest.raises(RegistryError, match="valid posteriors are"):
        POSTERIORS.build("realnvp", 8, 4)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_contract_batch_and_event_shapes(name):
    q = POSTERIORS.build(name, 8, 4, **SMALL[name])
    dist = q(torch.randn(5, 8))
    assert dist.batch_shape == (5,) and dist.event_shape == (4,) and dist.has_rsample
    z = dist.rsample()
    assert z.shape == (5, 4)
    lp = dist.log_prob(z)
    assert lp.shape == (5,) and torch.isfinite(lp).all()
    # the stored log q of a sample is the density at it
    torch.testing.assert_close(lp, dist.log_prob(z.detach().clone()), atol=1e-4, rtol=1e-4)


def test_gaussian_entry_is_the_previous_parameterisation():
    torch.manual_seed(0)
    h = torch.randn(7, 6)
    dist = POSTERIORS.build("gaussian", 6, 3)(h)
    loc, raw = h[:, :3], h[:, 3:]
    expected = Independent(Normal(loc, F.softplus(raw) + 1e-3), 1)
    z = torch.randn(7, 3)
    torch.testing.assert_close(dist.log_prob(z), expected.log_prob(z), rtol=0, atol=0)
    with pytest.raises(ValueError, match="features_dim must be 2 \\* latent_dim = 6"):
        POSTERIORS.build("gaussian", 5, 3)


def test_gaussian_vae_keeps_its_state_dict_keys():
    keys = set(VAE((6,), N=3, hdim=8).state_dict())
    assert not any(k.startswith("posterior") for k in keys)
    assert any(k.startswith("posterior.") for k in VAE((6,), N=3, hdim=8, posterior="nsf").state_dict())


def test_flow_posterior_needs_a_normal_latent():
    with pytest.raises(ValueError, match="needs latent='normal'"):
        VAE((6,), latent="bernoulli", N=3, posterior="nsf")


def test_flag_reaches_the_model():
    config = config_from_args(parse_args(["--model", "vae", "--prior", "normal", "--posterior", "maf",
                                          "--N", "3", "--hdim", "8"]))
    assert model_hparams(config)["posterior"] == "maf"
    model = build_model(config, (6,))
    assert model.posterior_name == "maf" and sum(p.numel() for p in model.posterior.parameters()) > 0
    with pytest.raises(ValueError, match="only the vae uses it"):
        model_hparams(config_from_args(parse_args(["--model", "sbn", "--posterior", "nsf"])))
    with pytest.raises(SystemExit):
        parse_args(["--posterior", "realnvp"])


@pytest.mark.parametrize("posterior", ["nsf", "ffjord"])
@pytest.mark.parametrize("estimator", ["pathwise-iwae", "dreg", "stl"])
def test_vae_with_flow_posterior_trains(posterior, estimator):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    centers = (torch.rand(2, 6, generator=g) > 0.5).float()
    x = centers[torch.randint(0, 2, (32,), generator=g)]
    model = VAE((6,), latent="normal", N=2, hdim=16, nlayers=1, posterior=posterior,
                posterior_options=SMALL[posterior])
    Estimator, config = parse_estimator_id(estimator)
    est = Estimator(mc=1, iw=4, **config)
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    before = [p.detach().clone() for p in model.posterior.parameters()]
    losses = []
    for _ in range(12):
        opt.zero_grad()
        loss, diagnostics, _ = est(model, x)
        loss.mean().backward()
        opt.step()
        losses.append(loss.mean().item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert any((p - b).abs().max() > 0 for p, b in zip(model.posterior.parameters(), before))
    assert sum(losses[-3:]) < sum(losses[:3])
