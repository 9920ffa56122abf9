"""Pure log-weight math: against naive O(K^2) references, and stability (property-based)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ovis.estimators.bounds import (effective_sample_size, iw_bound, leave_one_out_logsumexp, leave_one_out_mean,
                                    normalized_weights, ovis_asymptotic_control_variate, ovis_mc_control_variate,
                                    vimco_control_variate)


def naive_loo(lw):
    K = lw.shape[-1]
    return torch.stack([torch.logsumexp(torch.cat([lw[..., :k], lw[..., k + 1:]], -1), -1) for k in range(K)], -1)


def naive_vimco(lw, arithmetic):
    K = lw.shape[-1]
    out = []
    for k in range(K):
        others = torch.cat([lw[..., :k], lw[..., k + 1:]], -1)
        hat = torch.logsumexp(others, -1) - math.log(K - 1) if arithmetic else others.mean(-1)
        out.append(torch.logsumexp(torch.cat([others, hat[..., None]], -1), -1) - math.log(K))
    return torch.stack(out, -1)


def naive_ovis_mc(lw, aux):
    K, S = lw.shape[-1], aux.shape[-1]
    out = torch.zeros_like(lw)
    for k in range(K):
        for s in range(S):
            new = lw.clone()
            new[..., k] = aux[..., s]
            out[..., k] += (torch.logsumexp(new, -1) - math.log(K)) - torch.softmax(new, -1)[..., k]
    return out / S


@pytest.mark.parametrize("K", [2, 3, 7, 50])
def test_leave_one_out_matches_naive(K):
    lw = torch.randn(4, 3, K, dtype=torch.float64) * 5
    torch.testing.assert_close(leave_one_out_logsumexp(lw), naive_loo(lw))
    ref_mean = torch.stack([torch.cat([lw[..., :k], lw[..., k + 1:]], -1).mean(-1) for k in range(K)], -1)
    torch.testing.assert_close(leave_one_out_mean(lw), ref_mean)


@pytest.mark.parametrize("arithmetic", [True, False])
@pytest.mark.parametrize("K", [2, 5, 20])
def test_vimco_matches_naive(K, arithmetic):
    lw = torch.randn(2, 3, K, dtype=torch.float64) * 3
    torch.testing.assert_close(vimco_control_variate(lw, arithmetic), naive_vimco(lw, arithmetic))


@pytest.mark.parametrize("K,S", [(2, 1), (4, 3), (6, 12)])
def test_ovis_mc_matches_naive(K, S):
    lw = torch.randn(2, 2, K, dtype=torch.float64) * 3
    aux = torch.randn(2, 2, S, dtype=torch.float64) * 3
    torch.testing.assert_close(ovis_mc_control_variate(lw, aux), naive_ovis_mc(lw, aux))
    torch.testing.assert_close(ovis_mc_control_variate(lw, aux, max_elements=1), naive_ovis_mc(lw, aux))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0])
def test_ovis_asymptotic_formula(gamma):
    K = 6
    lw = torch.randn(3, 2, K, dtype=torch.float64)
    v = torch.softmax(lw, -1)
    log_z_minus_k = naive_loo(lw) - math.log(K - 1)
    expected = log_z_minus_k - gamma * v + (1 - gamma) * math.log(1 - 1 / K)
    torch.testing.assert_close(ovis_asymptotic_control_variate(lw, gamma), expected)
    # gamma = 0 depends on z_{-k} only: changing w_k leaves c_k unchanged
    c0 = ovis_asymptotic_control_variate(lw, 0.0)
    lw2 = lw.clone()
    lw2[..., 0] += 3.0
    torch.testing.assert_close(ovis_asymptotic_control_variate(lw2, 0.0)[..., 0], c0[..., 0])


def test_bounds_basic_values():
    lw = torch.log(torch.tensor([[1.0, 3.0]]))
    assert iw_bound(lw).item() == pytest.approx(math.log(2.0))
    assert effective_sample_size(lw).item() == pytest.approx(16 / 10)
    # Renyi: alpha -> 0 gives the IW bound; alpha < 1 required; bound is non-increasing in alpha
    assert iw_bound(lw, 0.5).item() == pytest.approx(2 * math.log((1 + math.sqrt(3)) / 2))
    assert iw_bound(lw, 0.5) <= iw_bound(lw, 0.0) + 1e-6
    with pytest.raises(ValueError, match="alpha"):
        iw_bound(lw, 1.0)


def test_k_equals_one_is_finite():
    lw = torch.tensor([[[-1234.5]]])
    aux = torch.tensor([[[-1200.0, -1300.0]]])
    for c in [vimco_control_variate(lw, True), vimco_control_variate(lw, False),
              ovis_asymptotic_control_variate(lw, 1.0), ovis_asymptotic_control_variate(lw, 0.0),
              ovis_mc_control_variate(lw, aux), leave_one_out_mean(lw)]:
        assert torch.isfinite(c).all()
    assert effective_sample_size(lw).item() == pytest.approx(1.0)


log_weights = st.lists(st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(values=log_weights, gamma=st.sampled_from([0.0, 0.5, 1.0]), alpha=st.sampled_from([0.0, 0.3, -0.5]))
def test_extreme_log_weights_stay_finite_and_exact(values, gamma, alpha):
    lw32 = torch.tensor(values, dtype=torch.float32).view(1, 1, -1)
    lw64 = lw32.double()
    K = lw32.shape[-1]
    outs = {
        "bound": (iw_bound(lw32, alpha), iw_bound(lw64, alpha)),
        "v": (normalized_weights(lw32, alpha), normalized_weights(lw64, alpha)),
        "ess": (effective_sample_size(lw32), effective_sample_size(lw64)),
        "vimco-a": (vimco_control_variate(lw32, True, alpha), vimco_control_variate(lw64, True, alpha)),
        "vimco-g": (vimco_control_variate(lw32, False, alpha), vimco_control_variate(lw64, False, alpha)),
        "ovis": (ovis_asymptotic_control_variate(lw32, gamma, alpha), ovis_asymptotic_control_variate(lw64, gamma, alpha)),
        "ovis-mc": (ovis_mc_control_variate(lw32, lw32.flip(-1), alpha), ovis_mc_control_variate(lw64, lw64.flip(-1), alpha)),
    }
    for name, (a, b) in outs.items():
        assert torch.isfinite(a).all(), name
        # float32 agrees with float64 up to float32 resolution of the magnitudes involved
        tol = 1e-5 * (1 + lw64.abs().max().item()) * (1 + math.log(K))
        assert (a.double() - b).abs().max().item() <= tol, name
    loo = leave_one_out_logsumexp(lw64)
    if K > 1:
        assert torch.isfinite(loo).all()
        assert torch.allclose(loo, naive_loo(lw64))


def test_loo_cost_is_linear_in_memory():
    """O(K) memory: K = 200,000 particles would need 320 GB for a K x K matrix."""
    lw = torch.randn(1, 1, 200_000)
    assert leave_one_out_logsumexp(lw).shape == lw.shape
    assert torch.isfinite(vimco_control_variate(lw, False)).all()


def test_leave_one_out_terms_of_a_particle_with_zero_weight():
    """``log w_j = -inf``: the leave-one-out terms of particle j itself are those of the others
    (no ``-inf - -inf``), the other particles' include it."""
    lw = torch.tensor([0.5, -math.inf, 1.5, -2.0], dtype=torch.float64)
    mean = leave_one_out_mean(lw)
    assert mean[1] == pytest.approx((0.5 + 1.5 - 2.0) / 3)
    assert torch.isneginf(mean[[0, 2, 3]]).all()
    loo = leave_one_out_logsumexp(lw)
    assert loo[1] == pytest.approx(math.log(math.exp(0.5) + math.exp(1.5) + math.exp(-2.0)))
    for arithmetic in (True, False):
        assert torch.isfinite(vimco_control_variate(lw, arithmetic)).all()
