"""Statistics of gradient estimates: variance, magnitude, SNR, DSNR, direction, ESS.

A *gradient sample* is the gradient, with respect to the selected parameters, of
``estimator(model, x)[0].mean()``: one estimate of the batch-averaged gradient, with
fresh particles. :func:`get_gradients_statistics` draws ``mc_samples`` independent
samples ``g_1..g_M`` (``[M, P]`` for ``P`` selected scalar parameters) and reduces them.

Two ways of drawing the samples give the same numbers:

* ``method="batched"`` (default): ``torch.func.vmap`` over the samples of
  ``torch.func.grad`` of the estimator's loss (``randomness="different"``), in chunks of
  ``batch_size`` samples. One vectorised forward and backward pass per chunk instead of
  one per sample. Needs a model and an estimator that ``vmap`` can trace (no ``.item()``,
  no data-dependent Python control flow, no gradient hooks); otherwise it warns and falls
  back to the loop.
* ``method="loop"``: one forward and one backward pass per sample.

With the same ``seed`` both consume the random stream in the same order (sample after
sample), so models that draw their latent samples element by element in one call per
stochastic layer (e.g. a one-layer SBN) get *the same particles* and statistics equal up
to float rounding; see ``benchmarks/gradients.py``.

References:
    Rainforth et al. (2018), Tighter Variational Bounds are Not Necessarily Better,
    arXiv:1802.04537 (SNR, eq. 4, and directional SNR, section 5).
"""
from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["get_gradients_statistics", "gradient_samples", "select_parameters", "reduce_gradient_samples",
           "SNR_PERCENTILES"]

#: percentiles of the per-parameter SNR reported under ``snr/p{q}``.
SNR_PERCENTILES = (5, 25, 50, 75, 95)
_TINY = 1e-15


def select_parameters(model: nn.Module, key_filter: str) -> List[Tuple[str, nn.Parameter]]:
    """``(name, parameter)`` pairs whose name contains one of the comma-separated keys of ``key_filter``.

    Example: ``key_filter="inference_network"`` or ``"A,b"``. An empty filter selects every parameter.

    Raises:
        ValueError: no parameter matches; the message lists the parameter names.
    """
    keys = [k.strip() for k in key_filter.split(",")] if key_filter else [""]
    selected = [(n, p) for n, p in model.named_parameters() if p.requires_grad and any(k in n for k in keys)]
    if not selected:
        names = [n for n, _ in model.named_parameters()]
        raise ValueError(f"key_filter={key_filter!r} matches no trainable parameter of {type(model).__name__}; "
                         f"parameter names are {names}")
    return selected


class _EstimatorLoss(nn.Module):
    """``x [bs, *dims] -> (mean loss, mean ESS)``: the estimator applied to the model, as one module so that
    :func:`torch.func.functional_call` can substitute the model's parameters."""

    def __init__(self, estimator: nn.Module, model: nn.Module, overrides: Mapping[str, Any]) -> None:
        super().__init__()
        self.estimator = estimator
        self.model = model
        self.overrides = dict(overrides)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        loss, diagnostics, _ = self.estimator(self.model, x, **self.overrides)
        ess = diagnostics.get("loss", {}).get("ess")
        ess = loss.new_full((), float("nan")) if ess is None else ess.detach().float().mean()
        return loss.mean(), ess


@contextlib.contextmanager
def _no_distribution_validation() -> Iterator[None]:
    """Distribution argument checks call ``bool(tensor)``, which ``vmap`` cannot trace; the loop keeps them."""
    previous = torch.distributions.Distribution._validate_args
    torch.distributions.Distribution.set_default_validate_args(False)
    try:
        yield
    finally:
        torch.distributions.Distribution.set_default_validate_args(previous)


def _rng_fork(x: Tensor, seed: Optional[int]):
    if seed is None:
        return contextlib.nullcontext()
    devices = [x.device] if x.device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


def _loop_samples(loss_fn: _EstimatorLoss, params: Sequence[Tensor], x: Tensor, out: Tensor, ess: Tensor) -> None:
    """Fill ``out [M, P]`` and ``ess [M]`` with one forward and backward pass per sample."""
    for m in range(out.shape[0]):
        loss, e = loss_fn(x)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1) for p, g in zip(params, grads)],
                      out=out[m])
            ess[m] = e


def _batched_samples(loss_fn: _EstimatorLoss, names: Sequence[str], params: Sequence[Tensor], x: Tensor,
                     out: Tensor, ess: Tensor, batch_size: int) -> None:
    """Fill ``out [M, P]`` and ``ess [M]`` with ``vmap(grad(loss))`` over chunks of ``batch_size`` samples."""
    from torch.func import functional_call, grad, vmap

    keys = ["model." + n for n in names]
    detached = {k: p.detach() for k, p in zip(keys, params)}

    def per_sample(selected: Dict[str, Tensor], x_: Tensor) -> Tuple[Tensor, Tensor]:
        return functional_call(loss_fn, selected, (x_,), strict=False)

    batched = vmap(grad(per_sample, has_aux=True), in_dims=(None, 0), randomness="different")
    M = out.shape[0]
    with _no_distribution_validation():
        for start in range(0, M, batch_size):
            n = min(batch_size, M - start)
            grads, e = batched(detached, x.unsqueeze(0).expand(n, *x.shape))
            with torch.no_grad():
                torch.cat([grads[k].reshape(n, -1) for k in keys], dim=1, out=out[start:start + n])
                ess[start:start + n] = e


def gradient_samples(estimator: nn.Module, model: nn.Module, x: Tensor, mc_samples: int = 10,
                     key_filter: str = "inference_network", batch_size: Optional[int] = None,
                     seed: Optional[int] = None, method: str = "batched", **estimator_overrides: Any
                     ) -> Tuple[Tensor, Tensor, Dict[str, Any]]:
    """Draw ``mc_samples`` independent gradient estimates of the selected parameters.

    Args:
        estimator: a :class:`~ovis.estimators.GradientEstimator`.
        model: a :class:`~ovis.models.TemplateModel`.
        x: observations ``[bs, *dims]``; each sample is the gradient of the loss averaged over them.
        mc_samples: number of samples ``M``.
        key_filter: comma-separated substrings of the parameter names to keep (see :func:`select_parameters`).
        batch_size: samples computed per vectorised pass (``None``: as many as fit ~2^16 particle rows).
        seed: seed of a forked random stream (``None``: use and advance the global stream).
        method: ``"batched"`` or ``"loop"``.
        **estimator_overrides: per-call estimator options (e.g. ``alpha``, ``iw``).

    Returns:
        ``(samples [M, P] float32, ess [M], info)``; ``info`` has ``names``, ``shapes``, ``method``
        (the method actually used) and ``seconds``.
    """
    if method not in ("batched", "loop"):
        raise ValueError(f"method={method!r} is invalid; expected 'batched' or 'loop'")
    M = int(mc_samples)
    if M < 2:
        raise ValueError(f"mc_samples={mc_samples} is invalid; variance and SNR need at least 2 samples")
    selected = select_parameters(model, key_filter)
    names = [n for n, _ in selected]
    params = [p for _, p in selected]
    P = sum(p.numel() for p in params)
    loss_fn = _EstimatorLoss(estimator, model, estimator_overrides)
    if batch_size is None:
        cfg = estimator.config if hasattr(estimator, "config") else {}
        rows = x.shape[0] * int(estimator_overrides.get("mc", cfg.get("mc", 1))) * \
            int(estimator_overrides.get("iw", cfg.get("iw", 1)))
        batch_size = max(1, min(M, (1 << 16) // max(1, rows)))
    batch_size = max(1, int(batch_size))
    out = torch.empty(M, P, dtype=torch.float32, device=x.device)
    ess = torch.empty(M, dtype=torch.float32, device=x.device)
    used = method
    start_time = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        with _rng_fork(x, seed):
            if seed is not None:
                torch.manual_seed(seed)
            rng_state = torch.get_rng_state() if method == "batched" else None
            if method == "batched":
                try:
                    _batched_samples(loss_fn, names, params, x, out, ess, batch_size)
                except Exception as err:  # vmap cannot trace this model/estimator: same numbers, slower
                    warnings.warn(f"batched gradient samples failed ({type(err).__name__}: {err}); "
                                  f"falling back to one backward pass per sample", RuntimeWarning)
                    torch.set_rng_state(rng_state)
                    used = "loop"
            if used == "loop":
                _loop_samples(loss_fn, params, x, out, ess)
    finally:
        model.train(was_training)
    info = {"names": names, "shapes": [tuple(p.shape) for p in params], "method": used,
            "seconds": time.perf_counter() - start_time}
    return out, ess, info


def _percentiles(values: Tensor, qs: Sequence[float]) -> List[float]:
    return [float(v) for v in np.percentile(values.detach().double().cpu().numpy(), qs)]


def reduce_gradient_samples(samples: Tensor, oracle_grad: Optional[Tensor] = None, epsilon: float = _TINY
                            ) -> Tuple[Dict[str, Dict[str, Tensor]], Dict[str, Tensor]]:
    """Statistics of gradient samples ``[M, P]``.

    Per parameter ``i`` (over the M samples): ``mean_i``, ``variance_i`` (unbiased), ``magnitude_i = |mean_i|``
    and ``snr_i = |mean_i| / std_i``. Parameters with ``variance_i <= epsilon`` (e.g. unused
    ones) are left out of the averages; ``keep_ratio`` is the fraction kept.

    DSNR (Rainforth et al., 2018, section 5): with ``u = mean / ||mean||``, each sample splits into
    ``g_par = (u . g) u`` and ``g_perp = g - g_par``; ``dsnr = mean_m ||g_par|| / ||g_perp||``.
    ``direction``: cosine between ``mean`` and ``oracle_grad`` ``[P]`` (only when given).

    Returns:
        ``(stats, per_parameter)``: ``stats = {'grads': {'variance', 'magnitude', 'snr', 'dsnr',
        'keep_ratio'[, 'direction']}, 'snr': {'p5', 'p25', 'p50', 'p75', 'p95', 'min', 'max', 'mean'}}``
        of 0-dim float64 tensors; ``per_parameter = {'mean', 'variance', 'magnitude', 'snr', 'mask'}``
        of ``[P]`` tensors.
    """
    M, P = samples.shape
    g = samples.double()
    mean = g.mean(0)
    centred = g - mean
    variance = centred.pow(2).sum(0) / (M - 1)
    std = variance.sqrt()
    magnitude = mean.abs()
    snr = magnitude / (std + _TINY)
    mask = variance > epsilon
    kept = int(mask.sum())

    def masked_mean(v: Tensor) -> Tensor:
        return v[mask].mean() if kept else v.new_tensor(float("nan"))

    norm = mean.norm()
    u = mean / norm if norm > 0 else mean
    proj = g @ u  # [M]
    perp = (g - proj.unsqueeze(1) * u).norm(dim=1)
    dsnr = (proj.abs() / (perp + _TINY)).mean()
    kept_snr = snr[mask] if kept else snr
    grads = {
        "variance": masked_mean(variance),
        "magnitude": masked_mean(magnitude),
        "snr": masked_mean(snr),
        "dsnr": dsnr,
        "keep_ratio": g.new_tensor(kept / P),
    }
    if oracle_grad is not None:
        oracle = oracle_grad.reshape(-1).to(g)
        if oracle.numel() != P:
            raise ValueError(f"oracle_grad has {oracle.numel()} elements; expected {P} (the selected parameters)")
        grads["direction"] = torch.nn.functional.cosine_similarity(mean, oracle, dim=0, eps=_TINY)
    pct = _percentiles(kept_snr, SNR_PERCENTILES)
    snr_stats = {f"p{q}": g.new_tensor(v) for q, v in zip(SNR_PERCENTILES, pct)}
    snr_stats.update({"min": kept_snr.min(), "max": kept_snr.max(), "mean": kept_snr.mean()})
    per_parameter = {"mean": mean, "variance": variance, "magnitude": magnitude, "snr": snr, "mask": mask}
    return {"grads": grads, "snr": snr_stats}, per_parameter


def _flatten_oracle(oracle_grad: Union[None, Tensor, Mapping[str, Tensor], Sequence[Tensor]],
                    names: Sequence[str]) -> Optional[Tensor]:
    if oracle_grad is None or isinstance(oracle_grad, Tensor):
        return oracle_grad
    if isinstance(oracle_grad, Mapping):
        missing = [n for n in names if n not in oracle_grad]
        if missing:
            raise ValueError(f"oracle_grad has no entry for parameters {missing}")
        return torch.cat([oracle_grad[n].reshape(-1) for n in names])
    return torch.cat([t.reshape(-1) for t in oracle_grad])


def get_gradients_statistics(estimator: nn.Module, model: nn.Module, x: Tensor, mc_samples: int = 10,
                             key_filter: str = "inference_network",
                             oracle_grad: Union[None, Tensor, Mapping[str, Tensor], Sequence[Tensor]] = None,
                             batch_size: Optional[int] = None, seed: Optional[int] = None,
                             method: str = "batched", epsilon: float = _TINY, return_samples: bool = False,
                             **estimator_overrides: Any) -> Tuple[Dict[str, Dict[str, Tensor]], Dict[str, Any]]:
    """Variance, magnitude, SNR, DSNR and direction of ``mc_samples`` gradient estimates, and the ESS.

    Args:
        estimator: a :class:`~ovis.estimators.GradientEstimator`.
        model: a :class:`~ovis.models.TemplateModel` (put in eval mode during the analysis).
        x: observations ``[bs, *dims]``; a sample is the gradient of the batch-averaged loss.
        mc_samples: number of independent gradient samples.
        key_filter: comma-separated substrings of the names of the analysed parameters.
        oracle_grad: the true gradient of the selected parameters, flat ``[P]``, a dict name -> tensor,
            or a list in ``model.named_parameters()`` order; adds ``grads/direction``.
        batch_size: samples per vectorised pass (bounds memory; ``None``: automatic).
        seed: draw the samples from a forked random stream seeded with ``seed``.
        method: ``"batched"`` (vmap, default) or ``"loop"`` (one backward pass per sample).
        epsilon: parameters with a variance ``<= epsilon`` are left out of the averages.
        return_samples: also return the ``[M, P]`` samples in ``meta['samples']``.
        **estimator_overrides: per-call estimator options (e.g. ``alpha=0.5``).

    Returns:
        ``(grad_stats, meta)``: ``grad_stats = {'grads': {'variance', 'magnitude', 'snr', 'dsnr',
        'keep_ratio', 'ess'[, 'direction']}, 'snr': {'p5', ..., 'p95', 'min', 'max', 'mean'}}`` of 0-dim
        tensors (``grads/ess``: mean effective sample size of the particles); ``meta`` holds the
        per-parameter ``mean``, ``variance``, ``magnitude``, ``snr`` and ``mask`` (``[P]``), ``ess``
        (``[M]``), ``names``, ``shapes``, ``method`` and ``seconds``.

    Example::

        Estimator, config = parse_estimator_id("ovis-gamma1")
        estimator = Estimator(mc=1, iw=16, **config)
        stats, meta = get_gradients_statistics(estimator, model, x, mc_samples=100, seed=0)
        stats["grads"]["snr"], stats["snr"]["p50"]
    """
    samples, ess, info = gradient_samples(estimator, model, x, mc_samples=mc_samples, key_filter=key_filter,
                                          batch_size=batch_size, seed=seed, method=method,
                                          **estimator_overrides)
    oracle = _flatten_oracle(oracle_grad, info["names"])
    stats, per_parameter = reduce_gradient_samples(samples, oracle, epsilon=epsilon)
    stats["grads"]["ess"] = ess.double().mean()
    meta: Dict[str, Any] = dict(per_parameter)
    meta.update(info)
    meta["ess"] = ess
    meta["mc_samples"] = int(mc_samples)
    if return_samples:
        meta["samples"] = samples
    return stats, meta
