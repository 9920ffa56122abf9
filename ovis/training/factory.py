"""From run flags to data sets, a model and an estimator.

Flag -> model hyperparameter (only flags that are given are passed; the rest keep the model's
defaults):

============  ==========================  ==================================  ===============
flag          vae                         sbn                                 toys
============  ==========================  ==================================  ===============
--prior       ``latent``                  must be bernoulli                   not used
--N           ``N``                       layer size (default 200)            gmm-toy ``C``,
                                                                              gaussian-toy ``D``
--K           ``K``                       -                                   -
--depth       must be 1                   ``layers = (N,) * depth``           must be 1
--nlayers     ``nlayers``                 0: ``connection='linear'``,         -
                                          1: ``'mlp'``
--hdim        ``hdim``                    ``hdim``                            gmm-toy ``hdim``
--posterior   ``posterior``               -                                   -
============  ==========================  ==================================  ===============

Toy data sets and models share their ground truth: ``--N`` also sets the toy data set's ``C``/``D``,
and the gaussian-toy model gets ``true_seed = --data_seed``.

Any other model of :data:`ovis.models.MODELS` (one registered by a user) gets each given flag as
the option of the same name (``--prior`` as ``latent``); a flag it has no option for is an error.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

from torch import nn
from torch.utils.data import Dataset

__all__ = ["TEST_ONLY_SPLIT", "resolve_names", "build_datasets", "build_model", "build_estimator", "model_hparams",
           "DATASET_ALIASES", "MODEL_ALIASES"]

DATASET_ALIASES = {"gmm": "gmm-toy"}
#: alias -> (model name, forced hyperparameters)
MODEL_ALIASES: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "sbm": ("sbn", {}),
    "gaussian-vae": ("vae", {"latent": "normal"}),
    "gmm": ("gmm-toy", {}),
}
_TOYS = ("gmm-toy", "gaussian-toy")
#: the models of the table above; any other registered model gets the flags of its option names
_BUILT_IN = ("vae", "sbn", *_TOYS)


def resolve_names(config: Mapping[str, Any]) -> Tuple[str, str, Dict[str, Any]]:
    """``(dataset, model, forced hparams)`` after aliases and defaults (toy data -> toy model, else sbn)."""
    dataset = DATASET_ALIASES.get(config["dataset"], config["dataset"])
    model = config.get("model")
    if model is None:
        model = dataset if dataset in _TOYS else "sbn"
    model, forced = MODEL_ALIASES.get(model, (model, {}))
    return dataset, model, dict(forced)


#: data sets whose loader can split the test file alone (``--test_only_split``) -> the file it needs
TEST_ONLY_SPLIT = {"mnist": ("t10k-images-idx3-ubyte.gz",), "fashion": ("t10k-images-idx3-ubyte.gz",)}


def _dataset_options(config: Mapping[str, Any], dataset: str) -> Dict[str, Any]:
    if config.get("test_only_split"):
        if dataset not in TEST_ONLY_SPLIT:
            raise ValueError(f"--test_only_split is invalid with --dataset {dataset!r}; expected one of "
                             f"{sorted(TEST_ONLY_SPLIT)} (the data sets read from IDX files)")
        return {"test_only_split": True}
    if dataset == "gmm-toy" and config.get("N") is not None:
        return {"C": config["N"]}
    if dataset == "gaussian-toy" and config.get("N") is not None:
        return {"D": config["N"]}
    return {}


def build_datasets(config: Mapping[str, Any]) -> Tuple[Dataset, Dataset, Dataset]:
    """``(train, valid, test)`` from ``--dataset --data_root --data_seed`` (see :func:`ovis.datasets.get_datasets`)."""
    from ..datasets import get_datasets

    dataset, _, _ = resolve_names(config)
    return get_datasets(dataset, data_root=config["data_root"], seed=config["data_seed"],
                        download=bool(config.get("download")), **_dataset_options(config, dataset))


def _reject(model: str, flag: str, value: Any, why: str) -> ValueError:
    return ValueError(f"--{flag} {value} is invalid for --model {model}: {why}")


def model_hparams(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The hyperparameters given to :func:`ovis.models.build_model` (see the module's table)."""
    _, model, hp = resolve_names(config)
    N, K, depth, nlayers, hdim = (config.get(k) for k in ("N", "K", "depth", "nlayers", "hdim"))
    prior = config.get("prior")
    if model not in _BUILT_IN:
        return _generic_hparams(model, config, hp)
    if model != "sbn" and depth not in (None, 1):
        raise _reject(model, "depth", depth, "only the sbn has several stochastic layers")
    if model == "vae":
        if prior is not None:
            if "latent" in hp and hp["latent"] != prior:
                raise _reject(config["model"], "prior", prior, f"this alias has a {hp['latent']} latent")
            hp["latent"] = prior
        hp.update({k: v for k, v in (("N", N), ("K", K), ("nlayers", nlayers), ("hdim", hdim)) if v is not None})
        if config.get("likelihood") is not None:
            hp["likelihood"] = config["likelihood"]
        if config.get("learn_prior"):
            hp["learn_prior"] = True
        if config.get("posterior") is not None:
            hp["posterior"] = config["posterior"]
    elif model == "sbn":
        if prior not in (None, "bernoulli"):
            raise _reject(model, "prior", prior, "the SBN's latents are bernoulli")
        hp["layers"] = tuple([N or 200] * (depth or 1))
        if nlayers is not None:
            if nlayers > 1:
                raise _reject(model, "nlayers", nlayers, "use 0 (linear connections) or 1 (MLP connections)")
            hp["connection"] = "linear" if nlayers == 0 else "mlp"
        if hdim is not None:
            hp["hdim"] = hdim
    elif model == "gmm-toy":
        if N is not None:
            hp["C"] = N
        if hdim is not None:
            hp["hdim"] = hdim
    elif model == "gaussian-toy":
        hp["true_seed"] = config["data_seed"]
    for flag, value in (("K", K), ("learn_prior", config.get("learn_prior") or None),
                        ("likelihood", config.get("likelihood")), ("posterior", config.get("posterior"))):
        if value is not None and model != "vae":
            raise _reject(model, flag, value, "only the vae uses it")
    if model in _TOYS and prior is not None:
        raise _reject(model, "prior", prior, "the toy models have a fixed prior")
    return hp


def _generic_hparams(model: str, config: Mapping[str, Any], hp: Dict[str, Any]) -> Dict[str, Any]:
    """A model registered outside this table: each given flag goes to the option of the same name
    (``--prior`` to ``latent``); a flag the model has no option for is an error."""
    from ..models import MODELS

    options = MODELS.get(model).options()  # unknown model: the registry's error lists the valid ones
    flags = (("N", "N"), ("K", "K"), ("depth", "depth"), ("nlayers", "nlayers"), ("hdim", "hdim"),
             ("likelihood", "likelihood"), ("prior", "latent"), ("learn_prior", "learn_prior"))
    for flag, key in flags:
        value = config.get(flag)
        if flag == "learn_prior" and not value:  # a store_true flag: False means not given
            value = None
        if value is None:
            continue
        if key not in options:
            raise _reject(model, flag, value, f"the model has no option {key!r} (its options: {list(options)})")
        hp[key] = value
    return hp


def build_model(config: Mapping[str, Any], input_shape: Tuple[int, ...], train: Dataset = None) -> nn.Module:
    """The model named by ``--model`` (see :func:`ovis.models.build_model`) for observations of ``input_shape``."""
    from ..models import build_model as build

    _, name, _ = resolve_names(config)
    model = build(name, input_shape, **model_hparams(config))
    data = getattr(train, "data", None)
    if hasattr(model, "set_optimum") and data is not None:
        model.set_optimum(data)  # gaussian-toy: the exact optimum, to report the distance to it
    return model


def build_estimator(config: Mapping[str, Any]) -> nn.Module:
    """The estimator of ``--estimator`` with ``--mc --iw --beta --freebits --alpha``."""
    from ..estimators.config import parse_estimator_id

    cls, options = parse_estimator_id(config["estimator"])
    return cls(mc=config["mc"], iw=config["iw"], beta=config["beta"], freebits=config["freebits"],
               alpha=config["alpha"], **options)
