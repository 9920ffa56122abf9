"""Sigmoid belief network (SBN): a hierarchy of layers of binary stochastic units.

Generative model, for ``L`` stochastic layers ``z_1 .. z_L`` (``z_1`` next to the data)::

    p(z_L) = Bernoulli(sigmoid(b))                       (learned logits b)
    p(z_l | z_{l+1}) = Bernoulli(sigmoid(f_l(z_{l+1})))  l = L-1 .. 1
    p(x | z_1) = Bernoulli(sigmoid(f_0(z_1)))

Inference model, in the reverse order::

    q(z_1 | x) q(z_2 | z_1) ... q(z_L | z_{L-1})

where each ``f`` is linear (``connection='linear'``, the classic SBN, e.g. 784-200-200-200)
or a one-hidden-layer tanh MLP (``connection='mlp'``). Latent inputs are fed to the
networks as ``2z - 1`` (values in {-1, 1}).

References:
    Neal (1992), Connectionist learning of belief networks.
    Mnih & Gregor (2014), Neural Variational Inference and Learning in Belief Networks,
    arXiv:1402.0030.
    Mnih & Rezende (2016), Variational inference for Monte Carlo objectives (VIMCO),
    arXiv:1602.06725.
    Lievin et al. (2020), OVIS, arXiv:2008.01998 (the 784-200 SBN benchmarks).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent

from .checks import check_input, check_zs, input_shape_tuple, reject_options
from .layers import check_choice, init_bias_to_logit, mlp, numel
from .registry import MODELS
from .template import TemplateModel

__all__ = ["SBN", "CONNECTIONS"]

CONNECTIONS = ("linear", "mlp")


def _bernoulli(logits: Tensor) -> Distribution:
    """Independent Bernoulli units: batch shape ``logits.shape[:1]``, event ``logits.shape[1:]``."""
    return Independent(Bernoulli(logits=logits), logits.dim() - 1)


@MODELS.register("sbn", reserved=("input_shape",))
class SBN(TemplateModel):
    """A sigmoid belief network with ``len(layers)`` stochastic layers of Bernoulli units.

    Arguments:
        input_shape: shape of one (binary) observation, e.g. ``(1, 28, 28)`` or ``(784,)``.
        layers: units per stochastic layer, ``z_1`` first, e.g. ``(200,)`` or ``(200, 200, 200)``.
        connection: ``'linear'`` or ``'mlp'`` (one tanh hidden layer of ``hdim`` units between
            consecutive layers).
        hdim: hidden units of the ``'mlp'`` connections.

    Attributes:
        inference_network: ``[x -> z_1, z_1 -> z_2, ...]`` logits networks of ``q``.
        generative_model: ``[z_1 -> x, z_2 -> z_1, ...]`` logits networks of ``p``.
        prior_logits: logits ``[layers[-1]]`` of ``p(z_L)`` (a generative parameter).

    The output lists ``'z'``, ``'qz'``, ``'pz'`` hold one entry per stochastic layer in the
    order ``z_1 .. z_L``; ``'pz'[l]`` is ``p(z_l | z_{l+1})`` (``p(z_L)`` for the last).

    Example:
        >>> model = SBN((784,), layers=(200,))
        >>> out = model(torch.bernoulli(torch.rand(24 * 50, 784)))   # one row per particle
        >>> out["z"][0].shape
        torch.Size([1200, 200])
    """

    def __init__(self, input_shape: Sequence[int], layers: Sequence[int] = (200,), connection: str = "linear",
                 hdim: int = 200) -> None:
        super().__init__()
        check_choice("connection", connection, CONNECTIONS)
        sizes = tuple(int(s) for s in layers)
        if len(sizes) == 0 or any(s < 1 for s in sizes):
            raise ValueError(f"layers={tuple(layers)!r} is invalid; expected one or more positive sizes, "
                             f"e.g. (200,) or (200, 200, 200)")
        self.input_shape = input_shape_tuple(input_shape)
        self.sizes = sizes
        self.connection = connection
        D = numel(self.input_shape)

        def net(n_in: int, n_out: int) -> nn.Module:
            return nn.Linear(n_in, n_out) if connection == "linear" else mlp(n_in, n_out, hdim, 1, "tanh")

        ins = (D,) + sizes[:-1]
        self.inference_network = nn.ModuleList([net(i, o) for i, o in zip(ins, sizes)])
        self.generative_model = nn.ModuleList([net(o, i) for i, o in zip(ins, sizes)])
        self.prior_logits = nn.Parameter(torch.zeros(sizes[-1]))

    # ------------------------------------------------------------------ distributions
    def prior(self, n: int) -> Distribution:
        """``p(z_L)``, batch shape ``[n]``, event ``[layers[-1]]``."""
        return _bernoulli(self.prior_logits.expand(n, self.sizes[-1]))

    def p_x(self, z1: Tensor) -> Distribution:
        """``p(x | z_1)`` for ``z_1 [n, layers[0]]``: batch ``[n]``, event ``input_shape``."""
        n = z1.shape[0]
        return _bernoulli(self.generative_model[0](2 * z1 - 1).view(n, *self.input_shape))

    def p_z(self, layer: int, z_above: Tensor) -> Distribution:
        """``p(z_layer | z_{layer+1})`` (0-based ``layer < L-1``), batch ``[n]``."""
        return _bernoulli(self.generative_model[layer + 1](2 * z_above - 1))

    # ------------------------------------------------------------------ contract
    def forward(self, x: Tensor, reparam: bool = False, zs: Optional[List[Tensor]] = None,
                **kw: Any) -> Dict[str, Any]:
        """Sample ``z_1 .. z_L ~ q`` (or take ``zs``) and evaluate ``p``.

        Arguments:
            x: binary observations ``[n, *input_shape]`` (the particle rows first).
            reparam: ignored in effect: Bernoulli units are not reparameterizable, so the
                samples never carry a gradient (pathwise estimators then raise a clear error).
            zs: ``[z_1, .., z_L]``, ``z_l [n, layers[l]]``: evaluate ``q`` and ``p`` there.

        Returns:
            ``{'px', 'z', 'qz', 'pz'}`` with one entry per layer in the lists, batch shapes ``[n]``.
        """
        reject_options(type(self).__name__, "forward", kw)
        check_input(type(self).__name__, x, self.input_shape)
        n = x.shape[0]
        given = check_zs(type(self).__name__, zs, [(s,) for s in self.sizes], n)
        z_list: List[Tensor] = []
        qz: List[Distribution] = []
        h = x.reshape(n, -1)
        for layer, net in enumerate(self.inference_network):
            q = _bernoulli(net(h))
            z = given[layer] if given is not None else q.sample()
            qz.append(q)
            z_list.append(z)
            h = 2 * z - 1
        L = len(self.sizes)
        pz = [self.p_z(layer, z_list[layer + 1]) for layer in range(L - 1)] + [self.prior(n)]
        return {"px": self.p_x(z_list[0]), "z": z_list, "qz": qz, "pz": pz}

    def sample_from_prior(self, bs: int, **kw: Any) -> Dict[str, Any]:
        """Ancestral sampling ``z_L -> .. -> z_1``: ``{'px': p(x|z_1), 'z': [z_1..z_L], 'pz': [..]}``."""
        reject_options(type(self).__name__, "sample_from_prior", kw)
        L = len(self.sizes)
        pz: List[Distribution] = [self.prior(bs)]
        z_list = [pz[0].sample()]
        for layer in reversed(range(L - 1)):
            p = self.p_z(layer, z_list[0])
            pz.insert(0, p)
            z_list.insert(0, p.sample())
        return {"px": self.p_x(z_list[0]), "z": z_list, "pz": pz}

    def init_output_bias(self, x_mean: Tensor) -> None:
        """Start ``p(x|z_1)`` at the data mean ``x_mean [*input_shape]`` (logit of the mean)."""
        last = self.generative_model[0]
        init_bias_to_logit(last if isinstance(last, nn.Linear) else last[-1], x_mean)
