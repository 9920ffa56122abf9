"""Neural baseline ``c(x)`` for the REINFORCE estimator.

Reference: Mnih & Gregor (2014), Neural Variational Inference and Learning in Belief
Networks (NVIL), arXiv:1402.0030.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["NeuralBaseline"]


class NeuralBaseline(nn.Module):
    """An MLP ``c(x)`` predicting the learning signal of the score-function estimator.

    Arguments:
        input_dim: number of input features (flattened ``x``); ``None`` infers it at the first
            call (run one forward pass before building the optimizer).
        hdim: hidden units (100, as in NVIL's input-dependent baseline).
        nlayers: hidden layers.

    Example:
        >>> import torch
        >>> baseline = NeuralBaseline(784)
        >>> baseline(torch.rand(5, 784)).shape
        torch.Size([5])
    """

    def __init__(self, input_dim: Optional[int] = None, hdim: int = 100, nlayers: int = 1) -> None:
        super().__init__()
        layers = []
        first = nn.LazyLinear(hdim) if input_dim is None else nn.Linear(input_dim, hdim)
        layers += [first, nn.Tanh()]
        for _ in range(nlayers - 1):
            layers += [nn.Linear(hdim, hdim), nn.Tanh()]
        layers += [nn.Linear(hdim, 1)]
        self.net = nn.Sequential(*layers)
        # the linear layers of ``net``, in order, for the direct forward pass (replacing a layer of
        # ``net`` after construction is not supported)
        self._linears: Tuple[nn.Module, ...] = tuple(layer for layer in layers if not isinstance(layer, nn.Tanh))

    def forward(self, x: Tensor) -> Tensor:
        """``x [bs, *dims] -> c(x) [bs]``."""
        h = x if x.dim() == 2 else x.reshape(x.shape[0], -1)
        first = self._linears[0]
        if isinstance(first, nn.LazyLinear):  # the first call infers the input size
            return self.net(h.to(self._linears[-1].weight.dtype)).squeeze(-1)
        if h.dtype != first.weight.dtype:
            h = h.to(first.weight.dtype)
        # the layers applied directly: this runs at every step, and the container's per-module
        # calls and lookups cost more than the two small matrix products of NVIL's baseline
        for layer in self._linears[:-1]:
            h = torch.tanh(F.linear(h, layer.weight, layer.bias))
        last = self._linears[-1]
        return F.linear(h, last.weight, last.bias).squeeze(-1)
