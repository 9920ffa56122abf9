"""ovis.estimators.vimco: the two means, on the same draws, differ only in the inference gradient."""
import torch

from ovis.estimators.vimco import Vimco
from ovis.models import build_model

from .same_draws import assert_same, gradients

X = torch.bernoulli(torch.full((4, 10), 0.4, dtype=torch.float64))


def test_arithmetic_and_geometric_differ_in_phi_only():
    torch.manual_seed(0)
    model = build_model("sbn", (10,), layers=(4,)).double()
    arith, geo = gradients(Vimco(iw=4, arithmetic=True), model, X), gradients(Vimco(iw=4), model, X)
    assert_same(arith, geo, prefix="generative")
    assert not torch.allclose(arith["inference_network.0.weight"], geo["inference_network.0.weight"])


def test_option_is_per_call():
    est = Vimco(iw=4)
    assert est.config["arithmetic"] is False
    torch.manual_seed(0)
    model = build_model("sbn", (10,), layers=(4,)).double()
    a = gradients(est, model, X, arithmetic=True)
    b = gradients(Vimco(iw=4, arithmetic=True), model, X)
    assert_same(a, b)
