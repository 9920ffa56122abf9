"""The data sets chosen by name: :data:`DATASETS` and :func:`get_datasets`.

A data set is one decorated loader function; its keyword arguments after ``data_root``, ``seed``
and ``download`` (given by the caller) are its options, and it returns ``(train, valid, test)``::

    @DATASETS.register("my-data", reserved=RESERVED)
    def load_my_data(data_root="data", seed=0, download=False, n: int = 100): ...

Example:
    >>> from ovis.datasets import DATASETS, get_datasets
    >>> DATASETS.names()
    ['binmnist', 'digits', 'fashion', 'gaussian-toy', 'gmm-toy', 'mnist', 'omniglot']
    >>> train, valid, test = get_datasets("digits")
    >>> train[0].shape, len(train) + len(valid) + len(test)
    (torch.Size([1, 8, 8]), 1797)
"""
from __future__ import annotations

from typing import Any, Tuple

from torch.utils.data import Dataset

from ..registry import Registry
from .images import BINARIZATIONS

__all__ = ["DATASETS", "RESERVED", "get_datasets"]

#: name -> ``loader(data_root, seed, download, **options) -> (train, valid, test)``
DATASETS: Registry = Registry("data set")
#: the loader arguments every data set takes from the caller (not user options)
RESERVED = ("data_root", "seed", "download")


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
    DATASETS.check_options(name, kw)
    if "binarize" in kw and kw["binarize"] not in BINARIZATIONS:
        raise ValueError(f"binarize={kw['binarize']!r} is invalid; expected one of {list(BINARIZATIONS)}")
    return DATASETS.build(name, data_root=data_root, seed=seed, download=download, **kw)
