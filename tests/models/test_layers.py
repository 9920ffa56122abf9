"""Tests of ovis.models.layers: MLP shapes, depth, activations, output-bias initialisation."""
import pytest
import torch
from torch import nn

from ovis.models.layers import ACTIVATIONS, init_bias_to_logit, mlp, numel


@pytest.mark.parametrize("nlayers", [0, 1, 3])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_mlp_shape_and_depth(nlayers, activation):
    net = mlp(7, 3, hdim=5, nlayers=nlayers, activation=activation)
    assert net(torch.randn(4, 7)).shape == (4, 3)
    assert sum(isinstance(m, nn.Linear) for m in net) == nlayers + 1
    assert sum(isinstance(m, ACTIVATIONS[activation]) for m in net) == nlayers


def test_mlp_rejects_unknown_activation():
    with pytest.raises(ValueError, match="activation='sigmoidish'.*tanh"):
        mlp(3, 3, activation="sigmoidish")


@pytest.mark.parametrize("shape,n", [((1, 28, 28), 784), ((64,), 64), ((2, 3, 4), 24)])
def test_numel(shape, n):
    assert numel(shape) == n


@pytest.mark.parametrize("mean", [0.01, 0.3, 0.5, 0.97])
def test_init_bias_to_logit(mean):
    layer = nn.Linear(4, 6)
    init_bias_to_logit(layer, torch.full((2, 3), mean))
    nn.init.zeros_(layer.weight)
    assert torch.allclose(torch.sigmoid(layer(torch.randn(2, 4))), torch.full((2, 6), mean), atol=1e-6)


def test_init_bias_to_logit_rejects_wrong_size():
    with pytest.raises(ValueError, match="elements"):
        init_bias_to_logit(nn.Linear(4, 6), torch.rand(5))
