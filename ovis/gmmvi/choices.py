"""The seven design choices of GMMVI, one :class:`~ovis.registry.Registry` each.

Every entry is registered under its descriptive type string (the framework's
``*_type`` values, e.g. ``"component-based"``) with its codeword letter as an
alias (``"M"``), so a configuration may name it either way. Its keyword
arguments are its configuration (the framework's ``*_config`` dict), so an
unknown or misspelt key is an error that lists the valid ones.

===============================  ==========================  =======================================
registry (config key prefix)     letters                     types
===============================  ==========================  =======================================
``ng_estimator``                 S, Z                        Stein, MORE
``num_component_adapter``        A, E                        adaptive, fixed
``sample_selector``              M, P                        component-based, mixture-based
``ng_based_updater``             I, Y, T                     direct, iBLR, trust-region
``component_stepsize_adapter``   F, D, R                     fixed, decaying, improvement-based
``weight_updater``               U, O                        direct, trust-region
``weight_stepsize_adapter``      X, G, N                     fixed, decaying, improvement-based
===============================  ==========================  =======================================
"""
from __future__ import annotations

from typing import Dict

import torch

from ovis.registry import Registry

__all__ = ["SAMPLE_SELECTORS", "NG_ESTIMATORS", "COMPONENT_UPDATERS", "COMPONENT_STEPSIZES",
           "WEIGHT_UPDATERS", "WEIGHT_STEPSIZES", "COMPONENT_ADAPTERS", "CHOICES", "CODEWORD_ORDER", "Stateful"]

SAMPLE_SELECTORS: Registry = Registry("sample selector")
NG_ESTIMATORS: Registry = Registry("natural-gradient estimator")
COMPONENT_UPDATERS: Registry = Registry("component updater")
COMPONENT_STEPSIZES: Registry = Registry("component step size adapter")
WEIGHT_UPDATERS: Registry = Registry("weight updater")
WEIGHT_STEPSIZES: Registry = Registry("weight step size adapter")
COMPONENT_ADAPTERS: Registry = Registry("component number adapter")

#: config key prefix -> registry (``<prefix>_type`` and ``<prefix>_config``)
CHOICES: Dict[str, Registry] = {
    "ng_estimator": NG_ESTIMATORS,
    "num_component_adapter": COMPONENT_ADAPTERS,
    "sample_selector": SAMPLE_SELECTORS,
    "ng_based_updater": COMPONENT_UPDATERS,
    "component_stepsize_adapter": COMPONENT_STEPSIZES,
    "weight_updater": WEIGHT_UPDATERS,
    "weight_stepsize_adapter": WEIGHT_STEPSIZES,
}

#: the position of each choice in a seven-letter codeword (e.g. S A M T R O N)
CODEWORD_ORDER = tuple(CHOICES)


class Stateful:
    """Modules whose mutable state (named in ``_state``) goes into a checkpoint."""

    _state: tuple = ()

    def state_dict(self) -> dict:
        return {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k in self._state for v in [getattr(self, k)]}

    def load_state_dict(self, state: dict) -> None:
        for k in self._state:
            v = state[k]
            setattr(self, k, v.clone() if isinstance(v, torch.Tensor) else v)
