"""The gradient-carrying surrogate: exact values, exact gradients, -inf log-probabilities,
torch.func transforms."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.distributions import Categorical, Independent, Uniform

from ovis.estimators import parse_estimator_id
from ovis.estimators.surrogate import finite_log_probs, linear_surrogate
from ovis.models import TemplateModel

from .test_reference import compare


def test_linear_surrogate_value_and_gradient():
    value = torch.tensor([1.5, -2.0], dtype=torch.float64)
    inputs = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(2, 3, 4, dtype=torch.float64)
    out = linear_surrogate(value, [(weights, inputs)])
    assert torch.equal(out.detach(), value)
    upstream = torch.tensor([0.5, 3.0], dtype=torch.float64)
    (grad,) = torch.autograd.grad((out * upstream).sum(), inputs)
    torch.testing.assert_close(grad, weights * upstream.view(2, 1, 1))


def test_linear_surrogate_sums_several_terms_and_broadcasts():
    a = torch.randn(3, 5, requires_grad=True)
    b = torch.randn(3, 1, 1, requires_grad=True)
    c = torch.randn(3, requires_grad=True)  # one value per row
    wa, wb, wc = torch.randn(3, 5), torch.randn(3, 1, 1), torch.randn(3)
    out = linear_surrogate(torch.zeros(3), [(wa, a), (wb, b), (wc, c)])
    assert out.shape == (3,)
    ga, gb, gc = torch.autograd.grad(out.sum(), [a, b, c])
    torch.testing.assert_close(ga, wa)
    torch.testing.assert_close(gb, wb)
    torch.testing.assert_close(gc, wc)


def test_linear_surrogate_under_torch_func():
    from torch.func import grad, vmap

    weights = torch.randn(4, 2, 3)

    def f(inputs):
        return linear_surrogate(torch.zeros(4), [(weights, finite_log_probs(inputs))]).sum()

    x = torch.randn(6, 4, 2, 3)
    x[0, 0, 0, 0] = -float("inf")
    per_sample = vmap(grad(f))(x)  # finite_log_probs cannot read values under vmap: it masks
    expected = weights.expand_as(x).clone()
    expected[0, 0, 0, 0] = 0.0
    torch.testing.assert_close(per_sample, expected)


def test_finite_log_probs():
    lp = torch.randn(3, 4, requires_grad=True)
    assert finite_log_probs(lp) is lp  # CPU, all finite: nothing to mask
    lp2 = torch.tensor([0.0, -float("inf"), -3.0], requires_grad=True)
    safe = finite_log_probs(lp2)
    assert torch.isfinite(safe).all()
    assert torch.equal(safe[[0, 2]].detach(), lp2[[0, 2]].detach())
    assert float((0.0 * safe.detach()).sum()) == 0.0  # 0 * (lowest finite value) = 0, not NaN
    (g,) = torch.autograd.grad(safe.sum(), lp2)
    torch.testing.assert_close(g, torch.tensor([1.0, 0.0, 1.0]))


class ImpossibleParticles(TemplateModel):
    """Categorical z; ``p(x|z) = Uniform(b_z - 1, b_z + 1)``: particles whose box misses x have
    ``log p(x|z) = -inf`` (weight exactly 0). ``q(z = 2)`` is about 0.1, so a particle set rarely
    has several impossible particles (VIMCO's baseline is ``-inf`` when all the others are)."""

    def __init__(self):
        super().__init__()
        self.inference_network = nn.ParameterDict({"logits": nn.Parameter(torch.tensor([0.2, -0.1, -1.7],
                                                                                         dtype=torch.float64))})
        self.generative_model = nn.ParameterDict({
            "prior": nn.Parameter(torch.tensor([0.1, 0.0, -0.2], dtype=torch.float64)),
            "b": nn.Parameter(torch.tensor([0.0, 0.5, 5.0], dtype=torch.float64))})

    def _px(self, z):
        b = self.generative_model["b"][z].unsqueeze(-1)
        return Independent(Uniform(b - 1.0, b + 1.0, validate_args=False), 1)

    def forward(self, x, reparam=False, zs=None, **kw):
        n = x.shape[0]
        qz = Categorical(logits=self.inference_network["logits"].expand(n, 3))
        z = qz.sample() if zs is None else zs[0]
        pz = Categorical(logits=self.generative_model["prior"].expand(n, 3))
        return {"px": self._px(z), "z": [z], "qz": [qz], "pz": [pz]}

    def sample_from_prior(self, bs, **kw):
        pz = Categorical(logits=self.generative_model["prior"].expand(bs, 3))
        z = pz.sample()
        return {"px": self._px(z), "z": [z], "pz": [pz]}


@pytest.mark.parametrize("eid", ["reinforce", "reinforce-baseline", "vimco-arithmetic", "vimco-geometric",
                                 "ovis-gamma0", "ovis-gamma1", "ovis-S1-exclusive", "wake-wake"])
def test_particles_with_zero_weight(eid):
    """A particle with ``log p(x|z) = -inf`` has weight 0: the loss, its gradient and ``L_k`` stay
    finite and equal the reference; the ELBO is honestly ``-inf``. (Not TVO: its objective
    contains ``E_q[log w]``, which is ``-inf`` for such a particle set.)"""
    torch.manual_seed(0)
    x = torch.zeros(6, 1, dtype=torch.float64)  # x = 0 lies outside the box of z = 2
    loss, diagnostics = compare(eid, ImpossibleParticles(), x, {})
    assert torch.isfinite(loss).all()
    assert torch.isfinite(diagnostics["loss"]["L_k"]).all()
    assert torch.isfinite(diagnostics["loss"]["ess"]).all()
    Estimator, config = parse_estimator_id(eid)
    for _ in range(10):  # some draws contain a z = 2 particle
        loss, diagnostics, out = Estimator(iw=5, **config).double()(ImpossibleParticles(), x)
        if (out["z"][0] == 2).any():
            break
    assert (out["z"][0] == 2).any()
    assert torch.isinf(diagnostics["loss"]["elbo"]).any()
    assert torch.isfinite(diagnostics["loss"]["L_k"]).all()


def test_particle_terms_paths_agree_and_keep_infinities_apart():
    from ovis.estimators.surrogate import all_finite, particle_terms

    lp = torch.randn(4, 2, 5, 5, dtype=torch.float64)  # two layers
    assert all_finite(lp) is True
    for beta in (1.0, 0.3):
        torch.testing.assert_close(particle_terms(lp, beta, finite=True), particle_terms(lp, beta, finite=None))
    lp[0, 0, 0, 0] = -float("inf")  # log p(x|z) of one particle
    assert all_finite(lp) is False
    terms = particle_terms(lp, 1.0, finite=all_finite(lp))
    assert torch.isneginf(terms[0, 0, 0, [0, 2]]).all()  # log w and log p(x|z)
    assert torch.isfinite(terms[0, 0, 0, 1])  # its KL term is untouched
    assert not torch.isnan(terms).any()


def test_stl_gradient_needs_a_one_pass_evaluation():
    from ovis.models import VAE

    model = VAE((20,), latent="normal", N=4, nlayers=1)
    Estimator, config = parse_estimator_id("stl")
    with pytest.raises(ValueError, match="sequential_computation"):
        Estimator(iw=4, **config)(model, torch.zeros(2, 20), sequential_computation=2)
    with torch.no_grad():  # evaluation in chunks is what it is for
        loss, _, _ = Estimator(iw=4, **config)(model, torch.zeros(2, 20), sequential_computation=2)
    assert torch.isfinite(loss).all()
