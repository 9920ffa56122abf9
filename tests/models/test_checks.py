"""ovis.models.checks: the argument checks of the models name the bad value and what was expected."""
import pytest
import torch
from torch.distributions import Bernoulli, Normal

from ovis.models.checks import check_input, check_zs, input_shape_tuple, reject_options, sample


@pytest.mark.parametrize("given,expected", [(784, (784,)), ((1, 28, 28), (1, 28, 28)), ([3, 4], (3, 4)),
                                            (torch.Size([2, 5]), (2, 5))])
def test_input_shape_tuple(given, expected):
    assert input_shape_tuple(given) == expected


@pytest.mark.parametrize("bad", [(), (0,), (3, -1), None, "abc"])
def test_input_shape_tuple_rejects(bad):
    with pytest.raises(ValueError, match="input_shape"):
        input_shape_tuple(bad)


def test_check_input():
    check_input("VAE", torch.zeros(3, 1, 8, 8), (1, 8, 8))
    with pytest.raises(ValueError, match=r"VAE: x has shape \(3, 64\); expected \[N, \*\(1, 8, 8\)\]"):
        check_input("VAE", torch.zeros(3, 64), (1, 8, 8))
    with pytest.raises(TypeError, match="x is a list"):
        check_input("VAE", [1.0], (1,))


def test_check_zs():
    zs = [torch.zeros(4, 3), torch.zeros(4, 2)]
    assert check_zs("SBN", None, [(3,), (2,)], 4) is None
    assert check_zs("SBN", zs, [(3,), (2,)], 4) == zs
    with pytest.raises(ValueError, match="zs has 1 entries; expected a list of 2 tensors"):
        check_zs("SBN", zs[:1], [(3,), (2,)], 4)
    with pytest.raises(ValueError, match="zs has a Tensor"):
        check_zs("SBN", zs[0], [(3,)], 4)
    with pytest.raises(ValueError, match=r"zs\[1\] has shape \(4, 2\); expected \(4, 5\)"):
        check_zs("SBN", zs, [(3,), (5,)], 4)


def test_reject_options():
    reject_options("VAE", "forward", {"beta": 1}, ["beta"])
    with pytest.raises(TypeError, match=r"VAE.forward\(\) got unknown option\(s\) \['gamma'\]; valid options "
                                        r"are \['beta'\]"):
        reject_options("VAE", "forward", {"gamma": 1}, ["beta"])
    with pytest.raises(TypeError, match="valid options are none"):
        reject_options("VAE", "forward", {"gamma": 1})


def test_sample_is_reparameterized_only_when_asked_and_possible():
    loc = torch.zeros(5, requires_grad=True)
    assert sample(Normal(loc, 1.0), reparam=True).requires_grad
    assert not sample(Normal(loc, 1.0), reparam=False).requires_grad
    logits = torch.zeros(5, requires_grad=True)
    z = sample(Bernoulli(logits=logits), reparam=True)  # no rsample: a plain sample
    assert not z.requires_grad and set(z.tolist()) <= {0.0, 1.0}
