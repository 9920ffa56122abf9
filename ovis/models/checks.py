"""Argument checks shared by the models' ``forward`` and ``sample_from_prior``.

Each check raises an error that names the bad value, what was expected and the valid
choices, following the conventions of :mod:`ovis.models.template`.
"""
from __future__ import annotations

from typing import Any, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import Tensor

__all__ = ["check_input", "check_zs", "reject_options", "input_shape_tuple", "sample"]


def input_shape_tuple(input_shape: Any) -> Tuple[int, ...]:
    """Normalise ``input_shape`` (an int or a sequence of positive ints) to a tuple."""
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ValueError(f"input_shape={input_shape!r} is invalid; expected a tuple of positive ints, "
                         f"e.g. (1, 28, 28) or (784,)") from None
    if len(shape) == 0 or any(s < 1 for s in shape):
        raise ValueError(f"input_shape={input_shape!r} is invalid; expected a tuple of positive ints")
    return shape


def check_input(model: str, x: Tensor, input_shape: Sequence[int]) -> None:
    """Check that ``x`` has shape ``[N, *input_shape]`` (N >= 1 particle rows)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{model}: x is a {type(x).__name__}; expected a Tensor of shape [N, *{tuple(input_shape)}]")
    if tuple(x.shape[1:]) != tuple(input_shape) or x.dim() < 2:
        raise ValueError(f"{model}: x has shape {tuple(x.shape)}; expected [N, *{tuple(input_shape)}] "
                         f"(one row per particle, the particle rows first)")


def check_zs(model: str, zs: Optional[Sequence[Tensor]], shapes: List[Tuple[int, ...]], n: int
             ) -> Optional[List[Tensor]]:
    """Check the latent samples given to ``forward(x, zs=...)``: one ``[n, *shape_l]`` tensor per layer."""
    if zs is None:
        return None
    if isinstance(zs, Tensor) or len(zs) != len(shapes):
        got = "a Tensor" if isinstance(zs, Tensor) else f"{len(zs)} entries"
        raise ValueError(f"{model}: zs has {got}; expected a list of {len(shapes)} tensors (one per "
                         f"stochastic layer) of shapes {[(n, *s) for s in shapes]}")
    out = []
    for i, (z, shape) in enumerate(zip(zs, shapes)):
        if not isinstance(z, Tensor) or tuple(z.shape) != (n, *shape):
            got = tuple(z.shape) if isinstance(z, Tensor) else type(z).__name__
            raise ValueError(f"{model}: zs[{i}] has shape {got}; expected {(n, *shape)}")
        out.append(z)
    return out


def reject_options(model: str, method: str, options: Mapping[str, Any], valid: Sequence[str] = ()) -> None:
    """Raise ``TypeError`` for options a model method does not know (never silently ignored)."""
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise TypeError(f"{model}.{method}() got unknown option(s) {unknown}; valid options are "
                        f"{sorted(valid) if valid else 'none'}")


def sample(dist: torch.distributions.Distribution, reparam: bool) -> Tensor:
    """``dist.rsample()`` when ``reparam`` and the distribution supports it, else ``dist.sample()``
    (a sample without gradient, as score-function estimators require)."""
    if reparam and dist.has_rsample:
        return dist.rsample()
    return dist.sample()

