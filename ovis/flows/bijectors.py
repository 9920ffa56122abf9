r"""Bijectors that :mod:`torch.distributions.transforms` lacks, under their TFP names.

Each is a :class:`torch.distributions.Transform` (``_call``, ``_inverse``,
``log_abs_det_jacobian``, ``domain``/``codomain``, ``bijective``, ``sign`` where
defined), so it composes with :class:`~torch.distributions.ComposeTransform`, inverts
with ``.inv`` and plugs into :class:`~torch.distributions.TransformedDistribution`.
What torch already has (``Shift``/``Scale`` -> ``AffineTransform``, ``Exp`` ->
``ExpTransform``, ``Chain`` -> ``ComposeTransform``, ``Invert`` -> ``.inv``) is not
re-implemented; ``docs/flows.md`` has the table.

Shapes: the elementwise bijectors (``event_dim = 0``) broadcast their parameters
with ``x`` and return a log-determinant of the broadcast shape; the matrix-vector
ones (``event_dim = 1``) take ``x [*batch, d]`` and return ``[*batch]``.

Trainable versions are :class:`Trainable` modules that *return* the transform
(zuko's lazy pattern), so ``.parameters()``, ``.to(device)`` and ``state_dict`` work.

References:
    | TensorFlow Probability bijectors (``tfp.bijectors``), https://www.tensorflow.org/probability
    | Papamakarios et al. (2021), Normalizing Flows for Probabilistic Modeling and Inference,
      https://arxiv.org/abs/1912.02762
"""
from __future__ import annotations

import math
from typing import Any, Dict, Tuple, Type, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Transform, constraints, transform_to

__all__ = ["Softfloor", "GumbelCDF", "ScaleMatvecTriL", "ScaleMatvecDiag", "Cubic", "Trainable"]

Number = Union[float, Tensor]


def _tensor(value: Number, name: str) -> Tensor:
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value, dtype=torch.get_default_dtype())
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor or a float, got dtype {value.dtype}")
    return value


class _Parametrized(Transform):
    """A transform with named tensor parameters (for ``with_cache`` and ``repr``)."""

    _params: Tuple[str, ...] = ()

    def _kwargs(self) -> Dict[str, Tensor]:
        return {name: getattr(self, name) for name in self._params}

    def with_cache(self, cache_size: int = 1) -> Transform:
        if self._cache_size == cache_size:
            return self
        return type(self)(**self._kwargs(), cache_size=cache_size)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={tuple(v.shape) if v.dim() else v.item():}" for k, v in self._kwargs().items())
        return f"{type(self).__name__}({args})"


class Softfloor(_Parametrized):
    r"""A differentiable, invertible approximation of ``floor(x)`` (TFP's ``tfb.Softfloor``).

    With ``u = x - 1/2``, ``n = floor(u)``, ``s = sigmoid(-1 / (2 T))``:

    .. math:: y = n + \frac{\sigma((u - n - 1/2) / T) - s}{1 - 2 s}

    ``y = x - 1/2`` at half-integers, ``y -> floor(x)`` as ``T -> 0`` and ``y -> x - 1/2`` as
    ``T -> inf``; increasing and continuous with a continuous derivative.

    Arguments:
        temperature: ``T > 0``, any shape broadcastable with ``x``.

    Example:
        >>> t = Softfloor(0.1)
        >>> t(torch.tensor([0.2, 1.7, 2.5]))
        tensor([-0.1140,  1.0413,  2.0000])
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1
    arg_constraints = {"temperature": constraints.positive}
    _params = ("temperature",)

    def __init__(self, temperature: Number, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.temperature = _tensor(temperature, "temperature")

    def _shift(self) -> Tensor:
        return torch.sigmoid(-0.5 / self.temperature)

    def _width(self) -> Tensor:  # 1 - 2 sigmoid(-1/(2T)), without cancellation at large T
        return torch.tanh(0.25 / self.temperature)

    def _call(self, x: Tensor) -> Tensor:
        u = x - 0.5
        n = torch.floor(u)
        s = self._shift()
        return n + (torch.sigmoid((u - n - 0.5) / self.temperature) - s) / self._width()

    def _inverse(self, y: Tensor) -> Tensor:
        n = torch.floor(y)
        s = self._shift()
        p = (y - n) * self._width() + s
        return n + torch.logit(p) * self.temperature + 1.0

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        u = x - 0.5
        a = (u - torch.floor(u) - 0.5) / self.temperature
        return F.logsigmoid(a) + F.logsigmoid(-a) - torch.log(self.temperature) - torch.log(self._width())


class GumbelCDF(_Parametrized):
    r"""The Gumbel cumulative distribution function (TFP's ``tfb.GumbelCDF``).

    .. math:: y = \exp(-\exp(-(x - \mu) / \beta)), \quad x \in \mathbb{R}, \ y \in (0, 1)

    Arguments:
        loc: ``mu``, broadcastable with ``x``.
        scale: ``beta > 0``, broadcastable with ``x``.

    Example:
        >>> GumbelCDF(0.0, 1.0)(torch.tensor([0.0]))
        tensor([0.3679])
    """

    domain = constraints.real
    codomain = constraints.unit_interval
    bijective = True
    sign = +1
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    _params = ("loc", "scale")

    def __init__(self, loc: Number = 0.0, scale: Number = 1.0, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.loc, self.scale = _tensor(loc, "loc"), _tensor(scale, "scale")

    def _call(self, x: Tensor) -> Tensor:
        return torch.exp(-torch.exp(-(x - self.loc) / self.scale))

    def _inverse(self, y: Tensor) -> Tensor:
        return self.loc - self.scale * torch.log(-torch.log(y))

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        z = (x - self.loc) / self.scale
        return -z - torch.exp(-z) - torch.log(self.scale)


class Cubic(_Parametrized):
    r"""``y = (a x + b)^3``, the custom bijector of TFP's bijector tutorial.

    Bijective on the reals for ``a != 0``; the inverse is ``x = (cbrt(y) - b) / a`` with the
    real cube root, and ``log|dy/dx| = log 3|a| + 2 log|a x + b|`` (``-inf`` at ``x = -b/a``).

    Arguments:
        a: slope, non-zero, broadcastable with ``x``.
        b: offset, broadcastable with ``x``.

    Example:
        >>> t = Cubic(2.0, -1.0)
        >>> t.inv(t(torch.tensor([0.3, 1.5])))
        tensor([0.3000, 1.5000])
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    arg_constraints = {"a": constraints.real, "b": constraints.real}
    _params = ("a", "b")

    def __init__(self, a: Number = 1.0, b: Number = 0.0, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        self.a, self.b = _tensor(a, "a"), _tensor(b, "b")

    @property
    def sign(self) -> Tensor:  # type: ignore[override]
        return torch.sign(self.a)

    def _call(self, x: Tensor) -> Tensor:
        return (self.a * x + self.b) ** 3

    def _inverse(self, y: Tensor) -> Tensor:
        cbrt = torch.sign(y) * torch.abs(y).pow(1.0 / 3.0)
        return (cbrt - self.b) / self.a

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return math.log(3.0) + torch.log(torch.abs(self.a)) + 2 * torch.log(torch.abs(self.a * x + self.b))


class ScaleMatvecTriL(_Parametrized):
    r"""``y = L x`` with a lower-triangular ``L`` (TFP's ``tfb.ScaleMatvecTriL``).

    ``log|det| = sum_i log|L_ii|``; the inverse is a triangular solve.

    Arguments:
        scale_tril: ``L [*batch, d, d]`` (only the lower triangle is read), non-zero diagonal.

    Example:
        >>> L = torch.tensor([[2.0, 0.0], [1.0, 0.5]])
        >>> ScaleMatvecTriL(L)(torch.tensor([1.0, 2.0]))
        tensor([2., 2.])
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    arg_constraints = {"scale_tril": constraints.lower_triangular}
    _params = ("scale_tril",)

    def __init__(self, scale_tril: Tensor, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        scale_tril = _tensor(scale_tril, "scale_tril")
        if scale_tril.dim() < 2 or scale_tril.shape[-1] != scale_tril.shape[-2]:
            raise ValueError(f"scale_tril must be a [*batch, d, d] matrix, got shape {tuple(scale_tril.shape)}")
        self.scale_tril = scale_tril.tril()

    def _call(self, x: Tensor) -> Tensor:
        return (self.scale_tril @ x.unsqueeze(-1)).squeeze(-1)

    def _inverse(self, y: Tensor) -> Tensor:
        L = self.scale_tril.expand(*y.shape[:-1], *self.scale_tril.shape[-2:]) if y.dim() > 1 else self.scale_tril
        return torch.linalg.solve_triangular(L, y.unsqueeze(-1), upper=False).squeeze(-1)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        ladj = torch.log(torch.abs(torch.diagonal(self.scale_tril, dim1=-2, dim2=-1))).sum(-1)
        return ladj.expand(torch.broadcast_shapes(ladj.shape, x.shape[:-1]))


class ScaleMatvecDiag(_Parametrized):
    r"""``y = diag(s) x`` acting on vectors (TFP's ``tfb.ScaleMatvecDiag``).

    Unlike ``AffineTransform(0, s, event_dim=1)`` it is spelled like TFP's; ``log|det| = sum_i
    log|s_i|``.

    Arguments:
        scale_diag: ``s [*batch, d]``, non-zero.

    Example:
        >>> ScaleMatvecDiag(torch.tensor([2.0, -1.0])).log_abs_det_jacobian(torch.ones(2), None)
        tensor(0.6931)
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True
    arg_constraints = {"scale_diag": constraints.real_vector}
    _params = ("scale_diag",)

    def __init__(self, scale_diag: Tensor, cache_size: int = 0) -> None:
        super().__init__(cache_size=cache_size)
        scale_diag = _tensor(scale_diag, "scale_diag")
        if scale_diag.dim() < 1:
            raise ValueError(f"scale_diag must be a [*batch, d] vector, got a scalar {scale_diag.item()}")
        self.scale_diag = scale_diag

    def _call(self, x: Tensor) -> Tensor:
        return self.scale_diag * x

    def _inverse(self, y: Tensor) -> Tensor:
        return y / self.scale_diag

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        ladj = torch.log(torch.abs(self.scale_diag)).sum(-1)
        return ladj.expand(torch.broadcast_shapes(ladj.shape, x.shape[:-1]))


class Trainable(nn.Module):
    r"""A module whose parameters build a transform: ``Trainable(Cubic, a=1.0, b=0.0)()`` returns
    ``Cubic(a, b)`` with ``a`` and ``b`` learned (zuko's lazy-transform pattern).

    A parameter given as ``(value, constraint)`` is learned unconstrained and mapped through
    ``torch.distributions.transform_to(constraint)`` (e.g. ``constraints.positive`` for a scale,
    ``constraints.lower_cholesky`` for a ``scale_tril``).

    Arguments:
        transform: the transform class, e.g. :class:`Cubic`, :class:`GumbelCDF`,
            ``torch.distributions.AffineTransform``.
        invert: return the inverse ``transform(...).inv`` (TFP's ``tfb.Invert``).
        params: initial values (float or tensor), or ``(value, constraint)`` pairs.

    Example:
        >>> import torch
        >>> from torch.distributions import Normal, TransformedDistribution, constraints
        >>> t = Trainable(Cubic, invert=True, a=0.5, b=(0.1, constraints.real))
        >>> sorted(n for n, _ in t.named_parameters())
        ['a', 'b']
        >>> q = TransformedDistribution(Normal(0.0, 1.0), t())
        >>> q.log_prob(torch.tensor(1.0)).requires_grad
        True
    """

    def __init__(self, transform: Type[Transform], invert: bool = False, **params: Any) -> None:
        super().__init__()
        if not (isinstance(transform, type) and issubclass(transform, Transform)):
            raise TypeError(f"transform must be a torch.distributions.Transform subclass, got {transform!r}")
        self.transform, self.invert = transform, bool(invert)
        self._bijections: Dict[str, Transform] = {}
        for name, value in params.items():
            constraint = constraints.real
            if isinstance(value, tuple):
                if len(value) != 2 or not isinstance(value[1], constraints.Constraint):
                    raise ValueError(f"parameter {name!r} must be a value or a (value, constraint) pair, got {value!r}")
                value, constraint = value
            bijection = transform_to(constraint)
            raw = bijection.inv(_tensor(value, name).clone())
            self._bijections[name] = bijection
            self.register_parameter(name, nn.Parameter(raw.detach()))

    def constrained(self) -> Dict[str, Tensor]:
        """The transform's parameters, ``{name: tensor}``, mapped to their constraints."""
        return {name: bij(getattr(self, name)) for name, bij in self._bijections.items()}

    def forward(self) -> Transform:
        """The transform built from the current parameters (its inverse when ``invert``)."""
        t = self.transform(**self.constrained())
        return t.inv if self.invert else t

    def extra_repr(self) -> str:
        return f"{self.transform.__name__}, invert={self.invert}"
