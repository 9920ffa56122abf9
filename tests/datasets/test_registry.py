"""Tests of ovis.datasets.get_datasets: names, options, items as float32 tensors."""
import re

import pytest
import torch
from torch.utils.data import DataLoader

from ovis.datasets import DATASETS, get_datasets

EMBEDDED = {"digits": (1, 8, 8), "gmm-toy": (1,), "gaussian-toy": (20,)}


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_items_batch_as_float32_tensors(name):
    train, valid, test = get_datasets(name)
    x = next(iter(DataLoader(train, batch_size=16, shuffle=True)))
    assert isinstance(x, torch.Tensor) and x.dtype == torch.float32 and x.shape == (16, *EMBEDDED[name])


def test_registry():
    assert set(DATASETS) == {"digits", "binmnist", "mnist", "fashion", "omniglot", "gmm-toy", "gaussian-toy"}


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError, match="unknown data set 'cifar'.*'binmnist', 'digits'"):
        get_datasets("cifar")


@pytest.mark.parametrize("name,option", [("digits", "n_valid"), ("mnist", "C"), ("gmm-toy", "binarize")])
def test_unknown_option_lists_the_valid_ones(name, option):
    with pytest.raises(ValueError, match=f"unknown option.*'{option}'.*valid options are"):
        get_datasets(name, **{option: 1})


def test_invalid_binarization():
    with pytest.raises(ValueError, match="binarize='otsu'.*dynamic"):
        get_datasets("mnist", binarize="otsu")


def test_a_decorated_loader_is_a_data_set_by_name():
    from ovis.datasets.registry import RESERVED

    @DATASETS.register("test-ones", reserved=RESERVED)
    def load_ones(data_root="data", seed=0, download=False, n: int = 3):
        """Ones."""
        data = torch.ones(n, 2) * seed
        return data, data[:1], data[:1]

    try:
        train, valid, test = get_datasets("test-ones", seed=2, n=4)
        assert train.shape == (4, 2) and float(train[0, 0]) == 2.0
        with pytest.raises(ValueError, match="'m'.*for data set 'test-ones'.*valid options are \\['n'\\]"):
            get_datasets("test-ones", m=4)
        assert re.search(r"^test-ones +Ones\.  \[n\]$", DATASETS.describe(), re.M)
    finally:
        DATASETS._entries.pop("test-ones")
