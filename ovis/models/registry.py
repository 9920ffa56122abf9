"""The models chosen by name: :data:`MODELS` and :func:`build_model`.

A model is registered with one decorator on its class (or on a small builder function); its
constructor's keyword arguments are its hyperparameters, ``input_shape`` (the shape of one
observation) is given by the caller::

    @MODELS.register("my-model", reserved=("input_shape",))
    class MyModel(TemplateModel):
        def __init__(self, input_shape, N: int = 8): ...

Example:
    >>> from ovis.models import MODELS, build_model
    >>> MODELS.names()
    ['gaussian-toy', 'gmm-toy', 'sbn', 'vae']
    >>> build_model("sbn", (1, 8, 8), layers=(20, 10)).sizes
    (20, 10)
    >>> build_model("vae", (64,), laten="normal")
    Traceback (most recent call last):
        ...
    ovis.registry.RegistryError: unknown option(s) ['laten'] for model 'vae' ('laten': did you mean 'latent'?); valid options are ['latent', 'N', 'K', 'hdim', 'nlayers', 'likelihood', 'learn_prior', 'activation', 'posterior', 'posterior_options']
"""
from __future__ import annotations

from typing import Any, Sequence

from ..registry import Registry
from .checks import input_shape_tuple
from .template import TemplateModel

__all__ = ["MODELS", "build_model"]

#: name -> model class (or builder); each takes ``input_shape`` then its hyperparameters
MODELS: Registry = Registry("model")


def build_model(name: str, input_shape: Sequence[int], **hparams: Any) -> TemplateModel:
    """Build a model by name.

    Arguments:
        name: one of :data:`MODELS` (``'vae'``, ``'sbn'``, ``'gmm-toy'``, ``'gaussian-toy'``, and
            any model registered since).
        input_shape: shape of one observation (e.g. ``(1, 28, 28)``; ``(1,)`` for gmm-toy,
            ``(D,)`` for gaussian-toy).
        **hparams: the model's constructor arguments (see each class).

    Raises:
        ValueError: unknown name or hyperparameter (a :class:`ovis.registry.RegistryError`); the
            message lists the valid choices.
    """
    return MODELS.build(name, input_shape_tuple(input_shape), **hparams)
