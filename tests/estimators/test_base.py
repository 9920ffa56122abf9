"""The shared data path: contract validation, shapes, options, Renyi alpha, beta, free bits,
sequential computation."""
import math

import pytest
import torch
from torch.distributions import Independent, Normal

from ovis.estimators import VALID_FORMS, parse_estimator_id
from ovis.estimators.bounds import iw_bound
from ovis.models import ModelContractError, TemplateModel

from .toys import CategoricalToy, LinearGaussianToy

SCORE_IDS = ["reinforce", "reinforce-baseline", "vimco-arithmetic", "vimco-geometric", "ovis-S0.5",
             "ovis-S1-exclusive", "ovis-gamma0", "ovis-gamma1", "ovis-gamma1-arithmetic", "wake-wake",
             "wake-sleep", "tvo", "tvo-part3-config1-trapz"]
PATHWISE_IDS = ["pathwise", "pathwise-vae", "pathwise-iwae", "stl", "dreg"]


def make(eid, **kw):
    Estimator, config = parse_estimator_id(eid)
    return Estimator(**kw, **config).double()


class BrokenModel(TemplateModel):
    """Returns a configurable mistake."""

    def __init__(self, mistake):
        super().__init__()
        self.mistake = mistake
        self.w = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))

    def forward(self, x, reparam=False, **kw):
        n = x.shape[0]
        qz = Independent(Normal(self.w.expand(n, 2), 1.0), 1)
        z = qz.sample()
        pz = Independent(Normal(torch.zeros(n, 2, dtype=torch.float64), 1.0), 1)
        px = Independent(Normal(z.sum(-1, keepdim=True), 1.0), 1)
        out = {"px": px, "z": [z], "qz": [qz], "pz": [pz]}
        if self.mistake == "missing":
            del out["pz"]
        elif self.mistake == "unequal":
            out["qz"] = [qz, qz]
        elif self.mistake == "not-dist":
            out["px"] = z
        elif self.mistake == "batch":
            out["qz"] = [Independent(Normal(self.w.expand(n + 1, 2), 1.0), 1)]
        elif self.mistake == "not-list":
            out["z"] = z
        elif self.mistake == "rsample":
            out["z"] = [qz.rsample() + self.w]
        return out


@pytest.mark.parametrize("mistake,match", [("missing", "missing key 'pz'"), ("unequal", "unequal lengths"),
                                           ("not-dist", "'px' is a Tensor"), ("batch", "qz\\[0\\].*batch shape"),
                                           ("not-list", "'z' is a Tensor"), ("rsample", "rsample")])
def test_contract_errors_name_the_key(mistake, match):
    est = make("vimco-arithmetic", iw=3, mc=2)
    with pytest.raises(ModelContractError, match=match):
        est(BrokenModel(mistake), torch.zeros(4, 1, dtype=torch.float64))


def test_pathwise_on_discrete_latents_is_a_clear_error():
    with pytest.raises(ModelContractError, match="score-function estimator"):
        make("pathwise-iwae", iw=2)(CategoricalToy(), torch.zeros(2, 1, dtype=torch.float64))


@pytest.mark.parametrize("eid", SCORE_IDS + PATHWISE_IDS)
@pytest.mark.parametrize("mc,iw", [(1, 1), (3, 1), (1, 4), (2, 5)])
def test_shapes_and_diagnostics(eid, mc, iw):
    if eid == "ovis-S0.5" and iw < 2:
        pytest.skip("ovis-S0.5 needs K >= 2 (it takes half of the particles)")
    model = LinearGaussianToy() if eid in PATHWISE_IDS else CategoricalToy()
    x = torch.randn(6, 1, dtype=torch.float64)
    est = make(eid, mc=mc, iw=iw)
    loss, diag, out = est(model, x)
    assert loss.shape == (6,)
    assert torch.isfinite(loss).all()
    for key in ["loss", "L_k", "elbo", "kl", "nll", "kl_q_p", "ess"]:
        value = diag["loss"][key]
        assert value.shape == (6,) and torch.isfinite(value).all() and not value.requires_grad, key
    assert (diag["loss"]["ess"] >= 1 - 1e-6).all() and (diag["loss"]["ess"] <= iw + 1e-6).all()  # K = iw
    torch.testing.assert_close(diag["loss"]["kl_q_p"], diag["loss"]["L_k"] - diag["loss"]["elbo"])
    if eid in SCORE_IDS and not eid.startswith(("wake", "tvo")):
        assert diag["cv"]["mse"].shape == (6,)
    loss.mean().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("eid", ["vimco-arithmetic", "ovis-gamma1", "reinforce", "wake-wake"])
def test_loss_value_is_minus_the_bound(eid):
    torch.manual_seed(0)
    model = CategoricalToy()
    x = torch.randn(5, 1, dtype=torch.float64)
    loss, diag, _ = make(eid, mc=3, iw=4)(model, x)
    torch.testing.assert_close(-loss, diag["loss"]["L_k"])


def test_unknown_option_is_an_error():
    Estimator, config = parse_estimator_id("vimco-arithmetic")
    with pytest.raises(TypeError, match="unknown option.*gamma.*valid options"):
        Estimator(iw=4, gamma=1, **config)
    est = Estimator(iw=4, **config)
    with pytest.raises(TypeError, match="alhpa"):
        est(CategoricalToy(), torch.zeros(2, 1, dtype=torch.float64), alhpa=0.5)
    with pytest.raises(ValueError, match="iw"):
        Estimator(iw=0, **config)
    with pytest.raises(ValueError, match="alpha"):
        est(CategoricalToy(), torch.zeros(2, 1, dtype=torch.float64), alpha=1.0)


@pytest.mark.parametrize("alpha", [0.0, 0.5, -1.0])
def test_renyi_alpha_objective(alpha):
    """The pathwise loss is minus the IWR bound computed from the same particles."""
    torch.manual_seed(0)
    model = LinearGaussianToy()
    x = torch.randn(4, 1, dtype=torch.float64)
    est = make("pathwise", mc=2, iw=6)
    torch.manual_seed(1)
    loss, _, _ = est(model, x, alpha=alpha)
    torch.manual_seed(1)
    ev = est.evaluate(model, x, 2, 6, reparam=True)
    expected = -iw_bound(ev.log_wk(), alpha).mean(1)
    torch.testing.assert_close(loss, expected)


def test_alpha_changes_score_function_signal_but_not_unbiasedness_of_its_objective():
    torch.manual_seed(0)
    model = CategoricalToy()
    x = torch.randn(3, 1, dtype=torch.float64)
    est = make("ovis-gamma0", mc=2, iw=5)
    torch.manual_seed(2)
    l0, _, _ = est(model, x, alpha=0.0)
    torch.manual_seed(2)
    l5, _, _ = est(model, x, alpha=0.5)
    assert (l5 >= l0 - 1e-9).all()  # the IWR bound with alpha > 0 is below L_K


def test_beta_scales_the_kl():
    torch.manual_seed(0)
    model = LinearGaussianToy()
    x = torch.randn(4, 1, dtype=torch.float64)
    est = make("pathwise-vae", mc=1, iw=3)
    torch.manual_seed(3)
    l1, d1, _ = est(model, x, beta=1.0)
    torch.manual_seed(3)
    l0, d0, _ = est(model, x, beta=0.0)
    torch.testing.assert_close(l0, d0["loss"]["nll"])
    torch.testing.assert_close(l1 - l0, d1["loss"]["kl"])


def test_freebits_blocks_gradient_of_small_kl_only():
    torch.manual_seed(0)
    model = LinearGaussianToy()
    x = torch.randn(8, 1, dtype=torch.float64)
    est = make("pathwise-vae", mc=1, iw=4)

    def grads(freebits):
        model.zero_grad()
        torch.manual_seed(5)
        loss, diag, _ = est(model, x, freebits=freebits)
        loss.mean().backward()
        return loss.detach(), model.generative_model["m"].grad.clone(), diag

    l0, g0, diag = grads(None)
    kl = diag["loss"]["kl"].mean().item()
    l_lo, g_lo, _ = grads(kl / 2)  # KL above the threshold: unchanged
    l_hi, g_hi, _ = grads(kl + 10)  # KL below the threshold: no gradient through the KL
    torch.testing.assert_close(l0, l_lo)
    torch.testing.assert_close(l0, l_hi)  # value unchanged
    torch.testing.assert_close(g0, g_lo)
    assert g_hi.abs().item() < 1e-12  # the prior mean only enters through the KL
    with pytest.raises(ValueError, match="freebits"):
        est(model, x, freebits=-1.0)


@pytest.mark.parametrize("eid", ["pathwise", "vimco-geometric", "ovis-gamma1", "ovis-S1-exclusive", "tvo",
                                 "stl", "dreg", "wake-sleep"])
def test_sequential_computation_gives_the_same_bound(eid):
    """Chunked evaluation draws the same distribution of particles: the bounds agree within
    Monte-Carlo error (the draws differ because the random stream is consumed per chunk)."""
    torch.manual_seed(0)
    model = LinearGaussianToy()
    x = torch.randn(2, 1, dtype=torch.float64)
    est = make(eid, mc=3000, iw=10)
    with torch.no_grad():
        l_par, d_par, _ = est(model, x)
        l_seq, d_seq, _ = est(model, x, sequential_computation=3)
    se = math.sqrt(2 * 0.05 / 3000)  # generous: per-sample std of L_10 here is < 0.2
    assert (d_par["loss"]["L_k"] - d_seq["loss"]["L_k"]).abs().max() < 5 * se
    assert (l_par - l_seq).abs().max() < 5 * se


def test_sequential_evaluation_concatenates_in_particle_order():
    """Exact check of the chunking: a model whose particles are numbered by call order."""

    class Counter(LinearGaussianToy):
        calls = 0

        def forward(self, x, reparam=False, zs=None, **kw):
            n = x.shape[0]
            z = 0.1 * (torch.arange(n, dtype=torch.float64) + Counter.calls)
            Counter.calls += n
            return super().forward(x, reparam, zs=[z])

    est = make("vimco-arithmetic", mc=1, iw=7)
    x = torch.zeros(1, 1, dtype=torch.float64)
    with torch.no_grad():
        Counter.calls = 0
        par = est.evaluate(Counter(), x, 1, 7)
        Counter.calls = 0
        seq = est.evaluate(Counter(), x, 1, 7, chunk=3)
    torch.testing.assert_close(par.log_qz, seq.log_qz)
    torch.testing.assert_close(par.log_px_z, seq.log_px_z)


def test_dreg_refuses_hierarchical_models():
    class TwoLayers(LinearGaussianToy):
        def forward(self, x, reparam=False, zs=None, **kw):
            out = super().forward(x, reparam, zs)
            return {k: v * 2 if isinstance(v, list) else v for k, v in out.items()}

    with pytest.raises(ModelContractError, match="one stochastic layer"):
        make("dreg", iw=3)(TwoLayers(), torch.zeros(2, 1, dtype=torch.float64))


def test_wake_sleep_requires_zs_support():
    class IgnoresZs(LinearGaussianToy):
        def forward(self, x, reparam=False, zs=None, **kw):
            return super().forward(x, reparam)

    with pytest.raises(ModelContractError, match="zs"):
        make("wake-sleep", iw=3)(IgnoresZs(), torch.zeros(2, 1, dtype=torch.float64))


def test_all_documented_forms_are_tested_somewhere():
    assert len(VALID_FORMS) == 17
