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
