"""ovis.analysis.asymptotic: the study's pieces (toy at its optimum, slopes) and its command line."""
import math

import pytest
import torch

from ovis.analysis.asymptotic import (_chunked_samples, debiased_snr, fit_slope, log_grid, perturbed_toy, slopes,
                                     study_point)
from ovis.analysis.gradients import gradient_samples
from ovis.estimators import parse_estimator_id


def test_fit_slope_recovers_a_power_law_and_its_error():
    Ks = [3, 10, 30, 100]
    slope, se = fit_slope(Ks, [2.0 * k ** -0.5 for k in Ks])
    assert math.isclose(slope, -0.5, abs_tol=1e-12) and se < 1e-12
    noisy = [2.0 * k ** 0.5 * f for k, f in zip(Ks, [1.1, 0.9, 1.05, 0.97])]
    slope, se = fit_slope(Ks, noisy)
    assert abs(slope - 0.5) < 3 * se + 0.05 and se > 0
    with pytest.raises(ValueError, match="at least 3 values"):
        fit_slope([3, 10], [1.0, 2.0])


def test_log_grid():
    assert log_grid(3, 1000, 6)[0] == 3 and log_grid(3, 1000, 6)[-1] == 1000
    assert log_grid(1, 4, 10) == [1, 2, 3, 4]


def test_perturbed_toy_is_near_its_optimum():
    model, x = perturbed_toy(D=5, points=64, eps=0.01, seed=1)
    assert x.shape == (64, 5)
    mse = model.parameter_mse()
    assert 0 < float(mse["mse_phi"]) < 1e-3 and 0 < float(mse["mse_theta"]) < 1e-3
    model, _ = perturbed_toy(D=5, points=64, q_scale=2 / 3)
    assert model.q(x).base_dist.scale[0, 0] == pytest.approx(2 / 3)


def test_pathwise_snr_falls_and_ovis_snr_grows_with_k():
    """The paper's claim at small scale (D = 5, 64 points, K in {3, 10, 30}, a fixed seed): OVIS's SNR grows
    like sqrt(K); pathwise IWAE's does not grow (its -1/2 slope needs more K and samples than a unit test)."""
    model, x = perturbed_toy(D=5, points=64, seed=0)
    points = [study_point(e, K, model, x, samples=40, seed=0) for e in ("pathwise-iwae", "ovis-gamma0")
              for K in (3, 10, 30)]
    fitted = slopes(points)
    assert fitted["ovis-gamma0"][0] > 0.4
    assert fitted["ovis-gamma0"][0] > fitted["pathwise-iwae"][0] + 0.3


def test_debiased_snr_removes_the_floor_of_the_plain_snr():
    """Samples with a known SNR of 0.05 per parameter and M = 400: the plain mean |mean| / std is held
    up by the noise of the means (about 0.8 / sqrt(M) = 0.04), the debiased estimate is not."""
    g = 0.05 + torch.randn(400, 3000, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    mean, variance = g.mean(0), g.var(0)
    plain = float((mean.abs() / variance.sqrt()).mean())
    assert plain > 0.058
    assert debiased_snr(mean, variance, 400) == pytest.approx(0.05, rel=0.05)
    assert math.isnan(debiased_snr(torch.zeros(3), torch.ones(3), 10))


def test_ovis_mc_samples_over_data_chunks_have_the_full_batch_mean():
    """OVIS-MC gradient samples drawn over chunks of 2 data points estimate the same mean gradient as
    samples over the whole batch (4 standard errors), and store the samples of b[0]."""
    model, x = perturbed_toy(D=3, points=8, seed=1, eps=0.3)
    Estimator, config = parse_estimator_id("ovis-S1-exclusive")
    estimator = Estimator(mc=1, iw=3, **config)
    chunked = _chunked_samples(estimator, model, x, 300, seed=0, max_rows=2 * 6)
    whole = _chunked_samples(estimator, model, x, 300, seed=1, max_rows=1 << 18)
    se = ((chunked.var(0) + whole.var(0)) / 300).sqrt()
    assert ((chunked.mean(0) - whole.mean(0)).abs() < 4 * se + 1e-7).all()
    point = study_point("ovis-S1-exclusive", 3, model, x, samples=5, seed=0)
    assert len(point.bias_samples) == 5 and point.points == 8


@pytest.mark.parametrize("estimator_id", ["pathwise-iwae", "vimco-arithmetic"])
def test_chunked_samples_of_estimators_without_auxiliary_particles(estimator_id):
    """Estimators with no ``particles`` method take the chunked path when ``points * K > max_rows``; its
    samples over chunks of 2 data points have the vectorised pass's mean gradient (4 standard errors)."""
    model, x = perturbed_toy(D=3, points=8, seed=1, eps=0.3)
    Estimator, config = parse_estimator_id(estimator_id)
    estimator = Estimator(mc=1, iw=3, **config)
    chunked = _chunked_samples(estimator, model, x, 400, seed=0, max_rows=2 * 3)
    whole = gradient_samples(estimator, model, x, mc_samples=400, key_filter="inference_network", seed=1).matrix()
    se = ((chunked.var(0) + whole.var(0)) / 400).sqrt()
    assert ((chunked.mean(0) - whole.mean(0)).abs() < 4 * se + 1e-7).all()
    point = study_point(estimator_id, 3, model, x, samples=5, seed=0, max_rows=6)
    assert len(point.bias_samples) == 5 and point.points == 8 and point.snr > 0
