"""Data sets: torch ``Dataset`` objects whose items are float32 tensors ``x`` (no labels).

``get_datasets(name, ...)`` returns ``(train, valid, test)``:

==============  ===============================================================  ===========
name            source                                                           item shape
==============  ===============================================================  ===========
digits          scikit-learn's 8x8 digits, embedded (the default)                [1, 8, 8]
binmnist        Larochelle's fixed binarization, ``binmnist/*.amat``              [1, 28, 28]
mnist           IDX files in ``mnist/``, dynamic binarization                     [1, 28, 28]
fashion         Fashion-MNIST IDX files in ``fashion/``                           [1, 28, 28]
omniglot        ``omniglot/chardata.mat``, dynamic binarization                   [1, 28, 28]
gmm-toy         the true Gaussian mixture of ``ovis.models.gmm_toy``              [1]
gaussian-toy    the true linear Gaussian model of ``ovis.models.gaussian_toy``    [D]
==============  ===============================================================  ===========

Example::

    train, valid, test = get_datasets("digits")
    loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)
    x = next(iter(loader))      # [32, 1, 8, 8]
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Tuple

from torch.utils.data import Dataset

from .binmnist import load_binmnist
from .digits import load_digits
from .files import CorruptDataError, MissingDataError
from .images import BINARIZATIONS, BinaryImages
from .mnist import load_fashion, load_mnist
from .omniglot import load_omniglot
from .toys import ToyData, load_gaussian_toy, load_gmm_toy

__all__ = ["get_datasets", "DATASETS", "BinaryImages", "ToyData", "BINARIZATIONS",
           "MissingDataError", "CorruptDataError"]

#: name -> loader(data_root, seed, download, **options) -> (train, valid, test)
DATASETS: Dict[str, Callable[..., Tuple[Dataset, Dataset, Dataset]]] = {
    "digits": load_digits,
    "binmnist": load_binmnist,
    "mnist": load_mnist,
    "fashion": load_fashion,
    "omniglot": load_omniglot,
    "gmm-toy": load_gmm_toy,
    "gaussian-toy": load_gaussian_toy,
}


def get_datasets(name: str = "digits", data_root: str = "data", seed: int = 0, download: bool = False,
                 **kw: Any) -> Tuple[Dataset, Dataset, Dataset]:
    """Load a data set's ``(train, valid, test)`` splits.

    Arguments:
        name: one of :data:`DATASETS`.
        data_root: directory holding one folder per file-based data set (``mnist/``, ...).
        seed: seed of the random parts (permutation splits, static binarization, toy samples).
        download: fetch missing files (needs internet access).
        **kw: options of the data set's loader, e.g. ``binarize='dynamic'``, ``flatten=True``,
            ``test_only_split=True`` (mnist, fashion), ``n_train`` (toys).

    Raises:
        ValueError: unknown name or option (the message lists the valid ones).
        MissingDataError: a file is missing (the message names it and the directory).
        CorruptDataError: a file's checksum or content is wrong.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; valid data sets are {sorted(DATASETS)}")
    loader = DATASETS[name]
    valid = [p for p in inspect.signature(loader).parameters if p not in ("data_root", "seed", "download")]
    unknown = sorted(set(kw) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for data set {name!r}; valid options are {valid}")
    if "binarize" in kw and kw["binarize"] not in BINARIZATIONS:
        raise ValueError(f"binarize={kw['binarize']!r} is invalid; expected one of {list(BINARIZATIONS)}")
    return loader(data_root=data_root, seed=seed, download=download, **kw)
