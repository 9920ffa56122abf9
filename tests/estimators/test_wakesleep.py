"""ovis.estimators.wakesleep: the sleep phase's contract and the wake phase's generative gradient."""
import pytest
import torch

from ovis.estimators.reinforce import Reinforce
from ovis.estimators.wakesleep import WakeSleep, WakeWake
from ovis.models import ModelContractError, build_model

from .same_draws import assert_same, gradients
from .toys import CategoricalToy

X = torch.bernoulli(torch.full((4, 10), 0.4, dtype=torch.float64))


def test_wake_phase_generative_gradient_is_the_score_function_one():
    """theta gets sum_k v_k grad log p(x, z_k) in both (the IW bound's gradient at fixed z)."""
    torch.manual_seed(0)
    model = build_model("sbn", (10,), layers=(4, 3)).double()
    ww = gradients(WakeWake(iw=4), model, X, beta=0.8)
    rf = gradients(Reinforce(iw=4), model, X, beta=0.8)
    assert_same(ww, rf, prefix="generative")


def test_wake_sleep_phi_gradient_comes_from_the_sleep_phase():
    torch.manual_seed(0)
    model = build_model("sbn", (10,), layers=(4,)).double()
    ws = gradients(WakeSleep(iw=4), model, X)
    ww = gradients(WakeWake(iw=4), model, X)
    assert_same(ws, ww, prefix="generative")
    assert not torch.allclose(ws["inference_network.0.weight"], ww["inference_network.0.weight"])


class IgnoresZs(CategoricalToy):
    def forward(self, x, reparam=False, zs=None, **kw):
        return super().forward(x, reparam=reparam, zs=None)


def test_a_model_that_ignores_zs_is_refused():
    model = IgnoresZs()
    with pytest.raises(ModelContractError, match="ignored zs"):
        WakeSleep(iw=3)(model, torch.zeros(5, 1, dtype=torch.float64))
