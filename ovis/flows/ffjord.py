r"""FFJORD continuous normalizing flows on zuko: a stack of free-form Jacobian transforms.

Each transform integrates ``dz/dt = f(t, z[, c])`` from ``t = 0`` to ``t = 1`` with zuko's
adaptive Dormand-Prince solver (gradients by its adaptive checkpoint adjoint); its
log-determinant is the integral of ``tr(df/dz)``, computed exactly (``d`` vector-Jacobian
products per evaluation) or by Hutchinson's unbiased estimator (one, with a Gaussian probe
drawn once per solve). Nothing here solves ODEs: :class:`zuko.transforms.FreeFormJacobianTransform`
does.

As in zuko, a transform maps *data to base*: ``log p(x) = log p_0(T(x)) + log|det dT/dx|`` and
samples are ``T^{-1}(z0)``, ``z0 ~ p_0``.

References:
    | Chen et al. (2018), Neural Ordinary Differential Equations, https://arxiv.org/abs/1806.07366
    | Grathwohl et al. (2019), FFJORD: Free-form Continuous Dynamics for Scalable Reversible
      Generative Models, https://arxiv.org/abs/1810.01367
    | Hutchinson (1989), A stochastic estimator of the trace of the influence matrix for Laplacian
      smoothing splines.

Example:
    >>> flow = FFJORD(2, transforms=4, hidden=8, layers=3, base_scale=0.8)
    >>> p = flow()                     # a torch Distribution, event shape [2]
    >>> x = p.sample((5,))             # [5, 2]
    >>> p.log_prob(x).shape
    torch.Size([5])
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Optional, Type

import torch
from torch import Tensor, nn
from torch.distributions import Transform
from zuko.distributions import DiagNormal
from zuko.lazy import Flow, LazyTransform, UnconditionalDistribution
from zuko.transforms import FreeFormJacobianTransform

__all__ = ["TimeMLP", "FFJORDTransform", "FFJORD"]


class TimeMLP(nn.Module):
    r"""The state derivative ``f(t, z[, c]) = MLP([t, z, c])`` of TFP's FFJORD tutorial.

    ``layers`` linear layers (``layers - 1`` hidden layers of ``hidden`` units with ``activation``);
    ``t`` enters as one input column.

    Arguments:
        features: size ``d`` of ``z``.
        context: size of the context ``c`` (0: unconditional).
        hidden: hidden units.
        layers: number of linear layers (at least 1).
        activation: hidden activation class.

    Shapes:
        ``t`` scalar, ``z [*batch, d]``, ``c [*batch, context]`` (broadcast) -> ``[*batch, d]``.
    """

    def __init__(self, features: int, context: int = 0, hidden: int = 8, layers: int = 3,
                 activation: Type[nn.Module] = nn.Tanh) -> None:
        super().__init__()
        if features < 1 or context < 0 or hidden < 1 or layers < 1:
            raise ValueError(f"TimeMLP needs features >= 1, context >= 0, hidden >= 1, layers >= 1; got "
                             f"features={features}, context={context}, hidden={hidden}, layers={layers}")
        sizes = [1 + features + context] + [hidden] * (layers - 1) + [features]
        modules = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            modules.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                modules.append(activation())
        self.net = nn.Sequential(*modules)
        self.features, self.context = features, context

    def forward(self, t: Tensor, z: Tensor, c: Optional[Tensor] = None) -> Tensor:
        parts = [z]
        if c is not None:
            batch = torch.broadcast_shapes(z.shape[:-1], c.shape[:-1])
            parts = [z.expand(*batch, z.shape[-1]), c.expand(*batch, c.shape[-1])]
        time = torch.as_tensor(t, dtype=z.dtype, device=z.device).expand(*parts[0].shape[:-1], 1)
        return self.net(torch.cat([time] + parts, dim=-1))


class FFJORDTransform(LazyTransform):
    r"""A lazy FFJORD transform: ``forward(c)`` returns zuko's ``FreeFormJacobianTransform``.

    Arguments:
        features: size ``d`` of the state.
        context: size of the context vector (0: unconditional).
        f: the state derivative, a module called as ``f(t, z, c)``; default :class:`TimeMLP`.
        exact: exact trace (``True``) or Hutchinson's estimator (``False``).
        atol: absolute tolerance of the Dormand-Prince solver.
        rtol: relative tolerance of the Dormand-Prince solver.
        hidden: hidden units of the default ``f``.
        layers: linear layers of the default ``f``.
        activation: hidden activation of the default ``f``.

    Example:
        >>> t = FFJORDTransform(2)()
        >>> z = torch.randn(4, 2)
        >>> torch.allclose(t.inv(t(z)), z, atol=1e-4)
        True
    """

    def __init__(self, features: int, context: int = 0, f: Optional[nn.Module] = None, exact: bool = True,
                 atol: float = 1e-5, rtol: float = 1e-3, hidden: int = 8, layers: int = 3,
                 activation: Type[nn.Module] = nn.Tanh) -> None:
        super().__init__()
        if atol <= 0 or rtol <= 0:
            raise ValueError(f"FFJORD tolerances must be positive, got atol={atol}, rtol={rtol}")
        self.f = f if f is not None else TimeMLP(features, context, hidden, layers, activation)
        self.features, self.context = features, context
        self.exact, self.atol, self.rtol = bool(exact), float(atol), float(rtol)

    def forward(self, c: Optional[Tensor] = None) -> Transform:
        if self.context and c is None:
            raise ValueError(f"this FFJORD transform is conditional on a context of size {self.context}; got c=None")
        f: Callable[[Tensor, Tensor], Tensor] = partial(self.f, c=c) if c is not None else self.f
        # the adjoint returns gradients for exactly these tensors (zuko keeps those that require grad)
        phi = tuple(self.f.parameters()) + ((c,) if c is not None else ())
        return FreeFormJacobianTransform(f=f, t0=0.0, t1=1.0, phi=phi, atol=self.atol, rtol=self.rtol,
                                         exact=self.exact)

    def extra_repr(self) -> str:
        return f"exact={self.exact}, atol={self.atol:g}, rtol={self.rtol:g}"


class FFJORD(Flow):
    r"""A stack of FFJORD transforms over a diagonal Gaussian base ``N(0, base_scale^2 I)``.

    Arguments:
        features: size ``d`` of the data.
        context: size of the context vector (0: unconditional; else ``forward(c)`` is ``p(x|c)``).
        transforms: number of stacked FFJORD transforms.
        base_scale: standard deviation of the base distribution.
        f: a factory ``() -> module`` for each transform's state derivative (called ``transforms``
            times); default: :class:`TimeMLP` with ``hidden``, ``layers``, ``activation``.
        exact, atol, rtol, hidden, layers, activation: see :class:`FFJORDTransform`.

    Returns (of ``forward(c)``):
        a :class:`zuko.distributions.NormalizingFlow` with event shape ``[d]`` and batch shape
        ``c.shape[:-1]`` (``[]`` when unconditional).
    """

    def __init__(self, features: int, context: int = 0, transforms: int = 1, base_scale: float = 1.0,
                 f: Optional[Callable[[], nn.Module]] = None, exact: bool = True, atol: float = 1e-5,
                 rtol: float = 1e-3, hidden: int = 8, layers: int = 3,
                 activation: Type[nn.Module] = nn.Tanh) -> None:
        if transforms < 1 or base_scale <= 0:
            raise ValueError(f"FFJORD needs transforms >= 1 and base_scale > 0, got transforms={transforms}, "
                             f"base_scale={base_scale}")
        stack = [FFJORDTransform(features, context, f() if f is not None else None, exact, atol, rtol,
                                 hidden, layers, activation) for _ in range(transforms)]
        base = UnconditionalDistribution(DiagNormal, torch.zeros(features), torch.full((features,), float(base_scale)),
                                         buffer=True)
        super().__init__(stack, base)

    def set_exact(self, exact: bool) -> None:
        """Switch every transform between the exact trace and Hutchinson's estimator."""
        for t in self.transform.transforms:
            t.exact = bool(exact)
