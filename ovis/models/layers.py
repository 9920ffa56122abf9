"""Small building blocks shared by the models: MLPs and output-bias initialisation.

The networks of the models in this package are plain multi-layer perceptrons, as in the
papers whose models they reproduce (e.g. the 784-200-200 encoders of Burda et al., 2016,
Importance Weighted Autoencoders, arXiv:1509.00519, and the linear / non-linear sigmoid
belief networks of Mnih & Rezende, 2016, VIMCO, arXiv:1602.06725).

Example:
    >>> import torch
    >>> from ovis.models.layers import mlp
    >>> net = mlp(784, 2 * 32, hdim=200, nlayers=2, activation="tanh")
    >>> net(torch.rand(16, 784)).shape
    torch.Size([16, 64])
"""
from __future__ import annotations

import math
from typing import Callable, Dict, Sequence

import torch
from torch import Tensor, nn

__all__ = ["ACTIVATIONS", "mlp", "numel", "init_bias_to_logit", "check_choice"]

#: activation names accepted by :func:`mlp`.
ACTIVATIONS: Dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
}


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    """Raise ``ValueError`` naming ``name``, the bad ``value`` and the valid ``choices``."""
    if value not in choices:
        raise ValueError(f"{name}={value!r} is invalid; expected one of {list(choices)}")


def numel(shape: Sequence[int]) -> int:
    """Number of elements of a tensor of shape ``shape`` (``numel((1, 28, 28)) == 784``)."""
    return int(math.prod(int(s) for s in shape))


def mlp(in_features: int, out_features: int, hdim: int = 200, nlayers: int = 2,
        activation: str = "tanh") -> nn.Sequential:
    """A multi-layer perceptron ``[N, in_features] -> [N, out_features]``.

    Arguments:
        in_features: input size.
        out_features: output size (no activation on the output).
        hdim: hidden units per hidden layer.
        nlayers: number of hidden layers; ``0`` gives a single linear layer.
        activation: one of :data:`ACTIVATIONS`.

    Returns:
        ``nn.Sequential(Linear, act, ..., Linear)`` with ``nlayers + 1`` linear layers.
    """
    check_choice("activation", activation, list(ACTIVATIONS))
    if nlayers < 0 or hdim < 1:
        raise ValueError(f"mlp needs nlayers >= 0 and hdim >= 1, got nlayers={nlayers}, hdim={hdim}")
    layers = []
    width = in_features
    for _ in range(nlayers):
        layers += [nn.Linear(width, hdim), ACTIVATIONS[activation]()]
        width = hdim
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


@torch.no_grad()
def init_bias_to_logit(layer: nn.Linear, mean: Tensor, eps: float = 1e-3) -> None:
    """Set ``layer.bias`` to ``logit(mean)`` so that ``sigmoid(output)`` starts at the data mean.

    A common initialisation of Bernoulli decoders (it removes the first, large and
    uninformative gradient steps that only learn the pixel marginals).

    Arguments:
        layer: the output layer, ``out_features == mean.numel()``.
        mean: mean of the training data, any shape with ``layer.out_features`` elements.
        eps: clamp ``mean`` to ``[eps, 1 - eps]``.
    """
    mean = mean.reshape(-1).to(layer.bias)
    if mean.numel() != layer.out_features:
        raise ValueError(f"mean has {mean.numel()} elements; the layer has {layer.out_features} outputs")
    mean = mean.clamp(eps, 1 - eps)
    layer.bias.copy_(torch.log(mean) - torch.log1p(-mean))
