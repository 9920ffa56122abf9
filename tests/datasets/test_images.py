"""Tests of ovis.datasets.images: the binarization rules."""
import pytest
import torch

from ovis.datasets.images import BINARIZATIONS, BinaryImages, make_splits


@pytest.mark.parametrize("binarize", BINARIZATIONS)
def test_values_and_dtype(binarize):
    ds = BinaryImages(torch.rand(40, 2, 3), binarize=binarize)
    x = ds.tensor()
    assert x.shape == (40, 2, 3) and x.dtype == torch.float32 and len(ds) == 40
    if binarize != "none":
        assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_dynamic_is_unbiased():
    torch.manual_seed(0)
    p = torch.tensor([[0.1, 0.5, 0.9]])
    ds = BinaryImages(p, binarize="dynamic")
    mean = torch.stack([ds[0] for _ in range(4000)]).mean(0)
    assert torch.allclose(mean, p[0], atol=0.03)


def test_static_is_fixed_by_the_seed():
    p = torch.rand(30, 5)
    a, b, c = (BinaryImages(p, "static", seed=s).data for s in (1, 1, 2))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_threshold():
    ds = BinaryImages(torch.tensor([[0.2, 0.5, 0.7]]), binarize="threshold", threshold=0.5)
    assert ds[0].tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("binarize,evaluation", [("dynamic", "static"), ("threshold", "threshold"),
                                                 ("none", "none")])
def test_make_splits(binarize, evaluation):
    train, valid, test = make_splits([torch.rand(4, 3)] * 3, binarize, seed=0)
    assert train.binarize == binarize and valid.binarize == test.binarize == evaluation


@pytest.mark.parametrize("kwargs,match", [
    ({"intensities": torch.tensor([[1.5]])}, r"\[0, 1\]"),
    ({"intensities": torch.rand(2, 2), "binarize": "otsu"}, "binarize='otsu'"),
])
def test_invalid(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BinaryImages(**kwargs)
