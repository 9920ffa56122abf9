"""Gradient estimators for importance-weighted variational bounds.

Build one from its id::

    from ovis.estimators.config import parse_estimator_id
    Estimator, config = parse_estimator_id("ovis-gamma1")
    estimator = Estimator(mc=1, iw=16, **config)
    loss, diagnostics, output = estimator(model, x)
    loss.mean().backward()
"""
from .base import Evaluation, GradientEstimator
from .config import VALID_FORMS, parse_estimator_id
from .ovis import OvisAsymptotic, OvisMonteCarlo
from .pathwise import DoublyReparameterized, Pathwise, PathwiseIWAE, PathwiseVAE, StickingTheLanding
from .reinforce import Reinforce, ScoreFunctionEstimator
from .tvo import ThermoVariationalObjective
from .vimco import Vimco
from .wakesleep import WakeSleep, WakeWake

__all__ = [
    "GradientEstimator", "Evaluation", "ScoreFunctionEstimator", "parse_estimator_id", "VALID_FORMS",
    "Pathwise", "PathwiseVAE", "PathwiseIWAE", "StickingTheLanding", "DoublyReparameterized",
    "Reinforce", "Vimco", "OvisMonteCarlo", "OvisAsymptotic", "ThermoVariationalObjective",
    "WakeWake", "WakeSleep",
]
