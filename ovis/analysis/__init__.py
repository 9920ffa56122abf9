"""Analyses of models and estimators: gradient statistics (variance, SNR, DSNR, direction, ESS)
and active units.

Example::

    from ovis.analysis import get_gradients_statistics
    stats, meta = get_gradients_statistics(estimator, model, x, mc_samples=100, key_filter="inference_network")
"""
from .active_units import active_units, posterior_means
from .gradients import (GradientSamples, get_gradients_statistics, gradient_samples, reduce_gradient_samples,
                        select_parameters)

__all__ = ["get_gradients_statistics", "gradient_samples", "reduce_gradient_samples", "select_parameters",
           "GradientSamples", "active_units", "posterior_means"]
