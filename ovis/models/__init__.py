"""Models implementing the :class:`TemplateModel` contract, and a factory by name (:data:`MODELS`).

Example:
    >>> from ovis.models import build_model
    >>> sbn = build_model("sbn", (1, 28, 28), layers=(200, 200))
    >>> vae = build_model("vae", (784,), latent="categorical", N=20, K=10)
    >>> type(sbn).__name__, type(vae).__name__
    ('SBN', 'VAE')
"""
from __future__ import annotations

from .gaussian_toy import GaussianToy
from .gmm_toy import GaussianMixtureToy
from .registry import MODELS, build_model
from .sbn import SBN
from .template import ModelContractError, TemplateModel, flat_log_prob, validate_model_output
from .vae import VAE

__all__ = [
    "TemplateModel", "ModelContractError", "flat_log_prob", "validate_model_output",
    "VAE", "SBN", "GaussianMixtureToy", "GaussianToy", "build_model", "MODELS",
]
