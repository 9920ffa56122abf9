"""Gradient estimators for importance-weighted variational bounds.

One module per estimator family (``pathwise``, ``reinforce``, ``vimco``, ``ovis``, ``tvo``,
``wakesleep``); ``score_function`` holds the base class of REINFORCE, VIMCO and OVIS; ``bounds``
the pure math on log-weights; ``evaluation``, ``surrogate`` and ``diagnostics`` the data path every
estimator shares (see :mod:`ovis.estimators.base`).

Example:
    >>> import torch
    >>> from ovis.estimators.config import parse_estimator_id
    >>> from ovis.models import build_model
    >>> model = build_model("sbn", (1, 8, 8), layers=(10,))
    >>> Estimator, config = parse_estimator_id("ovis-gamma1")
    >>> estimator = Estimator(mc=1, iw=16, **config)
    >>> x = torch.bernoulli(torch.full((4, 1, 8, 8), 0.3))
    >>> loss, diagnostics, output = estimator(model, x)
    >>> loss.shape
    torch.Size([4])
    >>> loss.mean().backward()
"""
from .base import Evaluation, GradientEstimator
from .config import VALID_FORMS, parse_estimator_id
from .ovis import OvisAsymptotic, OvisMonteCarlo
from .pathwise import DoublyReparameterized, Pathwise, PathwiseIWAE, PathwiseVAE, StickingTheLanding
from .reinforce import Reinforce
from .score_function import NeuralBaseline, ScoreFunctionEstimator
from .tvo import ThermoVariationalObjective
from .vimco import Vimco
from .wakesleep import WakeSleep, WakeWake

__all__ = [
    "GradientEstimator", "Evaluation", "ScoreFunctionEstimator", "NeuralBaseline", "parse_estimator_id", "VALID_FORMS",
    "Pathwise", "PathwiseVAE", "PathwiseIWAE", "StickingTheLanding", "DoublyReparameterized",
    "Reinforce", "Vimco", "OvisMonteCarlo", "OvisAsymptotic", "ThermoVariationalObjective",
    "WakeWake", "WakeSleep",
]
