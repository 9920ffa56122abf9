"""Tests of ovis.datasets.digits, the embedded default data set."""
import pytest
import torch

from ovis.datasets import get_datasets
from ovis.datasets.digits import DIGITS_SPLIT


@pytest.mark.parametrize("flatten,shape", [(False, (1, 8, 8)), (True, (64,))])
def test_splits_and_shapes(flatten, shape):
    splits = get_datasets("digits", flatten=flatten)
    assert tuple(len(s) for s in splits) == DIGITS_SPLIT and sum(DIGITS_SPLIT) == 1797
    for ds in splits:
        assert ds[0].shape == shape and ds[0].dtype == torch.float32
        assert set(ds.data.unique().tolist()) == {0.0, 1.0}


def test_threshold_at_half_of_sixteen():
    from sklearn.datasets import load_digits

    raw = torch.from_numpy(load_digits().images).float()
    data = torch.cat([s.data for s in get_datasets("digits", binarize="threshold")])
    assert data.sum() == (raw >= 8).sum()


@pytest.mark.parametrize("seed", [0, 3])
def test_split_is_deterministic_in_the_seed(seed):
    a = get_datasets("digits", seed=seed)[2].data
    b = get_datasets("digits", seed=seed)[2].data
    c = get_datasets("digits", seed=seed + 1)[2].data
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_splits_are_disjoint_and_cover_the_data():
    data = torch.cat([s.data for s in get_datasets("digits", binarize="none", flatten=True)])
    from sklearn.datasets import load_digits

    raw = torch.from_numpy(load_digits().data / 16.0).float()
    assert sorted(map(tuple, data.tolist())) == sorted(map(tuple, raw.tolist()))


def test_dynamic_binarization():
    train, valid, _ = get_datasets("digits", binarize="dynamic")
    assert train.binarize == "dynamic" and valid.binarize == "static"
    draws = torch.stack([train[5] for _ in range(8)])
    assert not all(torch.equal(draws[0], d) for d in draws[1:])
