"""The linear Gaussian toy model of "Tighter Variational Bounds are Not Necessarily Better".

Generative model (``D`` dimensions) and inference model::

    z ~ N(mu, I),   x | z ~ N(z, I)                 theta = mu
    q(z | x) = N(A x + b, 2/3 I)                    phi = (A [D, D], b [D])

The covariance of ``q`` is fixed at ``2/3 I`` (standard deviation ``sqrt(2/3)``), slightly
off the true posterior covariance ``I/2``. The optimum is known in closed form: for a
data set ``x_1..x_n``, ``mu* = 1/n sum_i x_i``, ``A* = I/2`` and ``b* = mu*/2`` (the true
posterior mean is ``(x + mu)/2``). The forward pass reports the distance to it:

* ``'mse_theta'``: ``mean_d (mu_d - mu*_d)^2``;
* ``'mse_phi'``: the mean squared error of the entries of ``(A, b)`` against ``(A*, b*)``.

Data come from a true model ``mu_true ~ N(0, I)`` drawn with a seed
(:func:`true_mu`, :func:`sample_gaussian_toy`). Until :meth:`GaussianToy.set_optimum` is
called with the training data, ``mu*`` is the population optimum ``mu_true``.

Reference: Rainforth, Kosiorek, Le, Maddison, Igl, Wood, Teh (2018), Tighter Variational
Bounds are Not Necessarily Better, ICML, arXiv:1802.04537 (section 5, D = 20).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from .checks import check_input, check_zs, reject_options, sample
from .registry import MODELS
from .template import TemplateModel

__all__ = ["GaussianToy", "build_gaussian_toy", "true_mu", "sample_gaussian_toy"]

Q_SCALE = math.sqrt(2.0 / 3.0)


def true_mu(D: int = 20, seed: int = 0) -> Tensor:
    """The true prior mean ``mu_true ~ N(0, I)`` drawn with ``seed``, ``[D]``."""
    return torch.randn(D, generator=torch.Generator().manual_seed(seed))


def sample_gaussian_toy(n: int, mu: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """``n`` draws from the true process ``z ~ N(mu, I), x ~ N(z, I)``: ``x [n, D]`` float32."""
    D = mu.numel()
    z = mu.reshape(1, D) + torch.randn(n, D, generator=generator)
    return z + torch.randn(n, D, generator=generator)


class GaussianToy(TemplateModel):
    """Linear Gaussian model with a linear Gaussian ``q``; observations ``x [n, D]``.

    Arguments:
        D: dimension of ``x`` and ``z``.
        true_seed: seed of the true mean ``mu_true`` (match the data generator's seed).
        q_scale: the standard deviation of ``q`` (default ``sqrt(2/3)``: covariance ``2/3 I`` as the
            paper's text says; the original code of Rainforth et al. and of OVIS uses ``2/3``).

    Attributes:
        inference_network: ``nn.Linear(D, D)``; its weight is ``A``, its bias ``b``.
        generative_model: ``ParameterDict`` with ``'mu'`` ``[D]``.
        mu_true, mu_star: buffers ``[D]``: the true mean and the optimum ``mu*``.

    Parameters are initialised uniformly in ``[1.5, 2.5]`` (far from the optimum).

    Example:
        >>> model = GaussianToy(D=20)
        >>> x = sample_gaussian_toy(1024, model.mu_true)
        >>> model.set_optimum(x)
        >>> out = model(x[:8], reparam=True)
        >>> out["z"][0].shape, out["mse_theta"].shape
        (torch.Size([8, 20]), torch.Size([]))
    """

    def __init__(self, D: int = 20, true_seed: int = 0, q_scale: float = Q_SCALE) -> None:
        super().__init__()
        if D < 1:
            raise ValueError(f"GaussianToy needs D >= 1, got D={D}")
        if not q_scale > 0:
            raise ValueError(f"q_scale={q_scale} is invalid; expected the standard deviation of q, > 0")
        self.D = int(D)
        self.q_scale = float(q_scale)
        self.input_shape = (self.D,)
        self.inference_network = nn.Linear(self.D, self.D)
        self.generative_model = nn.ParameterDict({"mu": nn.Parameter(torch.empty(self.D))})
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(1.5, 2.5)
        mu = true_mu(self.D, true_seed)
        self.register_buffer("mu_true", mu)
        self.register_buffer("mu_star", mu.clone())

    # ------------------------------------------------------------------ parameters
    @property
    def A(self) -> Tensor:
        """``A [D, D]`` (the weight of ``inference_network``)."""
        return self.inference_network.weight

    @property
    def b(self) -> Tensor:
        """``b [D]`` (the bias of ``inference_network``)."""
        return self.inference_network.bias

    @property
    def mu(self) -> Tensor:
        """``mu [D]``, the prior mean."""
        return self.generative_model["mu"]

    @torch.no_grad()
    def set_optimum(self, x: Tensor) -> None:
        """Use the training data ``x [n, D]`` to define the optimum: ``mu* = mean(x)``."""
        if x.dim() != 2 or x.shape[1] != self.D:
            raise ValueError(f"x has shape {tuple(x.shape)}; expected [n, {self.D}]")
        self.mu_star.copy_(x.mean(0))

    def optimal_parameters(self) -> Dict[str, Tensor]:
        """The closed-form optimum ``{'mu': mu*, 'A': I/2, 'b': mu*/2}``."""
        eye = torch.eye(self.D, device=self.mu_star.device, dtype=self.mu_star.dtype)
        return {"mu": self.mu_star, "A": 0.5 * eye, "b": 0.5 * self.mu_star}

    @torch.no_grad()
    def parameter_mse(self) -> Dict[str, Tensor]:
        """``{'mse_theta': [], 'mse_phi': []}``, squared errors against :meth:`optimal_parameters`."""
        opt = self.optimal_parameters()
        phi = torch.cat([(self.A - opt["A"]).reshape(-1), self.b - opt["b"]])
        return {"mse_theta": ((self.mu - opt["mu"]) ** 2).mean(), "mse_phi": (phi ** 2).mean()}

    # ------------------------------------------------------------------ distributions
    def q(self, x: Tensor) -> Distribution:
        """``q(z|x) = N(A x + b, 2/3 I)``, batch ``[n]``, event ``[D]``."""
        loc = F.linear(x, self.A, self.b)
        return Independent(Normal(loc, torch.full_like(loc, self.q_scale)), 1)

    def prior(self, n: int, mu: Optional[Tensor] = None) -> Distribution:
        """``p(z) = N(mu, I)``, batch ``[n]``, event ``[D]``."""
        loc = (self.mu if mu is None else mu).expand(n, self.D)
        return Independent(Normal(loc, torch.ones_like(loc)), 1)

    def p_x(self, z: Tensor) -> Distribution:
        """``p(x|z) = N(z, I)``, batch ``[n]``, event ``[D]``."""
        return Independent(Normal(z, torch.ones_like(z)), 1)

    # ------------------------------------------------------------------ contract
    def forward(self, x: Tensor, reparam: bool = False, zs: Optional[List[Tensor]] = None,
                **kw: Any) -> Dict[str, Any]:
        """``{'px', 'z', 'qz', 'pz', 'mse_theta' [], 'mse_phi' []}`` for ``x [n, D]``.

        ``reparam`` draws ``z`` with ``rsample()``; ``zs = [z]``, ``z [n, D]``, evaluates at ``z``.
        """
        reject_options(type(self).__name__, "forward", kw)
        check_input(type(self).__name__, x, self.input_shape)
        n = x.shape[0]
        given = check_zs(type(self).__name__, zs, [(self.D,)], n)
        qz = self.q(x)
        z = given[0] if given is not None else sample(qz, reparam)
        return {"px": self.p_x(z), "z": [z], "qz": [qz], "pz": [self.prior(n)], **self.parameter_mse()}

    def sample_from_prior(self, bs: int, true_model: bool = False, **kw: Any) -> Dict[str, Any]:
        """``bs`` draws from the model (from the true model when ``true_model``): ``{'px', 'z', 'pz'}``."""
        reject_options(type(self).__name__, "sample_from_prior", kw, ["true_model"])
        pz = self.prior(bs, self.mu_true if true_model else None)
        z = pz.sample()
        return {"px": self.p_x(z), "z": [z], "pz": [pz]}


@MODELS.register("gaussian-toy", reserved=("input_shape",), help="the linear Gaussian toy model (D from input_shape)")
def build_gaussian_toy(input_shape: Tuple[int, ...], D: Optional[int] = None, true_seed: int = 0,
                       q_scale: float = Q_SCALE) -> GaussianToy:
    """The :class:`GaussianToy` for observations of ``input_shape = (D,)`` (``D``, if given, must agree)."""
    if len(input_shape) != 1:
        raise ValueError(f"gaussian-toy observations are vectors: input_shape={tuple(input_shape)} is invalid; "
                         f"expected (D,)")
    if D is not None and D != input_shape[0]:
        raise ValueError(f"gaussian-toy: D={D} disagrees with input_shape={tuple(input_shape)}")
    return GaussianToy(D=input_shape[0], true_seed=true_seed, q_scale=q_scale)
