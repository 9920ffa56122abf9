"""GMMVI: natural-gradient variational inference with Gaussian mixture models.

A PyTorch version of the framework of Arenz, Dahlinger, Ye, Volpp and Neumann
(TMLR 2023; the TensorFlow original is the PyPI package ``gmmvi``), with its
vocabulary, its configuration format and its seven design choices (432 variants
named by seven-letter code words such as ``SAMTRON`` or ``ZAMTRUX``).

* :mod:`ovis.gmmvi.mixture`: the mixture with per-component bookkeeping;
* :mod:`ovis.gmmvi.sample_db`: the sample database;
* :mod:`ovis.gmmvi.choices`: the seven registries; the entries live in
  :mod:`~ovis.gmmvi.sample_selectors`, :mod:`~ovis.gmmvi.ng_estimators`,
  :mod:`~ovis.gmmvi.component_updaters`, :mod:`~ovis.gmmvi.stepsizes`,
  :mod:`~ovis.gmmvi.weight_updaters`, :mod:`~ovis.gmmvi.component_adaptation`;
* :mod:`ovis.gmmvi.configs`: code words, default and YAML configurations;
* :mod:`ovis.gmmvi.gmmvi`: :class:`GMMVI` (``build_from_config``, ``train_iter``);
* :mod:`ovis.gmmvi.targets`: GMM20, STM20, BreastCancer, GermanCredit, PlanarRobot4, callables;
* :mod:`ovis.gmmvi.runner` and :mod:`ovis.gmmvi.cli`: resumable runs and ``ovis gmmvi``.
"""
from .configs import (all_codewords, default_algorithm_config, default_config, default_experiment_config,
                      load_yaml, merge)
from .gmmvi import GMMVI, build_model
from .mixture import GaussianMixture
from .sample_db import SampleDB
from .targets import TARGETS, as_target, make_target

__all__ = ["GMMVI", "GaussianMixture", "SampleDB", "build_model", "default_algorithm_config",
           "default_experiment_config", "default_config", "all_codewords", "load_yaml", "merge",
           "TARGETS", "make_target", "as_target"]
