"""The asymptotic-variance study (figure 1 of the OVIS paper): gradient SNR against K.

On the linear Gaussian toy of Rainforth et al. (2018), with the parameters at the closed-form
optimum perturbed by ``eps * N(0, 1)``, draw gradient samples of the inference network for each
estimator and number of particles K, and report their SNR, variance and DSNR. The claim under
test: with a good control variate the SNR of the score-function gradient of the IW bound grows
like ``sqrt(K)``, while the pathwise IWAE gradient's falls like ``1 / sqrt(K)``. Slopes are
fitted on log-log axes by least squares, with their standard errors.

References:
    Rainforth et al. (2018), Tighter Variational Bounds are Not Necessarily Better,
    arXiv:1802.04537 (section 5: D = 20, 1,024 data points).
    Lievin, Dittadi, Christensen, Winther (2020), Optimal Variance Control of the Score Function
    Gradient Estimator for Importance Weighted Bounds, NeurIPS, arXiv:2008.01998 (figure 1).
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch

from ..estimators.config import parse_estimator_id
from ..models.gaussian_toy import GaussianToy, sample_gaussian_toy
from .gradients import gradient_samples, reduce_gradient_samples, select_parameters

__all__ = ["StudyPoint", "perturbed_toy", "study_point", "debiased_snr", "fit_slope", "log_grid", "ESTIMATORS"]

#: the estimators of the paper's figure 1
ESTIMATORS = ("pathwise-iwae", "dreg", "vimco-arithmetic", "ovis-gamma0", "ovis-gamma1", "ovis-S1-exclusive",
              "ovis-S10-exclusive", "ovis-S50-exclusive")


@dataclasses.dataclass
class StudyPoint:
    """The statistics of one (estimator, K) pair.

    ``snr`` is the mean over parameters of ``|mean_j| / std_j`` from the M samples; it cannot fall
    below about ``0.8 / sqrt(M)`` (the mean absolute value of the sampling noise of ``mean_j``), a
    floor that the decreasing SNR of ``pathwise-iwae`` reaches at large K. ``snr_debiased`` is
    ``sqrt(mean_j (mean_j^2 - var_j / M) / var_j)``, the root mean square SNR with the noise of
    ``mean_j^2`` removed (``E[mean_j^2] = g_j^2 + sigma_j^2 / M``), which has no such floor (``nan``
    where the estimate is negative). ``bias_samples``: the M samples of the gradient of the first
    entry of the bias ``b`` of ``q``, for the distribution-of-gradients figure.
    """

    estimator: str
    K: int
    snr: float
    variance: float
    dsnr: float
    magnitude: float
    samples: int
    points: int
    seconds: float
    seed: int
    snr_debiased: float = float("nan")
    bias_samples: Optional[List[float]] = None


def log_grid(low: int, high: int, count: int) -> List[int]:
    """About ``count`` integers spaced evenly in log between ``low`` and ``high`` (both included).

    Example:
        >>> log_grid(3, 1000, 6)
        [3, 10, 31, 98, 313, 1000]
    """
    values = [round(math.exp(math.log(low) + (math.log(high) - math.log(low)) * i / (count - 1)))
              for i in range(count)]
    return sorted(set(values))


def perturbed_toy(D: int = 20, points: int = 1024, eps: float = 0.01, q_scale: Optional[float] = None,
                  seed: int = 0) -> Tuple[GaussianToy, torch.Tensor]:
    """The toy at its optimum for ``points`` data points, parameters perturbed by ``eps * N(0, 1)``."""
    generator = torch.Generator().manual_seed(seed)
    model = GaussianToy(D=D, true_seed=seed, **({} if q_scale is None else {"q_scale": q_scale}))
    x = sample_gaussian_toy(points, model.mu_true, generator=generator)
    model.set_optimum(x)
    optimum = model.optimal_parameters()
    with torch.no_grad():
        model.generative_model["mu"].copy_(optimum["mu"] + eps * torch.randn(D, generator=generator))
        model.inference_network.weight.copy_(optimum["A"] + eps * torch.randn(D, D, generator=generator))
        model.inference_network.bias.copy_(optimum["b"] + eps * torch.randn(D, generator=generator))
    return model, x


def study_point(estimator_id: str, K: int, model: GaussianToy, x: torch.Tensor, samples: int,
                seed: int = 0, batch_size: Optional[int] = None, max_rows: int = 1 << 18) -> StudyPoint:
    """SNR, variance, DSNR and magnitude of ``samples`` gradients of the inference network at K.

    Estimators with auxiliary particles (``ovis-S{y}``), and any estimator whose ``points * K``
    particles exceed ``max_rows``, draw their samples one at a time, the data points in chunks of at
    most ``max_rows`` particles (the gradient of the mean loss accumulated over the chunks: a sample
    of the same full-batch gradient, in bounded memory). OVIS-MC needs it to take its O(S + K) path
    (the vectorised pass over samples cannot); for the others it is faster at large K (pathwise IWAE
    at K = 1000 on 1,024 points: about 2x, measured in docs/RESULTS.md, figure 1). Small problems use
    the vectorised pass over samples.
    """
    Estimator, config = parse_estimator_id(estimator_id)
    estimator = Estimator(mc=1, iw=K, **config)
    start = time.perf_counter()
    if "auxiliary" in config or x.shape[0] * K > max_rows:
        matrix = _chunked_samples(estimator, model, x, samples, seed, max_rows)
    else:
        matrix = gradient_samples(estimator, model, x, mc_samples=samples, key_filter="inference_network",
                                  seed=seed, batch_size=batch_size).matrix()
    stats, per_parameter = reduce_gradient_samples(matrix)
    bias = 0  # column of the first entry of q's bias b (parameters in select_parameters' order)
    for name, p in select_parameters(model, "inference_network"):
        if name.endswith("bias"):
            break
        bias += p.numel()
    g = stats["grads"]
    mask = per_parameter["mask"]
    return StudyPoint(estimator_id, K, float(g["snr"]), float(g["variance"]), float(g["dsnr"]), float(g["magnitude"]),
                      samples, x.shape[0], time.perf_counter() - start, seed,
                      debiased_snr(per_parameter["mean"][mask], per_parameter["variance"][mask], samples),
                      matrix[:, bias].double().tolist())


def debiased_snr(mean: torch.Tensor, variance: torch.Tensor, samples: int) -> float:
    """Root mean square SNR over parameters with the sampling noise of the means removed:
    ``sqrt(mean_j (mean_j^2 - var_j / M) / var_j)`` (``E[mean_j^2] = g_j^2 + sigma_j^2 / M``), ``nan``
    where that estimate is not positive.

    Arguments:
        mean, variance: per-parameter sample mean and unbiased variance over M samples, ``[P]``.
        samples: M.

    Example:
        >>> g = 0.05 + torch.randn(400, 2000, generator=torch.Generator().manual_seed(0))
        >>> round(debiased_snr(g.mean(0), g.var(0), 400), 2)
        0.05
    """
    snr2 = float(((mean.double() ** 2 - variance.double() / samples) / variance.double()).mean())
    return math.sqrt(snr2) if snr2 > 0 else float("nan")


def _chunked_samples(estimator, model: GaussianToy, x: torch.Tensor, samples: int, seed: int,
                     max_rows: int) -> torch.Tensor:
    """``[M, P]`` gradients of the inference network, one sample at a time, over chunks of data points."""
    particles = getattr(estimator, "particles", None)
    K, S = particles(estimator.config) if particles is not None else (estimator.config["iw"], 0)
    chunk = max(1, max_rows // (K + S))
    params = [p for _, p in select_parameters(model, "inference_network")]
    n = x.shape[0]
    rows = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for _ in range(samples):
            grads = [torch.zeros_like(p) for p in params]
            for s in range(0, n, chunk):
                part = x[s:s + chunk]
                loss = estimator(model, part)[0].mean() * (part.shape[0] / n)
                for g, d in zip(grads, torch.autograd.grad(loss, params)):
                    g += d
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def fit_slope(Ks: Sequence[float], values: Sequence[float]) -> Tuple[float, float]:
    """Least-squares slope of ``log value`` against ``log K`` and its standard error.

    Example:
        >>> slope, se = fit_slope([1, 10, 100], [1.0, 10 ** 0.5, 10.0])
        >>> round(slope, 6), round(se, 6)
        (0.5, 0.0)
    """
    if len(Ks) < 3:
        raise ValueError(f"a slope with a standard error needs at least 3 values of K, got {len(Ks)}")
    u = torch.tensor([math.log(k) for k in Ks], dtype=torch.float64)
    v = torch.tensor([math.log(max(val, 1e-300)) for val in values], dtype=torch.float64)
    u0 = u - u.mean()
    slope = float((u0 * (v - v.mean())).sum() / (u0 ** 2).sum())
    residual = v - v.mean() - slope * u0
    se = math.sqrt(float((residual ** 2).sum()) / (len(Ks) - 2) / float((u0 ** 2).sum()))
    return slope, se


def slopes(points: Iterable[StudyPoint], metric: str = "snr") -> Dict[str, Tuple[float, float, int]]:
    """``{estimator: (slope, standard error, number of K)}`` of ``metric`` against K."""
    by: Dict[str, List[StudyPoint]] = {}
    for p in points:
        by.setdefault(p.estimator, []).append(p)
    out = {}
    for name, ps in by.items():
        ps = sorted(ps, key=lambda p: p.K)
        if len(ps) >= 3:
            slope, se = fit_slope([p.K for p in ps], [getattr(p, metric) for p in ps])
            out[name] = (slope, se, len(ps))
    return out
