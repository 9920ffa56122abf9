"""FFJORD on zuko against references written here: a fixed-step RK4 solve with the autograd Jacobian
of its end point (brute-force log-density), and the exact trace (for Hutchinson's estimator)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from zuko.transforms import FreeFormJacobianTransform

from ovis.flows.ffjord import FFJORD, FFJORDTransform, TimeMLP


def _rk4(f, x, steps=100):
    """x(1) for dx/dt = f(t, x), x(0) = x, classical fixed-step Runge-Kutta (independent of zuko)."""
    h = 1.0 / steps
    t = torch.zeros((), dtype=x.dtype)
    for _ in range(steps):
        k1 = f(t, x)
        k2 = f(t + h / 2, x + h / 2 * k1)
        k3 = f(t + h / 2, x + h / 2 * k2)
        k4 = f(t + h, x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t = t + h
    return x


def _brute_force_log_prob(flow: FFJORD, x: torch.Tensor, c=None) -> torch.Tensor:
    """log p_0(T(x)) + log|det dT/dx| with T the composition of RK4 solves, Jacobian by autograd."""
    fs = [t.f for t in flow.transform.transforms]

    def T(v):
        for f in fs:
            v = _rk4(lambda t, z: f(t, z, c) if c is not None else f(t, z), v)
        return v

    n, d = x.shape
    out = []
    for i in range(n):  # one Jacobian per point
        J = torch.autograd.functional.jacobian(lambda v: T(v.unsqueeze(0) if c is None else v.expand(1, d))[0],
                                               x[i])
        out.append(torch.linalg.slogdet(J)[1])
    ladj = torch.stack(out)
    with torch.no_grad():
        z = T(x)
    base = flow.base() if c is None else flow.base(c)
    return base.log_prob(z) + ladj


@pytest.mark.parametrize("seed", [0, 1])
def test_log_prob_matches_brute_force(seed):
    torch.manual_seed(seed)
    flow = FFJORD(2, transforms=2, hidden=8, layers=3, base_scale=0.8, atol=1e-9, rtol=1e-7).double()
    for p in flow.parameters():  # a non-trivial field
        nn.init.normal_(p, std=0.7)
    x = torch.randn(4, 2, dtype=torch.float64)
    got = flow().log_prob(x)
    expected = _brute_force_log_prob(flow, x)
    assert (got - expected).abs().max().item() < 1e-3, (got, expected)
    # and the Jacobian is far from the identity (the test can fail)
    assert (expected - flow().base.log_prob(x)).abs().max().item() > 0.1


def test_conditional_log_prob_matches_brute_force():
    torch.manual_seed(3)
    flow = FFJORD(2, context=3, transforms=1, hidden=8, base_scale=1.0, atol=1e-9, rtol=1e-7).double()
    for p in flow.parameters():
        nn.init.normal_(p, std=0.7)
    c = torch.randn(1, 3, dtype=torch.float64)
    x = torch.randn(5, 2, dtype=torch.float64)
    got = flow(c.expand(5, 3)).log_prob(x)
    expected = _brute_force_log_prob(flow, x, c)
    assert (got - expected).abs().max().item() < 1e-3


def test_hutchinson_is_unbiased_for_the_exact_trace():
    torch.manual_seed(0)
    flow = FFJORD(2, transforms=2, hidden=8, base_scale=0.8, atol=1e-7, rtol=1e-5).double()
    for p in flow.parameters():
        nn.init.normal_(p, std=0.7)
    points = torch.randn(3, 2, dtype=torch.float64)
    n = 4000
    x = points.repeat_interleave(n, 0)  # each row draws its own probe
    with torch.no_grad():
        exact = flow().log_prob(points)
        flow.set_exact(False)
        draws = flow().log_prob(x).view(3, n)
    mean, se = draws.mean(1), draws.std(1) / math.sqrt(n)
    assert (draws.std(1) > 1e-3).all()  # the estimator is random
    z = (mean - exact) / se
    assert z.abs().max().item() < 4.0, (mean, exact, se)


def test_sampling_inverts_the_transform():
    torch.manual_seed(1)
    flow = FFJORD(2, transforms=3, hidden=8, atol=1e-8, rtol=1e-6).double()
    p = flow()
    x = p.sample((7,))
    assert x.shape == (7, 2)
    z = p.transform(x)
    torch.testing.assert_close(p.transform.inv(z), x, atol=1e-6, rtol=0)


def test_conditional_shapes_and_gradients():
    flow = FFJORD(3, context=4, transforms=2, hidden=16)
    c = torch.randn(5, 4, requires_grad=True)
    p = flow(c)
    assert p.batch_shape == (5,) and p.event_shape == (3,)
    z, log_q = p.rsample_and_log_prob()
    assert z.shape == (5, 3) and log_q.shape == (5,)
    log_q.sum().backward()
    assert c.grad is not None and c.grad.abs().sum() > 0
    assert all(q.grad is not None for q in flow.parameters())
    with pytest.raises(ValueError, match="conditional on a context of size 4"):
        flow.transform.transforms[0]()


def test_custom_state_derivative_and_bad_arguments():
    class Linear(nn.Module):  # f(t, z) = A z: log|det| of T = tr(A) exactly
        def __init__(self):
            super().__init__()
            self.A = nn.Parameter(torch.tensor([[0.3, 0.2], [-0.1, -0.5]], dtype=torch.float64))

        def forward(self, t, z, c=None):
            return z @ self.A.T

    flow = FFJORD(2, transforms=1, f=Linear, atol=1e-10, rtol=1e-8).double()
    x = torch.randn(4, 2, dtype=torch.float64)
    t = flow().transform
    torch.testing.assert_close(t.log_abs_det_jacobian(x, t(x)), torch.full((4,), -0.2, dtype=torch.float64))
    torch.testing.assert_close(t(x), x @ torch.linalg.matrix_exp(flow.transform.transforms[0].f.A).T)
    with pytest.raises(ValueError, match="tolerances must be positive"):
        FFJORDTransform(2, atol=0.0)
    with pytest.raises(ValueError, match="transforms >= 1"):
        FFJORD(2, transforms=0)
    with pytest.raises(ValueError, match="layers >= 1"):
        TimeMLP(2, layers=0)


@pytest.mark.parametrize("activation", [nn.Tanh, nn.Sigmoid, nn.Softplus, nn.SiLU])
@pytest.mark.parametrize("context", [0, 3])
def test_closed_form_trace_equals_the_autograd_jacobian_trace(activation, context):
    torch.manual_seed(0)
    f = TimeMLP(3, context=context, hidden=6, layers=4, activation=activation).double()
    z = torch.randn(2, 5, 3, dtype=torch.float64)
    c = torch.randn(5, context, dtype=torch.float64) if context else None
    t = torch.tensor(0.37, dtype=torch.float64)
    dz, trace = f.forward_and_trace(t, z, c)
    assert f.has_closed_form_trace and dz.shape == (2, 5, 3) and trace.shape == (2, 5)
    torch.testing.assert_close(dz, f(t, z, c), rtol=0, atol=1e-14)
    for i in range(2):
        for j in range(5):
            ci = c[j:j + 1] if c is not None else None
            J = torch.autograd.functional.jacobian(lambda v: f(t, v[None], ci)[0], z[i, j])
            assert abs(trace[i, j].item() - torch.trace(J).item()) < 1e-12


def test_closed_form_trace_gives_zukos_log_density_and_gradients():
    """The same transform with the trace in closed form and by zuko's vector-Jacobian products."""
    torch.manual_seed(1)
    flow = FFJORD(2, context=2, transforms=2, hidden=8, layers=3, atol=1e-8, rtol=1e-8).double()
    x, c = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, 2, dtype=torch.float64)
    results = []
    for closed in (True, False):
        for t in flow.transform.transforms:
            t.closed_form_trace = closed
        assert isinstance(flow.transform.transforms[0](c), FreeFormJacobianTransform)
        flow.zero_grad()
        lp = flow(c).log_prob(x)
        lp.sum().backward()
        torch.manual_seed(2)
        sample = flow(c).sample()
        results.append((lp.detach(), [p.grad.clone() for p in flow.parameters()], sample))
    (lp1, g1, s1), (lp2, g2, s2) = results
    torch.testing.assert_close(lp1, lp2, rtol=0, atol=1e-9)
    torch.testing.assert_close(s1, s2, rtol=0, atol=1e-12)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-9)


def test_activation_without_a_known_derivative_falls_back_to_autograd():
    f = TimeMLP(2, activation=nn.GELU)
    assert not f.has_closed_form_trace
    with pytest.raises(NotImplementedError, match="GELU"):
        f.forward_and_trace(torch.tensor(0.0), torch.randn(3, 2))
    transform = FFJORDTransform(2, f=f)()
    assert type(transform) is FreeFormJacobianTransform
    x = torch.randn(4, 2)
    assert torch.isfinite(transform.log_abs_det_jacobian(x, transform(x))).all()
