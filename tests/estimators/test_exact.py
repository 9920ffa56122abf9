"""Every estimator id, over a grid of options, against the exact gradient of what it estimates.

The exact mean of each estimator's gradient is computed by enumerating every particle tuple
(categorical toy, C = 3) or by Gauss-Hermite quadrature over the reparameterisation noise
(linear Gaussian toy), see :mod:`tests.estimators.exact`; no sampling, float64. Then:

* an estimator documented as **unbiased** must match the exact gradient of its bound (written
  independently from the definition, :mod:`tests.estimators.naive`) to 1e-8 relative;
* an estimator documented as **biased** must match the exact mean of a naive reference
  implementation of its definition (to 1e-8), and, at the default options, its relative bias
  against ``grad L_K`` must be the number its docstring and the README state (:data:`DOCUMENTED`).

Grid: alpha in {0, 0.3, -0.5} (TVO: 0), beta in {0.5, 1, 1.3}, free bits off / holding the layer,
mc in {1, 2}, K in {1, 2, 3, 4}, where the enumeration stays below 3^8 tuples per data point (and
4 noises for the quadrature). Auxiliary particles of OVIS-MC are enumerated too.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Callable, Dict, List, Optional, Tuple

import pytest
import torch

from ovis.estimators import parse_estimator_id

from . import exact, naive
from .toys import CategoricalToy, LinearGaussianToy

ALPHAS = (0.0, 0.3, -0.5)
BETAS = (0.5, 1.0, 1.3)
FREEBITS = (None, exact.HELD)
GRID = list(itertools.product(ALPHAS, BETAS, FREEBITS))
MAX_CATEGORICAL = 8  # particles enumerated per data point (3^8 tuples)
MAX_GAUSSIAN = 4  # noises integrated per data point
TOL = 1e-8
#: Gauss-Hermite nodes per noise, by number of noises. Where the estimator's integrand is the
#: gradient of the target's (pathwise, IWAE, VAE; STL against its reference) the two quadratures agree
#: to rounding with any number of nodes. DReG's integrand differs from the bound's by a term whose
#: integral is 0 (the reparameterisation identity), so its check is limited by the quadrature's
#: accuracy: below 1e-9 with 32 nodes for up to 3 noises, 5e-7 with 18 nodes for 4 (DRE_TOL).
NODES = {1: 16, 2: 12, 3: 10, 4: 8}
DREG_NODES = {1: 64, 2: 48, 3: 32, 4: 18}
DREG_TOL = {1: TOL, 2: TOL, 3: TOL, 4: 1e-6}

XS_CAT = torch.tensor([[0.3], [-1.2]], dtype=torch.float64)
XS_GAUSS = torch.tensor([[0.8], [-1.5]], dtype=torch.float64)
MAX_ROWS = 20000  # above this many draws per data point, the second data point is left out (CI time)


def data(toy: str, draws: int) -> torch.Tensor:
    """The data points of a case: both, or the first alone when each needs more than MAX_ROWS draws."""
    xs = XS_CAT if toy == "categorical" else XS_GAUSS
    return xs if draws <= MAX_ROWS else xs[:1]


def categorical_model() -> CategoricalToy:
    return CategoricalToy(C=3, seed=1)


def gaussian_model() -> LinearGaussianToy:
    return LinearGaussianToy(seed=3)


@dataclasses.dataclass(frozen=True)
class Spec:
    """What an estimator id evaluates and what it must match.

    ``particles(K)``: particles evaluated per Monte-Carlo sample; ``bound(K, mc)``: the K of the
    bound it is unbiased for (``None``: biased, compared with ``reference``);
    ``reference(terms, K, alpha, beta, held)``: a naive estimator of one Monte-Carlo sample.
    """

    eid: str
    toy: str  # "categorical" or "gaussian"
    particles: Callable[[int], int] = lambda K: K
    bound: Optional[Callable[[int, int], int]] = lambda K, mc: K
    reference: Optional[Callable] = None
    Ks: Tuple[int, ...] = (1, 2, 3, 4)
    alphas: Tuple[float, ...] = ALPHAS
    generative_unbiased: bool = True  # the generative part matches grad_theta L_K also when biased
    layout: Optional[Callable[[int, int], Tuple[int, int]]] = None  # (mc, per-sample) of the reference


def sf(baseline) -> Callable:
    return lambda terms, K, alpha, beta, held: naive.score_function(terms, K, alpha, beta, held, baseline)


def gamma_reference(gamma: float, base: str) -> Callable:
    def reference(terms, K, alpha, beta, held):
        cv = lambda lw, aux: naive.ovis_gamma_baselines(lw, gamma, alpha, base)
        return naive.score_function(terms, K, alpha, beta, held, cv)
    return reference


def tvo_reference(num_partition: int, log_beta_min: float, integration: str,
                  config: Optional[str] = None) -> Callable:
    def reference(terms, K, alpha, beta, held):
        lbm = log_beta_min
        if config is not None:
            small, mid, large = {"config1": (5e-2, 2e-1, 3e-1), "config2": (1e-2, 2e-2, 3e-2)}[config]
            lbm = math.log10(small if K < 10 else mid if K < 30 else large)
        partition = naive.tvo_partition(num_partition, lbm)
        return naive.tvo(terms, beta, held, partition, naive.riemann_weights(partition, integration))
    return reference


def ovis_mc_particles(y: float, exclusive: bool) -> Callable[[int], int]:
    return (lambda K: K + max(1, round(y * K))) if exclusive else (lambda K: K)


def ovis_mc_bound(y: float, exclusive: bool) -> Callable[[int, int], int]:
    return (lambda K, mc: K) if exclusive else (lambda K, mc: K - max(1, round(y * K)))


SPECS: List[Spec] = [
    # reparameterised family: Gaussian toy
    Spec("pathwise", "gaussian"),
    Spec("pathwise-iwae", "gaussian", bound=lambda K, mc: mc * K, layout=lambda K, mc: (1, mc * K)),
    Spec("pathwise-vae", "gaussian", bound=lambda K, mc: 1, layout=lambda K, mc: (mc * K, 1)),
    Spec("dreg", "gaussian"),
    Spec("stl", "gaussian", bound=None,
         reference=lambda terms, K, alpha, beta, held: naive.sticking_the_landing(terms, alpha, beta, held)),
    # score-function family: categorical toy
    Spec("reinforce", "categorical"),
    Spec("reinforce-baseline", "categorical"),
    Spec("vimco-arithmetic", "categorical"),
    Spec("vimco-geometric", "categorical"),
    Spec("ovis-gamma0", "categorical"),
    Spec("ovis-gamma0-arithmetic", "categorical"),
    Spec("ovis-gamma0-geometric", "categorical"),
    Spec("ovis-S1-exclusive", "categorical", particles=ovis_mc_particles(1, True)),
    Spec("ovis-S2-exclusive", "categorical", particles=ovis_mc_particles(2, True)),
    Spec("ovis-S0.5-exclusive", "categorical", particles=ovis_mc_particles(0.5, True)),
    Spec("ovis-S0.5", "categorical", bound=ovis_mc_bound(0.5, False), Ks=(2, 3, 4)),
    Spec("ovis-S0.25", "categorical", bound=ovis_mc_bound(0.25, False), Ks=(2, 3, 4)),
    Spec("ovis-gamma1", "categorical", bound=None, reference=gamma_reference(1.0, "default"),
         generative_unbiased=True),
    Spec("ovis-gamma0.5", "categorical", bound=None, reference=gamma_reference(0.5, "default")),
    Spec("ovis-gamma1-arithmetic", "categorical", bound=None, reference=gamma_reference(1.0, "arithmetic")),
    Spec("ovis-gamma1-geometric", "categorical", bound=None, reference=gamma_reference(1.0, "geometric")),
    Spec("wake-wake", "categorical", bound=None,
         reference=lambda terms, K, alpha, beta, held: naive.wake_wake(terms, alpha, beta, held)),
    Spec("wake-sleep", "categorical", bound=None,
         reference=lambda terms, K, alpha, beta, held: naive.wake_wake(terms, alpha, beta, held, inference=False)),
    Spec("tvo", "categorical", bound=None, reference=tvo_reference(2, -10.0, "left"), alphas=(0.0,),
         generative_unbiased=False),
    Spec("tvo-part3-beta2-trapz", "categorical", bound=None, reference=tvo_reference(3, -2.0, "trapz"),
         alphas=(0.0,), generative_unbiased=False),
    Spec("tvo-part2-config1-right", "categorical", bound=None, reference=tvo_reference(2, -10.0, "right", "config1"),
         alphas=(0.0,), generative_unbiased=False),
]
BY_ID = {spec.eid: spec for spec in SPECS}


def build(eid: str, K: int, model) -> torch.nn.Module:
    Estimator, config = parse_estimator_id(eid)
    est = Estimator(mc=1, iw=K, **config)
    if config.get("baseline"):
        est(model, XS_CAT.float().double())  # materialise the lazy baseline network
    return est.double()


def cases() -> List[Tuple[str, int, int]]:
    out = []
    for spec in SPECS:
        limit = MAX_CATEGORICAL if spec.toy == "categorical" else MAX_GAUSSIAN
        for K, mc in itertools.product(spec.Ks, (1, 2)):
            if mc * spec.particles(K) <= limit:
                out.append((spec.eid, K, mc))
    return out


_TARGETS: Dict[Tuple, torch.Tensor] = {}


def bound_gradient(toy: str, model, xs: torch.Tensor, K: int, alpha: float, beta: float, held: bool,
                   M: Optional[int]) -> torch.Tensor:
    key = (toy, K, alpha, beta, held, M, xs.shape[0])
    if key not in _TARGETS:
        if toy == "categorical":
            _TARGETS[key] = exact.categorical_bound_gradient(model, xs, K, alpha, beta, held)
        else:
            _TARGETS[key] = exact.gaussian_bound_gradient(model, xs, K, M, alpha, beta, held)
    return _TARGETS[key]


def estimator_mean(spec: Spec, est, model, xs, K: int, mc: int, M: Optional[int], **options) -> torch.Tensor:
    n = mc * spec.particles(K)
    if spec.toy == "categorical":
        return exact.categorical_estimator_mean(est, model, xs, n, mc=mc, **options)
    return exact.gaussian_estimator_mean(est, model, xs, n, M, mc=mc, **options)


def reference_mean(spec: Spec, model, xs, K: int, mc: int, M: Optional[int], alpha: float, beta: float,
                   held: bool) -> torch.Tensor:
    n = mc * spec.particles(K)
    groups, per = spec.layout(K, mc) if spec.layout else (mc, spec.particles(K))
    return exact.reference_mean(model, xs, n, groups,
                                lambda terms: spec.reference(terms, per, alpha, beta, held), M)


@pytest.mark.parametrize("eid,K,mc", cases())
def test_exact_mean_over_option_grid(eid, K, mc):
    spec = BY_ID[eid]
    model = categorical_model() if spec.toy == "categorical" else gaussian_model()
    n = mc * spec.particles(K)
    M = None if spec.toy == "categorical" else (DREG_NODES if eid == "dreg" else NODES)[n]
    tol = DREG_TOL[n] if eid == "dreg" else TOL
    xs = data(spec.toy, 3 ** n if M is None else M ** n)
    est = build(eid, K, model)
    failures = []
    for alpha, beta, freebits in GRID:
        if alpha not in spec.alphas:
            continue
        held = freebits is not None
        mean = estimator_mean(spec, est, model, xs, K, mc, M, alpha=alpha, beta=beta, freebits=freebits)
        if spec.bound is not None:
            target = bound_gradient(spec.toy, model, xs, spec.bound(K, mc), alpha, beta, held, M)
            what = f"grad L_{spec.bound(K, mc)}"
        else:
            target = reference_mean(spec, model, xs, K, mc, M, alpha, beta, held)
            what = "its definition's exact mean"
        # wake-sleep's phi gradient comes from its sleep phase (random draws here; see test_sleep_phase_exact)
        mask = ~exact.inference_mask(model) if eid == "wake-sleep" else None
        err = exact.relative_error(mean, target, mask)
        if not err < tol:
            failures.append(f"alpha={alpha} beta={beta} freebits={freebits}: relative error {err:.2e} against {what}")
        if spec.bound is None and spec.generative_unbiased:
            gen = ~exact.inference_mask(model)
            full = bound_gradient(spec.toy, model, xs, K, alpha, beta, held, M)
            err = exact.relative_error(mean, full, gen)
            if not err < TOL:
                failures.append(f"alpha={alpha} beta={beta} freebits={freebits}: generative part off grad L_K "
                                f"by {err:.2e}")
    assert not failures, f"{eid} K={K} mc={mc}:\n" + "\n".join(failures)


# ---------------------------------------------------------------------------------- documented biases
#: (estimator id, K) -> (relative bias of the full gradient, of the inference gradient) against
#: grad L_K at the default options (alpha 0, beta 1, mc 1, no free bits), exact. Categorical toy
#: (C = 3, seed 1, x in {0.3, -1.2}) except STL (linear Gaussian toy, seed 3, x in {0.8, -1.5}). These
#: are the numbers of the estimators' docstrings and of the README (checked below).
DOCUMENTED: Dict[Tuple[str, int], Tuple[float, float]] = {
    ("ovis-gamma1", 2): (0.50, 0.87), ("ovis-gamma1", 3): (0.85, 1.80), ("ovis-gamma1", 4): (1.07, 2.75),
    ("ovis-gamma0.5", 2): (0.25, 0.44), ("ovis-gamma0.5", 3): (0.43, 0.90), ("ovis-gamma0.5", 4): (0.53, 1.38),
    ("wake-wake", 2): (0.08, 0.14), ("wake-wake", 3): (0.38, 0.80), ("wake-wake", 4): (0.68, 1.76),
    ("wake-sleep", 2): (None, 1.33), ("wake-sleep", 3): (None, 2.49), ("wake-sleep", 4): (None, 3.70),
    ("tvo", 2): (0.71, 0.87), ("tvo", 3): (1.20, 1.84), ("tvo", 4): (1.51, 2.84),
    ("stl", 2): (0.73, 1.08), ("stl", 3): (1.13, 2.15),
}
SLEEP_NODES = 80


def exact_bias(eid: str, K: int) -> Tuple[Optional[float], float]:
    spec = BY_ID[eid]
    if spec.toy == "categorical":
        model = categorical_model()
        target = exact.categorical_bound_gradient(model, XS_CAT, K)
    else:
        model = gaussian_model()
        M = DREG_NODES[K]
        target = exact.gaussian_bound_gradient(model, XS_GAUSS, K, M)
    inference = exact.inference_mask(model)
    est = build(eid, K, model)
    if eid == "wake-sleep":  # the phi gradient is the sleep phase's, the same for every data point
        sleep = exact.sleep_estimator_mean(est, model, K, SLEEP_NODES) * XS_CAT.shape[0]
        return None, exact.relative_error(sleep, target, inference)
    xs = XS_CAT if spec.toy == "categorical" else XS_GAUSS
    mean = estimator_mean(spec, est, model, xs, K, 1, None if spec.toy == "categorical" else DREG_NODES[K])
    return exact.relative_error(mean, target), exact.relative_error(mean, target, inference)


@pytest.mark.parametrize("eid,K", sorted(DOCUMENTED))
def test_documented_bias(eid, K):
    full, inference = exact_bias(eid, K)
    doc_full, doc_inference = DOCUMENTED[eid, K]
    assert abs(inference - doc_inference) < 0.005, (eid, K, inference)
    if doc_full is not None:
        assert abs(full - doc_full) < 0.005, (eid, K, full)


def _docstring(eid: str) -> str:
    Estimator, _ = parse_estimator_id(eid)
    import inspect
    return inspect.getdoc(Estimator) + "\n" + (inspect.getdoc(inspect.getmodule(Estimator)) or "")


@pytest.mark.parametrize("eid", sorted({eid for eid, _ in DOCUMENTED}))
def test_documented_bias_is_the_one_in_the_docs(eid):
    """Every number of :data:`DOCUMENTED` appears in the estimator's docstring and in the README."""
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    doc = _docstring(eid)
    for (e, K), (full, inference) in DOCUMENTED.items():
        if e != eid:
            continue
        for value in (full, inference):
            if value is not None:
                assert f"{value:.2f}" in doc, (eid, K, value, "docstring")
        assert f"{inference:.2f}" in readme, (eid, K, inference, "README")


def test_sleep_phase_exact():
    """wake-sleep's phi gradient is the sleep phase's ``E_{p(z)p(x|z)}[grad log q(z|x)]`` (every option)."""
    model = categorical_model()
    inference = exact.inference_mask(model)
    reference = exact.sleep_reference_mean(model, 20)
    for K, mc in [(1, 1), (2, 2), (3, 1)]:
        est = build("wake-sleep", K, model)
        for alpha, beta, freebits in GRID:
            mean = exact.sleep_estimator_mean(est, model, mc * K, 20, mc=mc, alpha=alpha, beta=beta,
                                              freebits=freebits)
            assert exact.relative_error(mean, reference, inference) < TOL, (K, mc, alpha, beta, freebits)


# ---------------------------------------------------------------------------------- variance
class RowParameterToy(CategoricalToy):
    """The categorical toy whose inference parameters can be given per row, to read per-row gradients."""

    rows = None  # (a [N, C], b [N, C])

    def q_logits(self, x):
        if self.rows is not None and self.rows[0].shape[0] == x.shape[0]:
            return self.rows[0] + self.rows[1] * x
        return super().q_logits(x)


def inference_variance(eid: str, K: int) -> Tuple[float, torch.Tensor]:
    """Exact trace of the covariance of the inference gradient at x = 0.3, and its mean."""
    model = RowParameterToy(C=3, seed=1)
    est = build(eid, K, model)
    x_rows, z, prob = exact.categorical_draws(model, XS_CAT[:1], K)
    R = x_rows.shape[0]
    a = model.inference_network["a"].detach().expand(R, 3).clone().requires_grad_()
    b = model.inference_network["b"].detach().expand(R, 3).clone().requires_grad_()
    model.rows = (a.repeat_interleave(K, 0), b.repeat_interleave(K, 0))
    model.fixed_z = z.reshape(-1)
    loss = est(model, x_rows)[0]
    ga, gb = torch.autograd.grad(-loss.sum(), (a, b))
    g = torch.cat([ga, gb], 1)  # [R, 6] gradient of each tuple
    mean = (prob[:, None] * g).sum(0)
    second = (prob * (g ** 2).sum(1)).sum()
    return float(second - (mean ** 2).sum()), mean


def test_ovis_gamma0_arithmetic_has_the_variance_of_ovis_gamma0():
    """The (1 - gamma) log(1 - 1/K) term: without it ovis-gamma0-arithmetic is vimco-arithmetic (36x the
    variance at K = 4 on this toy)."""
    var_default, mean_default = inference_variance("ovis-gamma0", 4)
    var_arith, mean_arith = inference_variance("ovis-gamma0-arithmetic", 4)
    var_vimco, mean_vimco = inference_variance("vimco-arithmetic", 4)
    torch.testing.assert_close(mean_arith, mean_default, rtol=1e-10, atol=1e-12)  # both unbiased
    torch.testing.assert_close(mean_vimco, mean_default, rtol=1e-10, atol=1e-12)
    assert abs(var_arith / var_default - 1) < 0.1, (var_arith, var_default)
    assert var_vimco > 10 * var_arith, (var_vimco, var_arith)


# ---------------------------------------------------------------------------------- zero weights
ZERO_WEIGHT_IDS = [spec.eid for spec in SPECS if spec.toy == "categorical"]


@pytest.mark.parametrize("eid", ZERO_WEIGHT_IDS)
@pytest.mark.parametrize("K", [2, 3])
def test_zero_weight_particles_give_finite_values(eid, K):
    """Class 0 is impossible under p(z) (log w = -inf) but likely under q. Every tuple in which each
    Monte-Carlo sample keeps one particle of finite weight gets a finite loss and finite gradients,
    equal to the reference estimator's (and, for unbiased estimators, the exact mean over those tuples
    is the reference's too)."""
    spec = BY_ID[eid]
    n = spec.particles(K)
    if (spec.bound is not None and spec.bound(K, 1) < 1) or 3 ** n > 3 ** MAX_CATEGORICAL:
        pytest.skip("not enumerable")
    model = categorical_model()
    model.prior_mask[0] = -math.inf
    est = build(eid, K, model)
    x_rows, z, prob = exact.categorical_draws(model, XS_CAT, n)
    bound_particles = spec.bound(K, 1) if spec.bound is not None else K
    keep = (z[:, :bound_particles] != 0).any(1)  # the bound's particles: one of finite weight
    x_rows, z, prob = x_rows[keep], z[keep], prob[keep]
    model.fixed_z = z.reshape(-1)
    loss = est(model, x_rows)[0]
    model.fixed_z = None
    assert torch.isfinite(loss).all(), loss
    grads = exact.gradient(-(prob * loss).sum(), model)
    assert torch.isfinite(grads).all(), grads
    # the same tuples through the reference estimator of the definition
    reference = spec.reference or sf_reference(eid)
    terms = exact.categorical_terms(model, x_rows, z)
    values = reference(lambda **flags: terms, bound_particles, 0.0, 1.0, False)
    expected = exact.gradient((prob * values).sum(), model)
    if eid == "wake-sleep":
        mask = ~exact.inference_mask(model)
        grads, expected = grads[mask], expected[mask]
    torch.testing.assert_close(grads, expected, rtol=1e-9, atol=1e-12)


def sf_reference(eid: str) -> Callable:
    """The naive score-function estimator with the baseline of an unbiased id (zero-weight tests)."""
    Estimator, config = parse_estimator_id(eid)
    if eid.startswith("vimco"):
        cv = lambda lw, aux: naive.vimco_baselines(lw, config["arithmetic"], 0.0)
    elif eid.startswith("ovis-gamma"):
        cv = lambda lw, aux: naive.ovis_gamma_baselines(lw, config["gamma"], 0.0, config["base"])
    elif eid.startswith("ovis-S"):
        cv = lambda lw, aux: naive.ovis_mc_baselines(lw, aux, 0.0)
    elif eid == "reinforce-baseline":
        pytest.skip("the learned baseline c(x) is not part of the reference; reinforce covers the signal")
    else:
        cv = None
    return lambda terms, K, alpha, beta, held: naive.score_function(terms, K, alpha, beta, held, cv)
