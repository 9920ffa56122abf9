"""ovis: gradient estimators for importance-weighted variational bounds.

The heart of the package is :mod:`ovis.estimators` (one class per gradient
estimator, reachable by id through
:func:`ovis.estimators.config.parse_estimator_id`) and the model contract
:class:`ovis.models.TemplateModel`.
"""
__version__ = "0.1.0"
__all__ = ["__version__"]
