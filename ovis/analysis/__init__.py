"""Analyses of models and estimators: gradient statistics (variance, SNR, DSNR, direction, ESS)
and active units.

Example:
    >>> import torch
    >>> from ovis.analysis import get_gradients_statistics
    >>> from ovis.estimators.config import parse_estimator_id
    >>> from ovis.models import build_model
    >>> _ = torch.manual_seed(0)
    >>> model = build_model("sbn", (16,), layers=(4,))
    >>> Estimator, config = parse_estimator_id("ovis-gamma1")
    >>> x = torch.bernoulli(torch.rand(8, 16))
    >>> stats, meta = get_gradients_statistics(Estimator(iw=8, **config), model, x, mc_samples=10,
    ...                                        key_filter="inference_network")
    >>> sorted(stats["grads"])
    ['dsnr', 'ess', 'keep_ratio', 'magnitude', 'snr', 'variance']
"""
from .active_units import active_units, posterior_means
from .gradients import (GradientSamples, get_gradients_statistics, gradient_samples, reduce_gradient_samples,
                        select_parameters)

__all__ = ["get_gradients_statistics", "gradient_samples", "reduce_gradient_samples", "select_parameters",
           "GradientSamples", "active_units", "posterior_means"]
