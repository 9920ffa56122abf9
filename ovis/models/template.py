"""The model contract every estimator relies on, and its validation.

A model is an ``nn.Module`` whose ``forward(x, reparam=False, **kw)`` returns a
dict of ``torch.distributions`` objects and latent samples::

    {'px': Distribution,                 # p(x | z), batch shape [N, ...]
     'z':  [Tensor per layer],           # samples z_l ~ q(z_l | ...), [N, ...]
     'qz': [Distribution per layer],     # q(z_l | ...)
     'pz': [Distribution per layer]}     # p(z_l | ...)

where ``N`` is the number of rows of ``x`` (the estimators pass
``x`` expanded to ``bs * mc * iw`` rows). ``sample_from_prior(bs, **kw)``
returns ``{'px', 'z', 'pz'}`` for ``bs`` draws from the generative model.

Models that support the sleep phase of reweighted wake-sleep also accept
``forward(x, zs=[...])``: evaluate ``q(z|x)`` at the given latent samples
instead of sampling new ones.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch

from torch import Tensor, nn
from torch.distributions import Distribution

__all__ = ["TemplateModel", "ModelContractError", "validate_model_output", "flat_log_prob"]


class ModelContractError(ValueError):
    """Raised when a model's output does not follow :class:`TemplateModel`'s contract."""


class TemplateModel(nn.Module):
    """Base class of all models used by the estimators.

    Subclasses implement :meth:`forward` and :meth:`sample_from_prior`.

    Example:
        >>> import torch
        >>> from torch import nn
        >>> from torch.distributions import Bernoulli, Independent, Normal
        >>> class SimpleModel(TemplateModel):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.inference_network = nn.Linear(10, 2)
        ...         self.generative_model = nn.Linear(1, 10)
        ...     def forward(self, x, reparam=False, zs=None, **kw):
        ...         qz = Independent(Normal(self.inference_network(x)[:, :1], 1.), 1)
        ...         z = (qz.rsample() if reparam else qz.sample()) if zs is None else zs[0]
        ...         pz = Independent(Normal(torch.zeros_like(z), 1.), 1)
        ...         px = Independent(Bernoulli(logits=self.generative_model(z)), 1)
        ...         return {'px': px, 'z': [z], 'qz': [qz], 'pz': [pz]}
        >>> out = SimpleModel()(torch.bernoulli(torch.rand(4, 10)))
        >>> validate_model_output(out, n=4)
        >>> out["px"].batch_shape, out["z"][0].shape
        (torch.Size([4]), torch.Size([4, 1]))
    """

    def forward(self, x: Tensor, reparam: bool = False, **kwargs: Any) -> Dict[str, Any]:  # pragma: no cover
        raise NotImplementedError("TemplateModel subclasses must implement forward(x, reparam=False, **kw)")

    def sample_from_prior(self, bs: int, **kwargs: Any) -> Dict[str, Any]:  # pragma: no cover
        raise NotImplementedError("TemplateModel subclasses must implement sample_from_prior(bs, **kw)")


def flat_log_prob(dist: Distribution, value: Tensor, n: int) -> Tensor:
    """``dist.log_prob(value)`` summed over every dimension but the first.

    Arguments:
        dist: a distribution with batch shape ``[n, ...]``.
        value: a sample of shape ``[n, ...]``.
        n: the expected number of rows.

    Returns:
        log-probabilities of shape ``[n]``.
    """
    lp = dist.log_prob(value)
    if lp.dim() == 0 or lp.shape[0] != n:
        raise ModelContractError(
            f"log_prob of {type(dist).__name__} has shape {tuple(lp.shape)}; expected a leading "
            f"batch dimension of {n} (one row per particle). Check the distribution's batch shape.")
    return lp.reshape(n, -1).sum(1)


def _check_dist(obj: Any, key: str, n: int, value: Optional[Tensor] = None) -> None:
    """``obj`` is a distribution whose ``log_prob(value)`` has one row per particle (``n`` rows).

    Its batch shape may be anything that broadcasts with the sample's: a prior shared by every row
    (``Bernoulli(logits=prior)`` with a ``(1, Z)`` buffer, or batch shape ``(Z,)`` or ``()``) is valid.
    Without ``value`` (a distribution the estimators sample from) the first batch dimension must be ``n``.
    """
    if not isinstance(obj, Distribution):
        raise ModelContractError(
            f"model output '{key}' is a {type(obj).__name__}; expected a torch.distributions.Distribution")
    shape = tuple(obj.batch_shape)
    if value is None:
        if len(shape) == 0 or shape[0] != n:
            raise ModelContractError(
                f"model output '{key}' has batch shape {shape}; expected the first batch dimension to be "
                f"{n} (= bs*mc*iw rows of the expanded input)")
        return
    event = len(obj.event_shape)
    sample_batch = tuple(value.shape[:value.dim() - event]) if value.dim() >= event else ()
    try:
        rows = tuple(torch.broadcast_shapes(shape, sample_batch))
    except RuntimeError:
        rows = None
    if rows is None or len(rows) == 0 or rows[0] != n or len(sample_batch) == 0 or sample_batch[0] != n:
        raise ModelContractError(
            f"model output '{key}' has batch shape {shape} and event shape {tuple(obj.event_shape)}, so "
            f"log_prob of its sample of shape {tuple(value.shape)} does not give one row per particle "
            f"(expected {n} = bs*mc*iw rows). Give it a batch shape of {n} rows, or one that broadcasts "
            f"to them, such as (1, ...) for a parameter shared by every row.")


def validate_model_output(output: Mapping[str, Any], n: int, prior: bool = False,
                          x: Optional[Tensor] = None) -> None:
    """Check a model output against the contract; raise :class:`ModelContractError` naming the key.

    What is checked is what the estimators need: ``log_prob`` of each distribution at its sample
    (``z`` for ``qz``/``pz``, ``x`` for ``px``) gives one row per particle. Batch shapes that broadcast
    to those rows are valid (a prior buffer of shape ``(1, Z)`` shared by every row); ``px`` of a
    ``sample_from_prior`` output, which the estimators sample from, must have ``n`` rows itself.

    Arguments:
        output: what ``model(x)`` (or ``model.sample_from_prior(n)`` when ``prior``) returned.
        n: the expected number of rows (``bs * mc * iw``).
        prior: validate a ``sample_from_prior`` output (no ``qz``).
        x: the model's input ``[n, *dims]``, at which ``px`` is evaluated (``None``: ``px`` must have
            ``n`` rows in its batch shape).
    """
    if not isinstance(output, Mapping):
        raise ModelContractError(f"model output is a {type(output).__name__}; expected a dict with keys "
                                 f"'px', 'z', 'qz', 'pz'")
    keys = ("px", "z", "pz") if prior else ("px", "z", "qz", "pz")
    for key in keys:
        if key not in output:
            raise ModelContractError(f"model output is missing key '{key}'; expected keys {list(keys)}, "
                                     f"got {sorted(output.keys())}")
    _check_dist(output["px"], "px", n, None if prior else x)
    lengths = {}
    for key in keys[1:]:
        val = output[key]
        if not isinstance(val, (list, tuple)):
            raise ModelContractError(f"model output '{key}' is a {type(val).__name__}; expected a list "
                                     f"with one entry per stochastic layer")
        if len(val) == 0:
            raise ModelContractError(f"model output '{key}' is empty; expected one entry per stochastic layer")
        lengths[key] = len(val)
    if len(set(lengths.values())) != 1:
        raise ModelContractError(f"model output lists have unequal lengths {lengths}; expected one entry "
                                 f"per stochastic layer in each of {list(lengths)}")
    for i, z in enumerate(output["z"]):
        if not isinstance(z, Tensor):
            raise ModelContractError(f"model output 'z'[{i}] is a {type(z).__name__}; expected a Tensor")
        if z.dim() == 0 or z.shape[0] != n:
            raise ModelContractError(f"model output 'z'[{i}] has shape {tuple(z.shape)}; expected first "
                                     f"dimension {n} (= bs*mc*iw)")
    for key in keys[2:]:
        for i, (d, z) in enumerate(zip(output[key], output["z"])):
            _check_dist(d, f"{key}[{i}]", n, z)
