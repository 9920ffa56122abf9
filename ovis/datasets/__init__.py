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

Adding a data set is one decorated loader function (see :mod:`ovis.datasets.registry`).

Example:
    >>> import torch
    >>> from ovis.datasets import get_datasets
    >>> train, valid, test = get_datasets("digits")
    >>> loader = torch.utils.data.DataLoader(train, batch_size=32, shuffle=True)
    >>> next(iter(loader)).shape
    torch.Size([32, 1, 8, 8])
"""
from __future__ import annotations

from .binmnist import load_binmnist
from .digits import load_digits
from .files import CorruptDataError, MissingDataError
from .images import BINARIZATIONS, BinaryImages
from .mnist import load_fashion, load_mnist
from .omniglot import load_omniglot
from .registry import DATASETS, get_datasets
from .toys import ToyData, load_gaussian_toy, load_gmm_toy

__all__ = ["get_datasets", "DATASETS", "BinaryImages", "ToyData", "BINARIZATIONS",
           "MissingDataError", "CorruptDataError"]
