"""NVIL's neural baseline: its direct forward pass is the network ``net``."""
import copy

import pytest
import torch

from ovis.estimators.score_function import NeuralBaseline


@pytest.mark.parametrize("shape", [(5, 12), (5, 3, 2, 2), (5,)], ids=["flat", "images", "scalars"])
@pytest.mark.parametrize("input_dim", ["lazy", "given"])
@pytest.mark.parametrize("nlayers", [1, 2])
def test_forward_is_the_network(shape, input_dim, nlayers):
    torch.manual_seed(0)
    x = torch.randn(*shape)
    features = x[0].numel()
    baseline = NeuralBaseline(None if input_dim == "lazy" else features, hdim=7, nlayers=nlayers)
    first = baseline(x)  # the lazy one infers its input size here
    assert first.shape == (5,)
    expected = baseline.net(x.reshape(5, -1)).squeeze(-1)
    torch.testing.assert_close(first, expected)
    torch.testing.assert_close(baseline(x), expected)


def test_gradients_reach_every_parameter():
    baseline = NeuralBaseline(6, hdim=4, nlayers=2)
    baseline(torch.randn(3, 6)).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in baseline.parameters())


def test_input_is_cast_to_the_parameters_dtype():
    baseline = NeuralBaseline(4, hdim=3).double()
    assert baseline(torch.ones(2, 4)).dtype == torch.float64


def test_a_copy_uses_its_own_parameters():
    baseline = NeuralBaseline(4, hdim=3)
    twin = copy.deepcopy(baseline)
    with torch.no_grad():
        for p in twin.parameters():
            p.add_(1.0)
    x = torch.randn(2, 4)
    torch.testing.assert_close(twin(x), twin.net(x).squeeze(-1))
    assert not torch.allclose(twin(x), baseline(x))
    assert list(baseline.state_dict()) == ["net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"]
