"""`particle_diagnostics` against the definitions, on both of its paths (one matrix product for finite
log-probabilities, element-wise otherwise)."""
import math

import pytest
import torch

from ovis.estimators.bounds import normalized_weights
from ovis.estimators.diagnostics import particle_diagnostics
from ovis.estimators.surrogate import particle_terms


def definitions(log_probs, cv_error):
    """Each diagnostic from its definition, averaged over the mc samples (dim 1)."""
    L = (log_probs.shape[-1] - 1) // 2
    log_px = log_probs[..., 0]
    kl = (log_probs[..., 1 + L:] - log_probs[..., 1:1 + L]).sum(-1)
    log_w = log_px - kl
    K = log_w.shape[-1]
    w = log_w.exp()
    out = {"L_k": torch.log(w.mean(-1)), "elbo": log_w.mean(-1), "kl": kl.mean(-1), "nll": -log_px.mean(-1),
           "ess": w.sum(-1) ** 2 / (w ** 2).sum(-1)}
    out["kl_q_p"] = out["L_k"] - out["elbo"]
    if cv_error is not None:
        out["mse"] = (cv_error ** 2).sum(-1) / K
    return {k: v.mean(1) for k, v in out.items()}


@pytest.mark.parametrize("finite", [True, False, None])
@pytest.mark.parametrize("given", [True, False], ids=["v-given", "v-computed"])
@pytest.mark.parametrize("with_cv", [True, False], ids=["cv", "no-cv"])
@pytest.mark.parametrize("mc,K,L", [(1, 5, 1), (3, 4, 2), (2, 1, 1)])
def test_diagnostics_match_their_definitions(finite, given, with_cv, mc, K, L):
    torch.manual_seed(0)
    bs = 6
    log_probs = torch.randn(bs, mc, K, 1 + 2 * L, dtype=torch.float64) * 3 - 2
    terms = particle_terms(log_probs, 1.0, finite)
    log_wk = terms[..., 0]
    cv_error = torch.randn(bs, mc, K, dtype=torch.float64) if with_cv else None
    bound = torch.logsumexp(log_wk, -1) - math.log(K) if given else None
    v = normalized_weights(log_wk) if given else None
    loss = torch.randn(bs, dtype=torch.float64)
    diagnostics = particle_diagnostics(loss, terms, log_wk, 1.0, bound, v, cv_error, finite=finite)
    expected = definitions(log_probs, cv_error)
    assert torch.equal(diagnostics["loss"]["loss"], loss)
    for key in ["L_k", "elbo", "kl", "nll", "kl_q_p", "ess"]:
        torch.testing.assert_close(diagnostics["loss"][key], expected[key], rtol=1e-12, atol=1e-12, msg=key)
    assert ("cv" in diagnostics) == with_cv
    if with_cv:
        torch.testing.assert_close(diagnostics["cv"]["mse"], expected["mse"], rtol=1e-12, atol=1e-12)


def test_beta_weights_the_ess_but_not_the_bound():
    """``ess`` is that of the beta-weighted log-weights; ``L_k`` and ``elbo`` stay at beta = 1."""
    torch.manual_seed(1)
    log_probs = torch.randn(3, 2, 5, 3, dtype=torch.float64)
    for finite in (True, False):
        terms = particle_terms(log_probs, 0.3, finite)
        diagnostics = particle_diagnostics(torch.zeros(3), terms, terms[..., 0], 0.3, finite=finite)
        expected = definitions(log_probs, None)
        torch.testing.assert_close(diagnostics["loss"]["L_k"], expected["L_k"], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(diagnostics["loss"]["elbo"], expected["elbo"], rtol=1e-12, atol=1e-12)
        w = terms[..., 0].exp()
        torch.testing.assert_close(diagnostics["loss"]["ess"], (w.sum(-1) ** 2 / (w ** 2).sum(-1)).mean(1))


def test_an_impossible_particle_leaves_the_other_diagnostics_finite():
    """With ``log p(x|z) = -inf`` for one particle, the element-wise path keeps L_k and the ESS finite
    (a matrix product would mix ``0 * inf = NaN`` into every column)."""
    log_probs = torch.randn(2, 1, 4, 3, dtype=torch.float64)
    log_probs[0, 0, 1, 0] = -math.inf
    terms = particle_terms(log_probs, 1.0, False)
    diagnostics = particle_diagnostics(torch.zeros(2), terms, terms[..., 0], 1.0, finite=False)
    assert torch.isfinite(diagnostics["loss"]["L_k"]).all()
    assert torch.isfinite(diagnostics["loss"]["ess"]).all()
    assert diagnostics["loss"]["nll"][0] == math.inf and torch.isfinite(diagnostics["loss"]["nll"][1])
