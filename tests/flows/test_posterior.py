"""ovis.flows.posterior: flow posteriors conditioned on features, their one-pass log q and their detached copy."""
import pytest
import torch

from ovis.flows.posterior import FlowDistribution, ffjord_posterior, maf_posterior, nsf_posterior


@pytest.mark.parametrize("factory", [maf_posterior, nsf_posterior])
def test_shapes_and_one_pass_log_q(factory):
    torch.manual_seed(0)
    q = factory(6, 3, transforms=2)
    features = torch.randn(5, 6)
    dist = q(features)
    assert isinstance(dist, FlowDistribution)
    assert dist.batch_shape == (5,) and dist.event_shape == (3,)
    z = dist.rsample()
    assert z.shape == (5, 3) and z.requires_grad
    stored = dist.log_prob(z)  # the value computed with the sample
    fresh = dist.log_prob(z.detach().clone())  # the density evaluated again
    torch.testing.assert_close(stored, fresh, rtol=1e-4, atol=1e-5)


def test_features_of_the_wrong_size_are_refused():
    q = maf_posterior(6, 3, transforms=1)
    with pytest.raises(ValueError, match=r"expects features \[n, 6\]"):
        q(torch.randn(5, 4))


def test_detached_copy_holds_the_parameters_constant():
    torch.manual_seed(1)
    q = nsf_posterior(4, 2, transforms=2)
    features = torch.randn(3, 4, requires_grad=True)
    dist = q(features)
    z = dist.rsample()
    lq = dist.detached().log_prob(z)
    torch.testing.assert_close(lq, dist.log_prob(z.detach().clone()), rtol=1e-4, atol=1e-5)  # same density
    inputs = [features, *q.parameters()]
    dz = torch.autograd.grad(lq.sum(), z, retain_graph=True)[0]
    grads = torch.autograd.grad(lq.sum(), inputs, retain_graph=True, allow_unused=True)
    # through z only: z itself depends on the parameters and the features, so compare with the path term
    path = torch.autograd.grad(z, inputs, grad_outputs=dz, allow_unused=True)
    for g, p in zip(grads, path):
        if g is None or p is None:
            assert (g is None or g.abs().max() == 0) and (p is None or p.abs().max() == 0)
        else:
            torch.testing.assert_close(g, p, rtol=1e-5, atol=1e-6)
    with pytest.raises(RuntimeError, match="log_prob only"):
        dist.detached().rsample()


def test_ffjord_posterior_samples():
    torch.manual_seed(0)
    q = ffjord_posterior(4, 2, transforms=1, hidden=8, layers=2)
    z = q(torch.randn(3, 4)).rsample()
    assert z.shape == (3, 2) and torch.isfinite(z).all()


@pytest.mark.parametrize("name", ["maf", "nsf", "ffjord"])
def test_identity_init_starts_as_the_gaussian_posterior(name):
    """With the default standardize + identity_init, every flow posterior equals the diagonal Gaussian
    N(loc, softplus(raw) + 1e-3) read from the same features, before any training."""
    from ovis.models.posteriors import POSTERIORS

    torch.manual_seed(0)
    features = torch.randn(5, 6, dtype=torch.float64)
    q = POSTERIORS.build(name, 6, 3).double()(features)
    loc, raw = features.chunk(2, dim=-1)
    scale = torch.nn.functional.softplus(raw) + 1e-3
    z = torch.randn(7, 5, 3, dtype=torch.float64) * 2
    reference = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)  # written from the definition
    torch.testing.assert_close(q.log_prob(z), reference, rtol=1e-6, atol=1e-6)
    draws = q.sample((4000,))
    torch.testing.assert_close(draws.mean(0), loc, atol=0.15, rtol=0)


def test_standardized_density_is_the_change_of_variables_of_the_flow():
    """log q(z) = log p_flow((z - loc) / scale | features) - sum log scale, for a trained-looking
    (random, not identity) flow."""
    torch.manual_seed(2)
    features = torch.randn(4, 6, dtype=torch.float64)
    q = nsf_posterior(6, 3, transforms=2, identity_init=False).double()
    z = torch.randn(3, 4, 3, dtype=torch.float64)
    loc, raw = features.chunk(2, dim=-1)
    scale = torch.nn.functional.softplus(raw) + 1e-3
    expected = q.flow(features).log_prob((z - loc) / scale) - scale.log().sum(-1)
    torch.testing.assert_close(q(features).log_prob(z), expected)
    # and the flow is not the identity: the density differs from the Gaussian's
    gauss = torch.distributions.Normal(loc, scale).log_prob(z).sum(-1)
    assert (q(features).log_prob(z) - gauss).abs().max() > 1e-3
    # rsample's one-pass log q matches the density evaluated again
    dist = q(features)
    sample = dist.rsample((2,))
    torch.testing.assert_close(dist.log_prob(sample), dist.log_prob(sample.detach().clone()), rtol=1e-6, atol=1e-6)


def test_standardize_needs_two_values_per_latent():
    with pytest.raises(ValueError, match=r"2 \* latent_dim = 6, got 5; pass standardize=False"):
        maf_posterior(5, 3)
    q = maf_posterior(5, 3, standardize=False)
    assert q(torch.randn(2, 5)).rsample().shape == (2, 3)
