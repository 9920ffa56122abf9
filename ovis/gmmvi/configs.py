"""GMMVI configurations: code words, default settings, the framework's YAML format.

A configuration is the framework's flat dictionary: for each of the seven
design choices a ``<choice>_type`` string and a ``<choice>_config`` dict, plus
``temperature``, ``use_sample_database``, ``max_database_size`` and the
``model_initialization`` section (and, for the runner, ``environment_name``,
``environment_config``, ``start_seed``, ``gmmvi_runner_config``).

A seven-letter code word picks one type per choice, in the order
estimator, component number, sample selector, component updater, component
step size, weight updater, weight step size::

    S|Z  A|E  M|P  I|Y|T  F|D|R  U|O  X|G|N        e.g. SAMTRON (VIPS-like), ZAMTRUX

Example:
    >>> cfg = default_algorithm_config("SAMTRON")
    >>> cfg["ng_estimator_type"], cfg["sample_selector_config"]["desired_samples_per_component"]
    ('Stein', 100)
    >>> len(all_codewords())
    432
"""
from __future__ import annotations

import copy
import difflib
import itertools
from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

from .choices import CHOICES, CODEWORD_ORDER

__all__ = ["LETTERS", "default_algorithm_config", "default_experiment_config", "default_config", "merge",
           "load_yaml", "all_codewords", "check_config", "EXPERIMENTS", "TOP_LEVEL_KEYS"]

#: per code-word position: letter -> (type string, default options)
LETTERS: Dict[str, Dict[str, tuple]] = {
    "ng_estimator": {
        "S": ("Stein", {"only_use_own_samples": False, "use_self_normalized_importance_weights": True}),
        "Z": ("MORE", {"initial_l2_regularizer": 1e-12, "only_use_own_samples": False,
                       "use_self_normalized_importance_weights": True}),
    },
    "num_component_adapter": {
        "A": ("adaptive", {"del_iters": 100, "add_iters": 30, "max_components": 1000,
                           "thresholds_for_add_heuristic": [5000.0, 1000.0, 500.0, 200.0, 100.0, 50.0],
                           "min_weight_for_del_heuristic": 1e-6, "num_database_samples": 100000,
                           "num_prior_samples": 0}),
        "E": ("fixed", {}),
    },
    "sample_selector": {
        "M": ("component-based", {"desired_samples_per_component": 100, "ratio_reused_samples_to_desired": 2.0}),
        "P": ("mixture-based", {"desired_samples_per_component": 100, "ratio_reused_samples_to_desired": 0.0}),
    },
    "ng_based_updater": {
        "I": ("direct", {}),
        "Y": ("iBLR", {}),
        "T": ("trust-region", {}),
    },
    "component_stepsize_adapter": {
        "F": ("fixed", {"initial_stepsize": 1e-5}),
        "D": ("decaying", {"initial_stepsize": 1.0, "annealing_exponent": 0.55}),
        "R": ("improvement-based", {"initial_stepsize": 1.0, "min_stepsize": 0.001, "max_stepsize": 1.0,
                                    "stepsize_inc_factor": 1.15, "stepsize_dec_factor": 0.85}),
    },
    "weight_updater": {
        "U": ("direct", {"use_self_normalized_importance_weights": True}),
        "O": ("trust-region", {"use_self_normalized_importance_weights": True}),
    },
    "weight_stepsize_adapter": {
        "X": ("fixed", {"initial_stepsize": 1.0}),
        "G": ("decaying", {"initial_stepsize": 1.0, "annealing_exponent": 0.55}),
        "N": ("improvement-based", {"initial_stepsize": 1.0, "min_stepsize": 0.0001, "max_stepsize": 1.0,
                                    "stepsize_inc_factor": 1.15, "stepsize_dec_factor": 0.85}),
    },
}

_COMMON = {"use_sample_database": True, "max_database_size": 10000000, "temperature": 1.0, "start_seed": 10000}


def _exp(name: str, env: dict, init: dict, log_every: int) -> dict:
    return {**copy.deepcopy(_COMMON), "environment_name": name, "environment_config": env,
            "model_initialization": {"use_diagonal_covs": False, "prior_mean": 0.0, **init},
            "gmmvi_runner_config": {"log_metrics_interval": log_every}}


_LR_INIT = {"num_initial_components": 1, "prior_scale": 10.0, "initial_cov": 100.0}
#: the framework's experiment defaults (target name -> config without the algorithm part)
EXPERIMENTS: Dict[str, dict] = {
    "breast_cancer": _exp("breastCancer", {}, _LR_INIT, 50),
    "breast_cancer_mb": _exp("breastCancer_mb", {"batch_size": 64, "size_test_set": 0,
                                                 "use_own_batch_per_sample": True}, _LR_INIT, 20),
    "german_credit": _exp("GermanCredit", {}, _LR_INIT, 20),
    "german_credit_mb": _exp("GermanCredit_mb", {"batch_size": 64, "size_test_set": 0,
                                                 "use_own_batch_per_sample": True}, _LR_INIT, 20),
    "gmm20": _exp("GMM", {"num_dimensions": 20},
                  {"num_initial_components": 1, "prior_scale": 31.63, "initial_cov": 1000.0}, 100),
    "stm20": _exp("STM", {"num_dimensions": 20, "harder_setting": False, "use_matlab_target": False},
                  {"num_initial_components": 20, "prior_scale": 100.0, "initial_cov": 300.0}, 1000),
    "planar_robot_4": _exp("PlanarRobot4", {},
                           {"num_initial_components": 300, "prior_scale": [1.0] + [0.2] * 9,
                            "initial_cov": [0.0625] + [0.0025] * 9}, 10),
}

#: top-level keys a configuration may have besides the ``<choice>_type`` / ``<choice>_config`` pairs
TOP_LEVEL_KEYS = ("start_seed", "seed", "use_sample_database", "max_database_size", "temperature",
                  "model_initialization", "gmmvi_runner_config", "environment_name", "environment_config",
                  "mmd_evaluation_config", "dump_gmm_path", "dtype")
_MODEL_INIT_KEYS = ("use_diagonal_covs", "num_initial_components", "prior_mean", "prior_scale", "initial_cov")


def merge(base: Mapping, updates: Mapping) -> dict:
    """A deep copy of ``base`` with ``updates`` merged in (dicts recursively, other values replaced)."""
    out = copy.deepcopy(dict(base))
    for k, v in updates.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_codeword(codeword: str) -> Dict[str, str]:
    """``{choice: letter}`` for a seven-letter code word (case-insensitive).

    Raises:
        ValueError: wrong length, or a letter that is not valid at its position (the message lists the valid ones).
    """
    word = codeword.upper()
    if len(word) != len(CODEWORD_ORDER):
        raise ValueError(f"a GMMVI code word has {len(CODEWORD_ORDER)} letters, one per design choice in the order "
                         f"{'|'.join(''.join(LETTERS[c]) for c in CODEWORD_ORDER)}; got {codeword!r}")
    out = {}
    for i, (choice, letter) in enumerate(zip(CODEWORD_ORDER, word)):
        if letter not in LETTERS[choice]:
            raise ValueError(f"code word {codeword!r}: letter {i + 1} ({letter!r}) chooses the {choice}; "
                             f"valid letters are {sorted(LETTERS[choice])}")
        out[choice] = letter
    return out


def default_algorithm_config(codeword: str) -> dict:
    """The default configuration of the seven design choices of ``codeword`` (plus ``temperature`` and the
    sample database settings)."""
    cfg: Dict[str, Any] = {k: copy.deepcopy(_COMMON[k]) for k in ("use_sample_database", "max_database_size",
                                                                 "temperature")}
    for choice, letter in parse_codeword(codeword).items():
        type_, options = LETTERS[choice][letter]
        cfg[f"{choice}_type"] = type_
        cfg[f"{choice}_config"] = copy.deepcopy(options)
    return cfg


def default_experiment_config(experiment: str) -> dict:
    """The framework's default settings of an experiment (``breast_cancer``, ``gmm20``, ...)."""
    if experiment not in EXPERIMENTS:
        close = difflib.get_close_matches(experiment, list(EXPERIMENTS), n=2)
        hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
        raise ValueError(f"unknown GMMVI experiment {experiment!r}{hint}; valid experiments are {sorted(EXPERIMENTS)}")
    return copy.deepcopy(EXPERIMENTS[experiment])


def default_config(codeword: str, experiment: str) -> dict:
    """``default_algorithm_config(codeword)`` merged with ``default_experiment_config(experiment)``."""
    return merge(default_algorithm_config(codeword), default_experiment_config(experiment))


def all_codewords() -> List[str]:
    """The 432 code words, in a fixed order."""
    return ["".join(p) for p in itertools.product(*(sorted(LETTERS[c]) for c in CODEWORD_ORDER))]


def load_yaml(path: Union[str, Path]) -> dict:
    """Read a configuration file in the framework's YAML format."""
    import yaml
    with open(path) as f:
        cfg = yaml.safe_load(f)
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(cfg).__name__}")
    return cfg


def check_config(config: Mapping) -> None:
    """Check the keys of a configuration.

    Raises:
        ValueError: an unknown top-level or ``model_initialization`` key, or a choice with only one of
            ``_type`` / ``_config``. (Unknown options inside ``<choice>_config`` are reported when building.)
    """
    valid = set(TOP_LEVEL_KEYS) | {f"{c}_{s}" for c in CHOICES for s in ("type", "config")}
    unknown = sorted(set(config) - valid)
    if unknown:
        hints = "".join(f" ({u!r}: did you mean {h[0]!r}?)" for u in unknown
                        for h in [difflib.get_close_matches(u, sorted(valid), n=1)] if h)
        raise ValueError(f"unknown GMMVI configuration key(s) {unknown}{hints}; valid keys are {sorted(valid)}")
    for c in CHOICES:
        if f"{c}_type" not in config:
            raise ValueError(f"the configuration has no {c + '_type'!r} (valid types: {CHOICES[c].names()}); "
                             f"start from default_algorithm_config(codeword)")
    init = config.get("model_initialization", {})
    bad = sorted(set(init) - set(_MODEL_INIT_KEYS))
    if bad:
        raise ValueError(f"unknown model_initialization key(s) {bad}; valid keys are {list(_MODEL_INIT_KEYS)}")
