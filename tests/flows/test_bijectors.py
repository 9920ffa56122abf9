"""Properties of ovis.flows.bijectors over random parameters, batch shapes and dtypes.

References are independent of the code under test: the autograd Jacobian (for log|det|), the
round trip (for the inverse) and the change-of-variables formula written with the autograd Jacobian
of the inverse (for TransformedDistribution.log_prob).
"""
from __future__ import annotations

import pytest
import torch
from torch.distributions import (AffineTransform, ComposeTransform, ExpTransform, Independent, Normal,
                                 SigmoidTransform, TransformedDistribution, constraints)

from ovis.flows.bijectors import Cubic, GumbelCDF, ScaleMatvecDiag, ScaleMatvecTriL, Softfloor, Trainable

BATCHES = [(), (3,), (2, 3)]
D = 3  # event size of the matrix-vector bijectors


def _uniform(g, shape, lo, hi, dtype):
    return lo + (hi - lo) * torch.rand(shape, generator=g, dtype=dtype)


def _random_tril(g, batch, dtype):
    L = torch.randn(*batch, D, D, generator=g, dtype=dtype).tril(-1) * 0.5
    diag = _uniform(g, (*batch, D), 0.5, 2.0, dtype) * torch.where(torch.rand(*batch, D, generator=g) < 0.5, -1, 1)
    return L + torch.diag_embed(diag)


# name -> (event_dim, builder(generator, batch, dtype) -> transform, sampler of x in the domain)
def _softfloor(g, batch, dtype):
    return Softfloor(_uniform(g, batch, 0.2, 3.0, dtype))


def _gumbel(g, batch, dtype):
    return GumbelCDF(torch.randn(batch, generator=g, dtype=dtype), _uniform(g, batch, 0.5, 2.0, dtype))


def _cubic(g, batch, dtype):
    a = _uniform(g, batch, 0.5, 2.0, dtype) * torch.where(torch.rand(batch, generator=g) < 0.5, -1, 1)
    return Cubic(a, torch.randn(batch, generator=g, dtype=dtype))


def _tril(g, batch, dtype):
    return ScaleMatvecTriL(_random_tril(g, batch, dtype))


def _diag(g, batch, dtype):
    s = _uniform(g, (*batch, D), 0.3, 3.0, dtype) * torch.where(torch.rand(*batch, D, generator=g) < 0.5, -1, 1)
    return ScaleMatvecDiag(s)


def _compose_elementwise(g, batch, dtype):
    # well conditioned in float32: the Gumbel CDF sees moderate inputs
    return ComposeTransform([_softfloor(g, batch, dtype), _gumbel(g, batch, dtype),
                             SigmoidTransform().inv, AffineTransform(0.5, 2.0), _cubic(g, batch, dtype)])


def _compose_matvec(g, batch, dtype):
    return ComposeTransform([_tril(g, batch, dtype), _diag(g, batch, dtype), _tril(g, batch, dtype)])


def _gumbel_logit(g, batch, dtype):  # R -> (0, 1) -> R
    return ComposeTransform([_gumbel(g, batch, dtype), SigmoidTransform().inv])


CASES = {
    "softfloor": (0, _softfloor), "gumbel_cdf": (0, _gumbel), "cubic": (0, _cubic),
    "scale_matvec_tril": (1, _tril), "scale_matvec_diag": (1, _diag),
    "compose_elementwise": (0, _compose_elementwise), "compose_matvec": (1, _compose_matvec),
    "gumbel_then_logit": (0, _gumbel_logit),
}


def _x(g, event_dim, batch, dtype):
    return torch.randn((*batch, *((D,) * event_dim)), generator=g, dtype=dtype)


def _log_abs_det_autograd(f, x, event_dim):
    """log|det df/dx| per batch element from the full autograd Jacobian of the flattened map."""
    batch = x.shape[:x.dim() - event_dim]
    d = D if event_dim else 1
    J = torch.autograd.functional.jacobian(lambda v: f(v.reshape(x.shape)).reshape(-1), x.reshape(-1))
    n = J.shape[0] // d
    J = J.reshape(n, d, n, d)
    blocks = J[torch.arange(n), :, torch.arange(n), :]  # [n, d, d]
    # the map acts independently on each batch element (and, for event_dim 0, on each entry)
    off = J.clone()
    off[torch.arange(n), :, torch.arange(n), :] = 0
    assert off.abs().max() == 0
    return torch.linalg.slogdet(blocks)[1].reshape(batch)


def _both_directions(name, seed, batch, dtype):
    """The transform and its inverse, each with an input in its domain."""
    g = torch.Generator().manual_seed(seed)
    event_dim, build = CASES[name]
    t = build(g, batch, dtype)
    x = _x(g, event_dim, batch, dtype)
    return [(t, x), (t.inv, t(x))], event_dim


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("seed", [0, 1])
def test_inverse_of_forward(name, batch, dtype, tol, seed):
    for t, x in _both_directions(name, seed, batch, dtype)[0]:
        y = t(x)
        assert y.shape == x.shape and y.dtype == dtype
        assert t.codomain.check(y).all() if t.codomain.event_dim == 0 else True
        back = t.inv(y)
        scale = 1.0 if dtype == torch.float64 else 1.0 + x.abs().max().item()
        assert (back - x).abs().max().item() <= tol * scale, (name, (back - x).abs().max().item())


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_log_abs_det_jacobian_matches_autograd(name, batch, seed):
    pairs, event_dim = _both_directions(name, seed, batch, torch.float64)
    for t, x in pairs:
        ladj = t.log_abs_det_jacobian(x, t(x))
        expected = _log_abs_det_autograd(t, x, event_dim)
        if event_dim == 0 and t.domain.event_dim == 0:
            assert ladj.shape == x.shape
        torch.testing.assert_close(ladj.expand(expected.shape), expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["softfloor", "gumbel_cdf", "cubic"])
def test_sign_is_the_sign_of_the_derivative(name):
    g = torch.Generator().manual_seed(3)
    t = CASES[name][1](g, (5,), torch.float64)
    x = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    dy = torch.autograd.grad(t(x).sum(), x)[0]
    assert torch.equal(torch.sign(dy), torch.as_tensor(t.sign, dtype=dy.dtype).expand(5))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("batch", [(), (4,)])
def test_transformed_distribution_is_change_of_variables(name, batch):
    """log p_Y(y) = log p_X(f^-1(y)) + log|det d f^-1 / dy| with the autograd Jacobian of f^-1."""
    g = torch.Generator().manual_seed(7)
    event_dim, build = CASES[name]
    t = build(g, batch, torch.float64)
    shape = (*batch, *((D,) * event_dim))
    base = Normal(torch.zeros(shape, dtype=torch.float64), torch.ones(shape, dtype=torch.float64))
    base = Independent(base, event_dim) if event_dim else base
    q = TransformedDistribution(base, [t])
    y = q.sample()
    x = t.inv(y)
    expected = base.log_prob(x) + _log_abs_det_autograd(t.inv, y, event_dim)
    torch.testing.assert_close(q.log_prob(y), expected, atol=1e-6, rtol=1e-6)
    assert q.batch_shape == batch and q.event_shape == shape[len(batch):]


def test_softfloor_limits():
    x = torch.linspace(-3.2, 3.2, 41, dtype=torch.float64)
    x = x[(x - x.round()).abs() > 0.05]  # away from the jumps of floor
    torch.testing.assert_close(Softfloor(torch.tensor(1e-3, dtype=torch.float64))(x), torch.floor(x))
    torch.testing.assert_close(Softfloor(torch.tensor(1e4, dtype=torch.float64))(x), x - 0.5, atol=1e-6, rtol=0)


def test_gumbel_cdf_is_the_gumbel_distribution_function():
    from torch.distributions import Gumbel
    x = torch.linspace(-3, 5, 9, dtype=torch.float64)
    loc, scale = torch.tensor(0.7, dtype=torch.float64), torch.tensor(1.3, dtype=torch.float64)
    torch.testing.assert_close(GumbelCDF(loc, scale)(x), Gumbel(loc, scale).cdf(x))


@pytest.mark.parametrize("bad", [torch.zeros(3), torch.zeros(2, 3)])
def test_scale_tril_shape_is_checked(bad):
    with pytest.raises(ValueError, match="scale_tril must be"):
        ScaleMatvecTriL(bad)


def test_trainable_returns_transform_with_learned_parameters():
    t = Trainable(GumbelCDF, loc=0.3, scale=(2.0, constraints.positive))
    assert sorted(n for n, _ in t.named_parameters()) == ["loc", "scale"]
    torch.testing.assert_close(t.constrained()["scale"], torch.tensor(2.0))
    q = TransformedDistribution(Normal(0.0, 1.0), [t()])
    q.log_prob(torch.tensor(0.4)).backward()
    assert all(p.grad is not None and p.grad.abs() > 0 for p in t.parameters())
    state = t.state_dict()
    t2 = Trainable(GumbelCDF, loc=0.0, scale=(1.0, constraints.positive))
    t2.load_state_dict(state)
    torch.testing.assert_close(t2().scale, t().scale)


def test_trainable_invert_and_lower_cholesky():
    L0 = torch.tensor([[1.5, 0.0], [0.3, 0.7]])
    t = Trainable(ScaleMatvecTriL, invert=True, scale_tril=(L0, constraints.lower_cholesky))
    torch.testing.assert_close(t.constrained()["scale_tril"], L0)
    x = torch.randn(4, 2)
    torch.testing.assert_close(t()(x), torch.linalg.solve_triangular(L0, x.unsqueeze(-1), upper=False).squeeze(-1))


def test_trainable_rejects_bad_arguments():
    with pytest.raises(TypeError, match="Transform subclass"):
        Trainable(int, a=1.0)
    with pytest.raises(ValueError, match="value, constraint"):
        Trainable(Cubic, a=(1.0, 2.0))


def test_exp_composes_with_ovis_bijectors():
    t = ComposeTransform([Cubic(1.0, 0.5), ExpTransform()])
    x = torch.tensor([0.1, -2.0], dtype=torch.float64)
    torch.testing.assert_close(t(x), torch.exp((x + 0.5) ** 3))
