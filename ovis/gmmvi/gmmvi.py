"""GMMVI: one object that runs the seven design choices in turn.

One iteration (:meth:`GMMVI.train_iter`):

1. the sample selector draws, evaluates and stores samples and returns the selected ones
   with their background log-densities;
2. the component step sizes are adapted, the natural gradients of all components are
   estimated and the components are updated;
3. the weight step size is adapted and the weights are updated (which also stores the
   component rewards);
4. the number of components is adapted.

References:
    | A Unified Perspective on Natural Gradient Variational Inference with Gaussian Mixture Models
    | (Arenz, Dahlinger, Ye, Volpp, Neumann, TMLR 2023), https://arxiv.org/abs/2209.11533

Example:
    >>> import torch
    >>> from ovis.gmmvi import GMMVI, default_algorithm_config
    >>> target = lambda x: -0.5 * ((x - 3.0) ** 2).sum(-1)          # N(3, I) up to a constant
    >>> config = default_algorithm_config("SAMTRON")
    >>> config["model_initialization"] = dict(num_initial_components=1, prior_mean=0.0, prior_scale=1.0,
    ...                                       initial_cov=1.0)
    >>> gmmvi = GMMVI.build_from_config(config, target, num_dimensions=2)
    >>> for _ in range(30):
    ...     gmmvi.train_iter()
    >>> bool((gmmvi.model.means[0] - 3.0).abs().max() < 0.2)
    True
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import torch

from .choices import (COMPONENT_ADAPTERS, COMPONENT_STEPSIZES, COMPONENT_UPDATERS, NG_ESTIMATORS, SAMPLE_SELECTORS,
                      WEIGHT_STEPSIZES, WEIGHT_UPDATERS)
from .configs import check_config
from .mixture import GaussianMixture
from .sample_db import SampleDB
from .targets import as_target

# the modules register their entries on import
from . import component_adaptation, component_updaters, ng_estimators, sample_selectors, stepsizes  # noqa: F401
from . import weight_updaters  # noqa: F401

__all__ = ["GMMVI", "build_model", "config_dtype"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32, "double": torch.float64, "float": torch.float32}


def config_dtype(config: Mapping) -> torch.dtype:
    """The floating point type of a configuration (key ``dtype``, default ``"float64"``)."""
    name = config.get("dtype", "float64")
    if isinstance(name, torch.dtype):
        return name
    if name not in _DTYPES:
        raise ValueError(f"unknown dtype {name!r}; valid choices are {sorted(_DTYPES)}")
    return _DTYPES[name]


def _history_length(config: Mapping) -> int:
    cfg = config.get("num_component_adapter_config") or {}
    return 2 * max(2, int(cfg["del_iters"])) if "del_iters" in cfg else 2


def build_model(config: Mapping, num_dimensions: int) -> GaussianMixture:
    """The initial mixture of ``config["model_initialization"]`` with the bookkeeping the choices need."""
    check_config(config)
    init = dict(config["model_initialization"])
    return GaussianMixture.from_init(
        num_dimensions=num_dimensions, dtype=config_dtype(config),
        initial_stepsize=config["component_stepsize_adapter_config"].get("initial_stepsize", 1.0),
        initial_regularizer=(config.get("ng_estimator_config") or {}).get("initial_l2_regularizer", 1e-12),
        max_reward_history_length=_history_length(config), **init)


class GMMVI:
    """Natural-gradient variational inference with a Gaussian mixture.

    Use :meth:`build_from_config`; the arguments are the built modules.
    """

    def __init__(self, model: GaussianMixture, sample_db: SampleDB, temperature: float, sample_selector,
                 num_component_adapter, component_stepsize_adapter, ng_estimator, ng_based_updater,
                 weight_stepsize_adapter, weight_updater, target=None):
        self.model = model
        self.sample_db = sample_db
        self.temperature = float(temperature)
        self.sample_selector = sample_selector
        self.num_component_adapter = num_component_adapter
        self.component_stepsize_adapter = component_stepsize_adapter
        self.ng_estimator = ng_estimator
        self.ng_based_updater = ng_based_updater
        self.weight_stepsize_adapter = weight_stepsize_adapter
        self.weight_updater = weight_updater
        self.target = target
        self.num_updates = 0
        self.sample_selector.requires_gradients = self.ng_estimator.requires_gradients

    _modules = ("sample_selector", "num_component_adapter", "component_stepsize_adapter", "ng_estimator",
                "ng_based_updater", "weight_stepsize_adapter", "weight_updater")

    @staticmethod
    def build_from_config(config: Mapping[str, Any], target, model: Optional[GaussianMixture] = None,
                          num_dimensions: Optional[int] = None) -> "GMMVI":
        """Build every module from a framework-style configuration.

        Arguments:
            config: the configuration (see :mod:`ovis.gmmvi.configs`); unknown keys or options are errors.
            target: a target (:mod:`ovis.gmmvi.targets`) or any callable ``x [N, D] -> log p~(x) [N]``.
            model: the initial mixture (default: :func:`build_model` from ``model_initialization``).
            num_dimensions: needed with a plain callable and no ``model``.
        """
        check_config(config)
        if model is None:
            if num_dimensions is None:
                num_dimensions = getattr(target, "num_dimensions", None)
            if num_dimensions is None:
                raise ValueError("pass num_dimensions (or a model) when the target does not define num_dimensions")
            model = build_model(config, int(num_dimensions))
        target = as_target(target, model.num_dimensions)
        T = float(config.get("temperature", 1.0))
        init = config.get("model_initialization", {})

        def opts(choice):
            return dict(config.get(f"{choice}_config") or {})

        sample_db = SampleDB.build_from_config(config, model.num_dimensions, model.dtype)
        ng_estimator = NG_ESTIMATORS.build(config["ng_estimator_type"], model, temperature=T, **opts("ng_estimator"))
        ng_based_updater = COMPONENT_UPDATERS.build(config["ng_based_updater_type"], model, temperature=T,
                                                    **opts("ng_based_updater"))
        adapter = COMPONENT_ADAPTERS.build(config["num_component_adapter_type"], model, sample_db, target,
                                           init.get("prior_mean"), init.get("initial_cov"),
                                           **opts("num_component_adapter"))
        comp_step = COMPONENT_STEPSIZES.build(config["component_stepsize_adapter_type"], model,
                                              **opts("component_stepsize_adapter"))
        selector = SAMPLE_SELECTORS.build(config["sample_selector_type"], target, model, sample_db,
                                          **opts("sample_selector"))
        weight_updater = WEIGHT_UPDATERS.build(config["weight_updater_type"], model, temperature=T,
                                               **opts("weight_updater"))
        weight_step = WEIGHT_STEPSIZES.build(config["weight_stepsize_adapter_type"], model,
                                             **opts("weight_stepsize_adapter"))
        if model.num_received_updates.sum() == 0:     # a fresh model starts with the configured values
            model.initial_stepsize = comp_step.initial_stepsize
            model.stepsizes = torch.full_like(model.stepsizes, comp_step.initial_stepsize)
            reg = getattr(ng_estimator, "initial_l2_regularizer", model.initial_regularizer)
            model.initial_regularizer = reg
            model.l2_regularizers = torch.full_like(model.l2_regularizers, reg)
        return GMMVI(model, sample_db, T, selector, adapter, comp_step, ng_estimator, ng_based_updater,
                     weight_step, weight_updater, target)

    @torch.no_grad()
    def train_iter(self) -> None:
        """One full iteration (samples, components, weights, number of components)."""
        q = self.model
        samples, mapping, background, lnpdfs, grads = self.sample_selector.select_samples()
        relative_mapping = mapping - (self.sample_db.means.shape[0] - q.num_components)
        # the sample DB has just evaluated the samples under the Gaussians that drew them; the newest K of
        # those are the current components (checked), so the estimator need not evaluate them again
        comp = self.sample_db.newest_gaussians_log_densities(q.num_components)
        if comp is not None and torch.equal(self.sample_db.means[-q.num_components:], q.means) \
                and torch.equal(self.sample_db.chols[-q.num_components:], q.chols):
            q.remember_log_densities(samples, comp)
        q.stepsizes = self.component_stepsize_adapter.update_stepsize(q.stepsizes)
        hess_neg, grad_neg = self.ng_estimator.get_expected_hessian_and_grad(samples, relative_mapping, background,
                                                                             lnpdfs, grads)
        self.ng_based_updater.apply_NG_update(hess_neg, grad_neg, q.stepsizes)
        weight_stepsize = self.weight_stepsize_adapter.update_stepsize()
        self.weight_updater.update_weights(samples, background, lnpdfs, weight_stepsize)
        self.num_updates += 1
        self.num_component_adapter.adapt_number_of_components(self.num_updates)

    @torch.no_grad()
    def elbo(self, num_samples: int = 2000) -> Dict[str, float]:
        """Monte-Carlo ELBO ``E_q[log p~] + beta H(q)`` from ``num_samples`` fresh samples (not counted as
        target evaluations): ``{'elbo', 'entropy', 'target_density'}``."""
        x, _ = self.model.sample(num_samples)
        entropy = -self.model.log_density(x).mean()
        reward = self.target.log_density(x).to(x.dtype).mean()
        return {"elbo": float(reward + self.temperature * entropy), "entropy": float(entropy),
                "target_density": float(reward)}

    @property
    def num_target_evaluations(self) -> int:
        return int(self.sample_db.num_samples_written)

    def state_dict(self) -> Dict[str, Any]:
        """Everything that changes during training (model, sample DB, module states, iteration)."""
        return {"num_updates": self.num_updates, "model": self.model.state_dict(),
                "sample_db": self.sample_db.state_dict(),
                "modules": {name: getattr(self, name).state_dict() for name in self._modules}}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.num_updates = int(state["num_updates"])
        self.model.load_state_dict(state["model"])
        self.sample_db.load_state_dict(state["sample_db"])
        for name in self._modules:
            getattr(self, name).load_state_dict(state["modules"][name])
