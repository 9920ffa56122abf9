"""The exact-expectation suite catches small mistakes: deliberate mutations must fail it.

Each mutation adds ``0.05 v_k`` (5% of the self-normalised weight, which depends on ``z_k``) to
an estimator's control variate, the kind of slip that biases a score-function estimator by a
few percent at most. With the mutation in place, the exact mean of the gradient at K = 2 must
move away from ``grad L_K`` by far more than the suite's tolerance (1e-8). ``docs/testing.md``
lists these and the other mutations tried by hand.
"""
from __future__ import annotations

import pytest
import torch

from ovis.estimators import bounds, ovis as ovis_module, reinforce, vimco

from . import exact
from .test_exact import BY_ID, TOL, XS_CAT, build, categorical_model, estimator_mean

MUTATIONS = {
    "vimco-arithmetic": (vimco, "vimco_control_variate"),
    "vimco-geometric": (vimco, "vimco_control_variate"),
    "ovis-gamma0": (ovis_module, "ovis_asymptotic_control_variate"),
    "ovis-gamma0-geometric": (ovis_module, "ovis_asymptotic_control_variate"),
    "ovis-S1-exclusive": (ovis_module, "ovis_mc_control_variate"),
}


def shifted(function):
    def mutated(log_wk, *args, **kwargs):
        return function(log_wk, *args, **kwargs) + 0.05 * bounds.normalized_weights(log_wk, kwargs.get("alpha", 0.0))
    return mutated


def relative_error_at_k2(eid: str) -> float:
    spec = BY_ID[eid]
    model = categorical_model()
    est = build(eid, 2, model)
    mean = estimator_mean(spec, est, model, XS_CAT, 2, 1, None)
    return exact.relative_error(mean, exact.categorical_bound_gradient(model, XS_CAT, 2))


@pytest.mark.parametrize("eid", sorted(MUTATIONS))
def test_shifted_control_variate_is_caught(eid, monkeypatch):
    assert relative_error_at_k2(eid) < TOL  # unmutated: exact
    module, name = MUTATIONS[eid]
    monkeypatch.setattr(module, name, shifted(getattr(module, name)))
    assert relative_error_at_k2(eid) > 1e3 * TOL


def test_reinforce_with_a_shifted_baseline_is_caught(monkeypatch):
    assert relative_error_at_k2("reinforce") < TOL
    monkeypatch.setattr(reinforce.Reinforce, "control_variate",
                        lambda self, x, log_wk, aux, cfg: 0.05 * bounds.normalized_weights(log_wk, cfg["alpha"]))
    assert relative_error_at_k2("reinforce") > 1e3 * TOL
