"""ovis.estimators.reinforce: the baseline option, and REINFORCE's relation to VIMCO at K = 1."""
import pytest
import torch
from torch import nn

from ovis.estimators.reinforce import Reinforce
from ovis.estimators.score_function import NeuralBaseline
from ovis.estimators.vimco import Vimco
from ovis.models import build_model

from .same_draws import assert_same, gradients

X = torch.bernoulli(torch.full((4, 10), 0.4, dtype=torch.float64))


def sbn():
    torch.manual_seed(0)
    return build_model("sbn", (10,), layers=(4,)).double()


def test_baseline_options():
    assert Reinforce(iw=2).baseline is None
    assert Reinforce(iw=2, baseline=False).baseline is None
    assert isinstance(Reinforce(iw=2, baseline=True).baseline, NeuralBaseline)
    custom = nn.Linear(10, 1)
    assert Reinforce(iw=2, baseline=custom).baseline is custom
    with pytest.raises(TypeError, match="baseline must be None, True or an nn.Module"):
        Reinforce(iw=2, baseline="yes")


def test_a_constant_baseline_leaves_the_mean_but_changes_the_draw():
    """c(x) = 5 for every particle: a valid control variate; the generative gradient is unchanged."""
    class Five(nn.Module):
        def forward(self, x):
            return torch.full((x.shape[0],), 5.0, dtype=x.dtype)

    model = sbn()
    plain, shifted = gradients(Reinforce(iw=3), model, X), gradients(Reinforce(iw=3, baseline=Five()), model, X)
    assert_same(plain, shifted, prefix="generative")  # theta never sees the control variate
    assert not torch.allclose(plain["inference_network.0.weight"], shifted["inference_network.0.weight"])


def test_vimco_with_one_particle_is_reinforce():
    model = sbn()
    assert_same(gradients(Vimco(iw=1), model, X, mc=3), gradients(Reinforce(iw=1), model, X, mc=3))
