"""Models implementing the :class:`TemplateModel` contract, and a factory by name.

Example::

    from ovis.models import build_model
    model = build_model("sbn", (1, 28, 28), layers=(200, 200))
    model = build_model("vae", (784,), latent="categorical", N=20, K=10)
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Sequence, Tuple

from .checks import input_shape_tuple
from .gaussian_toy import GaussianToy
from .gmm_toy import GaussianMixtureToy
from .sbn import SBN
from .template import ModelContractError, TemplateModel, flat_log_prob, validate_model_output
from .vae import VAE

__all__ = [
    "TemplateModel", "ModelContractError", "flat_log_prob", "validate_model_output",
    "VAE", "SBN", "GaussianMixtureToy", "GaussianToy", "build_model", "MODELS",
]


def _gmm_toy(input_shape: Tuple[int, ...], **hparams: Any) -> GaussianMixtureToy:
    if input_shape != (1,):
        raise ValueError(f"gmm-toy observations are scalars: input_shape={input_shape} is invalid; expected (1,)")
    return GaussianMixtureToy(**hparams)


def _gaussian_toy(input_shape: Tuple[int, ...], **hparams: Any) -> GaussianToy:
    if len(input_shape) != 1:
        raise ValueError(f"gaussian-toy observations are vectors: input_shape={input_shape} is invalid; "
                         f"expected (D,)")
    if "D" in hparams and hparams["D"] != input_shape[0]:
        raise ValueError(f"gaussian-toy: D={hparams['D']} disagrees with input_shape={input_shape}")
    hparams.pop("D", None)
    return GaussianToy(D=input_shape[0], **hparams)


#: name -> (builder(input_shape, **hparams), class whose signature lists the valid hparams)
MODELS: Dict[str, Tuple[Callable[..., TemplateModel], type]] = {
    "vae": (lambda shape, **h: VAE(shape, **h), VAE),
    "sbn": (lambda shape, **h: SBN(shape, **h), SBN),
    "gmm-toy": (_gmm_toy, GaussianMixtureToy),
    "gaussian-toy": (_gaussian_toy, GaussianToy),
}


def _valid_hparams(cls: type) -> Sequence[str]:
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p not in ("self", "input_shape")]


def build_model(name: str, input_shape: Sequence[int], **hparams: Any) -> TemplateModel:
    """Build a model by name.

    Arguments:
        name: ``'vae'``, ``'sbn'``, ``'gmm-toy'`` or ``'gaussian-toy'``.
        input_shape: shape of one observation (e.g. ``(1, 28, 28)``; ``(1,)`` for gmm-toy,
            ``(D,)`` for gaussian-toy).
        **hparams: the model's constructor arguments (see each class).

    Raises:
        ValueError: unknown name or hyperparameter; the message lists the valid choices.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; valid models are {sorted(MODELS)}")
    builder, cls = MODELS[name]
    valid = _valid_hparams(cls)
    unknown = sorted(set(hparams) - set(valid))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown} for model {name!r}; valid ones are {valid}")
    return builder(input_shape_tuple(input_shape), **hparams)
