"""Check a run's configuration before anything is loaded or written: :func:`check_run`.

``run.py`` calls it before it creates the run directory and before it loads data or builds the
model, so a typo costs a second, not a failed run directory. It checks, in this order (cheapest
first):

1. the estimator id (the id grammar and the registered estimators);
2. the data set and model names, and that they go together (a toy model needs its own toy data
   set, and the toy data sets need their toy model);
3. the model flags (``--prior``, ``--depth``, ... as :func:`ovis.training.factory.model_hparams`);
4. the data files (present, or fetched with ``--download``; published checksums verified);
5. the device (``--device cuda`` needs CUDA, ``cuda:N`` needs N+1 GPUs).

Each failure is a :class:`ConfigError` whose message is one line naming the bad value and the
fix; ``run.py`` prints it and exits with status 2 (``--debug`` shows the traceback).

Example:
    >>> from ovis.training import parse_args
    >>> from ovis.training.arguments import config_from_args
    >>> from ovis.training.preflight import ConfigError, check_run
    >>> check_run(config_from_args(parse_args(["--estimator", "ovis-gamma1"])))
    >>> try:
    ...     check_run(config_from_args(parse_args(["--estimator", "ovis-gama1"])))
    ... except ConfigError as err:
    ...     print(str(err)[:42])
    --estimator 'ovis-gama1' is invalid: unkno
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from . import factory

__all__ = ["ConfigError", "check_run", "check_device"]


class ConfigError(ValueError):
    """A run's configuration cannot work; the message (one line) says what and how to fix it."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def check_device(name: str) -> None:
    """Raise :class:`ConfigError` if ``--device name`` is not available here (``auto`` always is)."""
    if name == "auto":
        return
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as err:
        raise ConfigError(f"--device {name!r} is invalid ({_one_line(err)}); expected auto, cpu, cuda, cuda:N or mps") \
            from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name!r}: CUDA is not available on this machine (torch {torch.__version__}"
                              f"{', built without CUDA' if torch.version.cuda is None else ''}); "
                              f"use --device cpu or --device auto")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"--device {name!r}: this machine has {count} CUDA device(s) (cuda:0 to "
                              f"cuda:{count - 1}); choose one of them or --device auto")
    elif device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"--device {name!r}: MPS is not available on this machine; use --device cpu or --device auto")


def _check_names(config: Dict[str, Any], check_model: bool) -> None:
    from ..datasets import DATASETS
    from ..models import MODELS

    dataset, model, _ = factory.resolve_names(config)
    if dataset not in DATASETS.names():
        raise ConfigError(f"--dataset {config['dataset']!r} is unknown; choose one of {DATASETS.names()}")
    if not check_model:
        return
    if model not in MODELS.names():
        raise ConfigError(f"--model {config.get('model')!r} is unknown; choose one of {MODELS.names()} "
                          f"(or an alias: {sorted(factory.MODEL_ALIASES)})")
    toys = ("gmm-toy", "gaussian-toy")
    if model in toys and dataset != model:
        raise ConfigError(f"--model {model} needs --dataset {model} (its own ground truth), got --dataset {dataset}; "
                          f"use --dataset {model}, or another model for {dataset}")
    if dataset in toys and model != dataset and model in ("vae", "sbn"):
        raise ConfigError(f"--dataset {dataset} goes with --model {dataset}, got --model {model}; "
                          f"drop --model (the toy model is the default) or use --model {dataset}")
    try:
        factory.model_hparams(config)
    except (ValueError, TypeError) as err:
        raise ConfigError(_one_line(err)) from None


def check_run(config: Dict[str, Any], check_data: bool = True, check_model: bool = True,
              download: Optional[bool] = None) -> None:
    """Check a run's configuration (see the module docstring); with ``--download``, fetch its data files.

    Arguments:
        config: the flags (:func:`ovis.training.arguments.config_from_args`).
        check_data: check the data set and its files (off when the caller brings its own data).
        check_model: check the model name and flags (off when the caller builds its own model).
        download: fetch missing data files (default: ``config["download"]``).

    Raises:
        ConfigError: the first problem found, in one line with its fix.
    """
    from ..estimators.config import parse_estimator_id

    try:
        parse_estimator_id(config["estimator"])
    except (ValueError, TypeError) as err:
        raise ConfigError(f"--estimator {config['estimator']!r} is invalid: {_one_line(err)}") from None
    if check_data or check_model:
        _check_names(config, check_model)
    if check_data:
        from ..datasets import CorruptDataError, MissingDataError
        from ..datasets.files import check_files

        dataset, _, _ = factory.resolve_names(config)
        try:
            only = factory.TEST_ONLY_SPLIT.get(dataset) if config.get("test_only_split") else None
            check_files(dataset, config["data_root"], bool(config.get("download") if download is None else download),
                        only=only)
        except (MissingDataError, CorruptDataError) as err:
            raise ConfigError(_one_line(err)) from None
    check_device(config.get("device", "auto"))
