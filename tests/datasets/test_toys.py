"""Tests of ovis.datasets.toys: seeded samples from the toy models' true processes."""
import pytest
import torch

from ovis.datasets import ToyData, get_datasets
from ovis.models.gaussian_toy import true_mu
from ovis.models.gmm_toy import component_means, true_prior_probs


@pytest.mark.parametrize("name,kw,shape", [("gmm-toy", {"C": 5}, (1,)), ("gaussian-toy", {"D": 4}, (4,))])
def test_shapes_sizes_and_seeding(name, kw, shape):
    splits = get_datasets(name, n_train=50, n_valid=7, n_test=9, **kw)
    assert [len(s) for s in splits] == [50, 7, 9]
    assert all(isinstance(s, ToyData) and s[0].shape == shape and s[0].dtype == torch.float32 for s in splits)
    again = get_datasets(name, n_train=50, n_valid=7, n_test=9, **kw)
    other = get_datasets(name, n_train=50, n_valid=7, n_test=9, seed=1, **kw)
    assert torch.equal(splits[0].data, again[0].data) and not torch.equal(splits[0].data, other[0].data)
    assert not torch.equal(splits[1].data, splits[2].data[:7])


def test_gaussian_toy_follows_the_true_process():
    train = get_datasets("gaussian-toy", D=3, seed=2, n_train=40000)[0]
    assert torch.allclose(train.true_params["mu"], true_mu(3, 2))
    assert torch.allclose(train.data.mean(0), true_mu(3, 2), atol=0.05)
    assert torch.allclose(train.data.var(0), torch.full((3,), 2.0), atol=0.1)  # Var x = Var z + 1


def test_gmm_toy_follows_the_true_process():
    train = get_datasets("gmm-toy", C=4, n_train=40000)[0]
    mean = (true_prior_probs(4) * component_means(4)).sum()
    assert torch.isclose(train.data.mean(), mean, atol=0.3)
    assert torch.allclose(train.true_params["probs"], true_prior_probs(4))


def test_invalid_sizes():
    with pytest.raises(ValueError, match="split sizes must be positive"):
        get_datasets("gmm-toy", n_test=0)
