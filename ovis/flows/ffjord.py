r"""FFJORD continuous normalizing flows on zuko: a stack of free-form Jacobian transforms.

Each transform integrates ``dz/dt = f(t, z[, c])`` from ``t = 0`` to ``t = 1`` with zuko's
adaptive Dormand-Prince solver (gradients by its adaptive checkpoint adjoint); its
log-determinant is the integral of ``tr(df/dz)``, computed exactly or by Hutchinson's unbiased
estimator (one vector-Jacobian product, with a Gaussian probe drawn once per solve). The exact
trace of the default :class:`TimeMLP` is propagated through its layers in closed form
(:meth:`TimeMLP.forward_and_trace`: ``J = W_L D_{L-1} W_{L-1} ... D_1 W_1^z``, a few small batched
products); any other state derivative gets ``d`` vector-Jacobian products per evaluation, as in
zuko. Nothing here solves ODEs: zuko's Dormand-Prince solver and adaptive checkpoint adjoint
(:func:`zuko.utils.odeint`, through :class:`zuko.transforms.FreeFormJacobianTransform`) do.

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
from typing import Callable, Dict, Optional, Tuple, Type

import torch
from torch import Tensor, nn
from torch.distributions import Transform
from zuko.distributions import DiagNormal
from zuko.lazy import Flow, LazyTransform, UnconditionalDistribution
from zuko.transforms import FreeFormJacobianTransform
from zuko.utils import odeint

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

    @property
    def has_closed_form_trace(self) -> bool:
        """Whether :meth:`forward_and_trace` knows the derivative of every hidden activation."""
        return all(type(m) in _DERIVATIVES for m in self.net if not isinstance(m, nn.Linear))

    def _inputs(self, t: Tensor, z: Tensor, c: Optional[Tensor]) -> Tensor:
        parts = [z]
        if c is not None:
            batch = torch.broadcast_shapes(z.shape[:-1], c.shape[:-1])
            parts = [z.expand(*batch, z.shape[-1]), c.expand(*batch, c.shape[-1])]
        time = torch.as_tensor(t, dtype=z.dtype, device=z.device).expand(*parts[0].shape[:-1], 1)
        return torch.cat([time] + parts, dim=-1)

    def forward_and_trace(self, t: Tensor, z: Tensor, c: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        r"""``(f(t, z, c), tr(df/dz))`` with the trace in closed form.

        The Jacobian with respect to ``z`` is propagated with the activations: ``J_1 = W_1^z`` (the
        ``z`` columns of the first layer), ``J_l = W_l\, \mathrm{diag}(\sigma'(a_{l-1}))\, J_{l-1}``;
        the trace is that of the last. It is differentiable (twice through the activations), so
        zuko's adjoint differentiates it like the autograd trace, at a fraction of the cost of
        ``d`` batched vector-Jacobian products with ``create_graph``.

        Shapes:
            ``t`` scalar, ``z [*batch, d]``, ``c [*batch, context]`` -> ``([*batch, d], [*batch])``.

        Raises:
            NotImplementedError: for a hidden activation without a known derivative (see
                :attr:`has_closed_form_trace`); use the autograd trace then.
        """
        h = self._inputs(t, z, c)
        jac_t: Optional[Tensor] = None        # the transposed Jacobian d h / d z, [*batch, d, units]
        for m in self.net:
            if isinstance(m, nn.Linear):
                if jac_t is None:
                    jac_t = m.weight[:, 1:1 + self.features].t().expand(*h.shape[:-1], -1, -1)
                else:
                    jac_t = nn.functional.linear(jac_t, m.weight)    # one [batch * d, in] x [in, out] product
                h = m(h)
            else:
                derivative = _DERIVATIVES.get(type(m))
                if derivative is None:
                    raise NotImplementedError(f"TimeMLP.forward_and_trace: no closed-form derivative for "
                                              f"{type(m).__name__}; known: {sorted(k.__name__ for k in _DERIVATIVES)}")
                out = m(h)
                jac_t = derivative(m, h, out).unsqueeze(-2) * jac_t
                h = out
        return h, torch.diagonal(jac_t, dim1=-2, dim2=-1).sum(-1)

    def forward(self, t: Tensor, z: Tensor, c: Optional[Tensor] = None) -> Tensor:
        return self.net(self._inputs(t, z, c))


def _softplus_derivative(m: nn.Softplus, a: Tensor, out: Tensor) -> Tensor:
    return torch.where(a * m.beta > m.threshold, torch.ones_like(a), torch.sigmoid(a * m.beta))


# derivative of each supported activation, from its input ``a`` and output ``out``
_DERIVATIVES: Dict[type, Callable[[nn.Module, Tensor, Tensor], Tensor]] = {
    nn.Tanh: lambda m, a, out: 1.0 - out * out,
    nn.Sigmoid: lambda m, a, out: out * (1.0 - out),
    nn.Softplus: _softplus_derivative,
    nn.SiLU: lambda m, a, out: torch.sigmoid(a) * (1.0 + a * (1.0 - torch.sigmoid(a))),
    nn.Identity: lambda m, a, out: torch.ones_like(a),
}


class _ClosedFormTraceFFJ(FreeFormJacobianTransform):
    """zuko's free-form Jacobian transform whose exact trace comes from ``f_trace(t, x) -> (dx, tr)``.

    Only the computation of the trace differs from zuko's (its ``d`` batched vector-Jacobian
    products); the augmented system, its tolerances (zuko's relaxed ``trace_scale``), the solver
    and the adjoint are zuko's.
    """

    def __init__(self, f_trace: Callable[[Tensor, Tensor], Tuple[Tensor, Tensor]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.f_trace = f_trace

    @property
    def inv(self) -> Transform:
        return _ClosedFormTraceFFJ(self.f_trace, f=self.f, t0=self.t1, t1=self.t0, phi=self.phi, atol=self.atol,
                                   rtol=self.rtol, exact=self.exact)

    def call_and_ladj(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        if not self.exact:
            return super().call_and_ladj(x)

        def f_aug(t: Tensor, x: Tensor, ladj: Tensor) -> Tuple[Tensor, Tensor]:
            dx, trace = self.f_trace(t, x)
            return dx, trace * self.trace_scale

        y, ladj = odeint(f_aug, (x, torch.zeros_like(x[..., 0])), self.t0, self.t1, self.phi, self.atol, self.rtol)
        return y, ladj * (1 / self.trace_scale)


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
        closed_form_trace: with the exact trace and a :class:`TimeMLP` whose activations have known
            derivatives (Tanh, Sigmoid, Softplus, SiLU), compute the trace in closed form
            (:meth:`TimeMLP.forward_and_trace`, the same value, faster); ``False``: zuko's ``d``
            vector-Jacobian products.

    Example:
        >>> t = FFJORDTransform(2)()
        >>> z = torch.randn(4, 2)
        >>> torch.allclose(t.inv(t(z)), z, atol=1e-4)
        True
    """

    def __init__(self, features: int, context: int = 0, f: Optional[nn.Module] = None, exact: bool = True,
                 atol: float = 1e-5, rtol: float = 1e-3, hidden: int = 8, layers: int = 3,
                 activation: Type[nn.Module] = nn.Tanh, closed_form_trace: bool = True) -> None:
        super().__init__()
        if atol <= 0 or rtol <= 0:
            raise ValueError(f"FFJORD tolerances must be positive, got atol={atol}, rtol={rtol}")
        self.f = f if f is not None else TimeMLP(features, context, hidden, layers, activation)
        self.features, self.context = features, context
        self.exact, self.atol, self.rtol = bool(exact), float(atol), float(rtol)
        self.closed_form_trace = bool(closed_form_trace)

    def forward(self, c: Optional[Tensor] = None) -> Transform:
        if self.context and c is None:
            raise ValueError(f"this FFJORD transform is conditional on a context of size {self.context}; got c=None")
        f: Callable[[Tensor, Tensor], Tensor] = partial(self.f, c=c) if c is not None else self.f
        # the adjoint returns gradients for exactly these tensors (zuko keeps those that require grad)
        phi = tuple(self.f.parameters()) + ((c,) if c is not None else ())
        options = dict(f=f, t0=0.0, t1=1.0, phi=phi, atol=self.atol, rtol=self.rtol, exact=self.exact)
        if self.closed_form_trace and isinstance(self.f, TimeMLP) and self.f.has_closed_form_trace:
            return _ClosedFormTraceFFJ(partial(self.f.forward_and_trace, c=c), **options)
        return FreeFormJacobianTransform(**options)

    def extra_repr(self) -> str:
        return f"exact={self.exact}, atol={self.atol:g}, rtol={self.rtol:g}, closed_form_trace={self.closed_form_trace}"


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
