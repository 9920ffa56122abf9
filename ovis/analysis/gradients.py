"""Statistics of gradient estimates: variance, magnitude, SNR, DSNR, direction, ESS.

A *gradient sample* is the gradient, with respect to the selected parameters, of
``estimator(model, x)[0].mean()``: one estimate of the batch-averaged gradient, with
fresh particles. :func:`get_gradients_statistics` draws ``mc_samples`` independent
samples ``g_1..g_M`` (``[M, P]`` for ``P`` selected scalar parameters) and reduces them.

Two ways of drawing the samples:

* ``method="batched"`` (default): ``torch.func.vmap`` over samples of ``torch.func.grad`` of the
  estimator's loss (``randomness="different"``), in chunks of ``batch_size`` samples: one
  vectorised forward and backward pass per chunk instead of one per sample. ``x`` enters the
  vmapped function unbatched, so what the model computes from ``x`` before its first random
  draw (e.g. the logits of ``q(z|x)``) is computed once per chunk. While it runs,
  ``torch.distributions`` argument checks are off and two functions are swapped for
  vmap-traceable equivalents with the same values and the same use of the random stream
  (``_standard_normal`` -> ``torch.randn`` for ``rsample``, ``F.one_hot`` for
  ``OneHotCategorical.sample``). Models or estimators that vmap still cannot trace (``.item()``,
  data-dependent Python control flow) fall back to the loop with a ``RuntimeWarning``.
* ``method="loop"``: one forward and one ``torch.autograd.grad`` per sample.

With the same ``seed`` both consume the random stream sample after sample. Models that draw
each stochastic layer in one call, element by element (on CPU: bernoulli, categorical, and normal draws
whose size per sample is a multiple of 16), with one stochastic layer, therefore get *the same
particles* in both methods, and statistics equal up to float rounding (tested, and measured in
``benchmarks/gradients.py``). With several stochastic layers the batched pass draws layer 1 for
all samples before layer 2, so the particles differ from the loop's; the samples are still
independent and identically distributed (tested).

The samples are kept as drawn (``[M, P]`` in chunks) because the DSNR needs every sample's
projection on the mean direction; the reduction is one pass over cache-sized blocks of columns.

References:
    Rainforth et al. (2018), Tighter Variational Bounds are Not Necessarily Better,
    arXiv:1802.04537 (SNR, eq. 4, and directional SNR, section 5).
"""
from __future__ import annotations

import contextlib
import inspect
import time
import warnings
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["get_gradients_statistics", "gradient_samples", "GradientSamples", "select_parameters",
           "reduce_gradient_samples", "SNR_PERCENTILES"]

#: percentiles of the per-parameter SNR reported under ``snr/p{q}``.
SNR_PERCENTILES = (5, 25, 50, 75, 95)
_TINY = 1e-15
_ROWS_PER_PASS = 1 << 12  # particle rows per vectorised pass (measured on the 784-200 SBN, 1 thread)
_BLOCK_ELEMENTS = 1 << 19  # elements per block of the reduction (~2 MB in float32)


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


def _randn(shape: Sequence[int], dtype: Optional[torch.dtype], device: Any) -> Tensor:
    # out-of-place: vmap can give every sample its own draws (``empty(shape).normal_()`` is in place
    # on an unbatched tensor, which vmap refuses); same random stream as the original
    return torch.randn(shape, dtype=dtype, device=device)


def _one_hot(indices: Tensor, num_classes: int = -1) -> Tensor:
    # F.one_hot checks ``indices.max()`` with .item(), which vmap cannot trace
    if num_classes < 0:
        return _ORIGINAL_ONE_HOT(indices, num_classes)
    return (indices.unsqueeze(-1) == torch.arange(num_classes, device=indices.device)).long()


_ORIGINAL_ONE_HOT = torch.nn.functional.one_hot


@contextlib.contextmanager
def _vmap_friendly_distributions() -> Iterator[None]:
    """Make ``torch.distributions`` traceable by ``vmap`` for the duration of the batched pass.

    * argument validation is switched off (it calls ``bool(tensor)``; the loop keeps it);
    * ``_standard_normal`` (``Normal.rsample`` and friends) draws with ``torch.randn``;
    * ``F.one_hot`` (``OneHotCategorical.sample``) is computed by comparison.

    Both replacements give the same values and consume the random stream as the originals.
    """
    import torch.distributions as distributions

    previous = distributions.Distribution._validate_args
    original = distributions.utils._standard_normal
    patched = [m for m in vars(distributions).values()
               if inspect.ismodule(m) and getattr(m, "_standard_normal", None) is original]
    distributions.Distribution.set_default_validate_args(False)
    for module in patched:
        module._standard_normal = _randn
    torch.nn.functional.one_hot = _one_hot
    try:
        yield
    finally:
        torch.nn.functional.one_hot = _ORIGINAL_ONE_HOT
        for module in patched:
            module._standard_normal = original
        distributions.Distribution.set_default_validate_args(previous)


def _rng_fork(x: Tensor, seed: Optional[int]):
    if seed is None:
        return contextlib.nullcontext()
    devices = [x.device] if x.device.type == "cuda" else []
    return torch.random.fork_rng(devices=devices)


@dataclass
class GradientSamples:
    """``M`` gradient samples of ``P`` scalar parameters, kept as drawn (no copy into one matrix).

    Attributes:
        blocks: per selected parameter ``i``, a list of chunks ``[M_c, P_i]`` (``sum_c M_c = M``).
        ess: effective sample size of the particles of each sample, ``[M]``.
        names, shapes: the selected parameters.
        method: ``"batched"`` or ``"loop"`` (the method actually used).
        seconds: time taken to draw the samples.
    """
    blocks: List[List[Tensor]]
    ess: Tensor
    names: List[str]
    shapes: List[Tuple[int, ...]]
    method: str = "batched"
    seconds: float = 0.0

    @property
    def num_samples(self) -> int:
        return int(self.ess.shape[0])

    @property
    def num_params(self) -> int:
        return sum(chunks[0].shape[1] for chunks in self.blocks)

    def matrix(self) -> Tensor:
        """All samples as one ``[M, P]`` tensor (parameters concatenated in ``names`` order)."""
        return torch.cat([torch.cat(chunks, 0) for chunks in self.blocks], 1)

    def column_blocks(self, width: int) -> Iterator[Tuple[int, Tensor]]:
        """``(offset, block [M, <= width])`` over the columns of :meth:`matrix`, without building it
        (blocks may be views of the samples: do not modify them in place)."""
        offset = 0
        for chunks in self.blocks:
            P_i = chunks[0].shape[1]
            for s in range(0, P_i, width):
                parts = [c[:, s:s + width] for c in chunks]
                yield offset + s, torch.cat(parts, 0) if len(parts) > 1 else parts[0]
            offset += P_i


def _loop_samples(loss_fn: _EstimatorLoss, params: Sequence[Tensor], x: Tensor, M: int
                  ) -> Tuple[List[List[Tensor]], Tensor]:
    """One forward and one backward pass per sample."""
    per_param: List[List[Tensor]] = [[] for _ in params]
    ess = torch.empty(M, dtype=torch.float32, device=x.device)
    for m in range(M):
        loss, e = loss_fn(x)
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        with torch.no_grad():
            for i, (p, g) in enumerate(zip(params, grads)):
                per_param[i].append(torch.zeros_like(p) if g is None else g)
            ess[m] = e
    blocks = [[torch.stack(gs).reshape(M, -1)] for gs in per_param]
    return blocks, ess


def _batched_samples(loss_fn: _EstimatorLoss, names: Sequence[str], params: Sequence[Tensor], x: Tensor,
                     M: int, batch_size: int) -> Tuple[List[List[Tensor]], Tensor]:
    """``vmap(grad(loss))`` over chunks of ``batch_size`` samples.

    ``x`` enters unbatched (only an index is vmapped), so whatever the model computes from ``x``
    alone before the first random draw (e.g. the encoder) is computed once per chunk, and the
    random draws come in sample-major order, as in the loop.
    """
    from torch.func import functional_call, grad, vmap

    keys = ["model." + n for n in names]
    detached = {k: p.detach() for k, p in zip(keys, params)}

    def per_sample(selected: Dict[str, Tensor], index: Tensor) -> Tuple[Tensor, Tensor]:
        return functional_call(loss_fn, selected, (x,), strict=False)

    batched = vmap(grad(per_sample, has_aux=True), in_dims=(None, 0), randomness="different")
    blocks: List[List[Tensor]] = [[] for _ in keys]
    ess = []
    with _vmap_friendly_distributions():
        for start in range(0, M, batch_size):
            n = min(batch_size, M - start)
            grads, e = batched(detached, torch.arange(n, device=x.device))
            for i, k in enumerate(keys):
                blocks[i].append(grads[k].detach().reshape(n, -1))
            ess.append(e.detach().reshape(n))
    return blocks, torch.cat(ess)


def gradient_samples(estimator: nn.Module, model: nn.Module, x: Tensor, mc_samples: int = 10,
                     key_filter: str = "inference_network", batch_size: Optional[int] = None,
                     seed: Optional[int] = None, method: str = "batched", **estimator_overrides: Any
                     ) -> GradientSamples:
    """Draw ``mc_samples`` independent gradient estimates of the selected parameters.

    Arguments:
        estimator: a :class:`~ovis.estimators.GradientEstimator`.
        model: a :class:`~ovis.models.TemplateModel` (in eval mode during the call).
        x: observations ``[bs, *dims]``; each sample is the gradient of the loss averaged over them.
        mc_samples: number of samples ``M``.
        key_filter: comma-separated substrings of the parameter names to keep (see :func:`select_parameters`).
        batch_size: samples per vectorised pass (``None``: about ``2^12`` particle rows, at least 4 samples).
        seed: seed of a forked random stream (``None``: use and advance the global stream).
        method: ``"batched"`` or ``"loop"``.
        **estimator_overrides: per-call estimator options (e.g. ``alpha``, ``iw``).

    Returns:
        a :class:`GradientSamples`.
    """
    if method not in ("batched", "loop"):
        raise ValueError(f"method={method!r} is invalid; expected 'batched' or 'loop'")
    M = int(mc_samples)
    if M < 2:
        raise ValueError(f"mc_samples={mc_samples} is invalid; variance and SNR need at least 2 samples")
    selected = select_parameters(model, key_filter)
    names = [n for n, _ in selected]
    params = [p for _, p in selected]
    loss_fn = _EstimatorLoss(estimator, model, estimator_overrides)
    if batch_size is None:
        cfg = getattr(estimator, "config", {})
        rows = x.shape[0] * int(estimator_overrides.get("mc", cfg.get("mc", 1))) * \
            int(estimator_overrides.get("iw", cfg.get("iw", 1)))
        batch_size = min(M, max(4, _ROWS_PER_PASS // max(1, rows)))
    batch_size = max(1, int(batch_size))
    used = method
    start_time = time.perf_counter()
    was_training = model.training
    model.eval()
    try:
        with _rng_fork(x, seed):
            if seed is not None:
                torch.manual_seed(seed)
            if method == "batched":
                rng_state = torch.get_rng_state()
                try:
                    blocks, ess = _batched_samples(loss_fn, names, params, x, M, batch_size)
                except Exception as err:  # vmap cannot trace this model/estimator: same numbers, slower
                    warnings.warn(f"batched gradient samples failed ({type(err).__name__}: {err}); "
                                  f"falling back to one backward pass per sample", RuntimeWarning)
                    torch.set_rng_state(rng_state)
                    used = "loop"
            if used == "loop":
                blocks, ess = _loop_samples(loss_fn, params, x, M)
    finally:
        model.train(was_training)
    return GradientSamples(blocks, ess, names, [tuple(p.shape) for p in params], used,
                           time.perf_counter() - start_time)


def _percentiles(values: Tensor, qs: Sequence[float]) -> List[float]:
    return [float(v) for v in np.percentile(values.detach().double().cpu().numpy(), qs)]


def reduce_gradient_samples(samples: Union[Tensor, GradientSamples], oracle_grad: Optional[Tensor] = None, epsilon: float = _TINY
                            ) -> Tuple[Dict[str, Dict[str, Tensor]], Dict[str, Tensor]]:
    """Statistics of gradient samples (a ``[M, P]`` tensor or a :class:`GradientSamples`).

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
    if isinstance(samples, Tensor):
        if samples.dim() != 2:
            raise ValueError(f"samples has shape {tuple(samples.shape)}; expected [M, P]")
        samples = GradientSamples([[samples]], samples.new_zeros(samples.shape[0]), ["samples"],
                                  [tuple(samples.shape[1:])])
    M, P = samples.num_samples, samples.num_params
    if M < 2:
        raise ValueError(f"{M} gradient sample(s); variance and SNR need at least 2")
    # float64, over blocks of columns that stay in cache (a strided reduction over dim 0 of a
    # large [M, P] matrix is several times slower on CPU)
    # One pass over blocks of columns small enough to stay in cache, in the samples' precision
    # (float32 statistics are accurate to ~1e-6 relative; use float64 samples for more), with the
    # totals over blocks accumulated in float64. The projection of each sample on the mean
    # direction needs the mean of every column, but g_m . mean splits over the blocks into terms
    # that only need the block's own column means.
    cols = max(1, _BLOCK_ELEMENTS // M)
    device = samples.blocks[0][0].device
    mean = torch.empty(P, dtype=torch.float64, device=device)
    variance = torch.empty_like(mean)
    dot_mean = mean.new_zeros(M)  # g_m . mean
    sq_norm = mean.new_zeros(M)  # ||g_m||^2
    for s, block in samples.column_blocks(cols):
        w = block.shape[1]
        m = block.mean(0)
        centred = block - m
        squares = centred * centred
        variance[s:s + w] = squares.sum(0) / (M - 1)
        mean[s:s + w] = m
        c_dot_m = (centred @ m).double()
        m_sq = (m @ m).double()
        dot_mean += c_dot_m + m_sq
        sq_norm += squares.sum(1).double() + 2 * c_dot_m + m_sq
    std = variance.sqrt()
    magnitude = mean.abs()
    snr = magnitude / (std + _TINY)
    mask = variance > epsilon
    kept = int(mask.sum())

    def masked_mean(v: Tensor) -> Tensor:
        return v[mask].mean() if kept else v.new_tensor(float("nan"))

    norm = mean.norm()
    proj = dot_mean / norm if norm > 0 else dot_mean.zero_()  # u . g_m
    perp = (sq_norm - proj ** 2).clamp_min(0).sqrt()  # ||g_m - (u . g_m) u||
    dsnr = (proj.abs() / (perp + _TINY)).mean()
    kept_snr = snr[mask] if kept else snr
    grads = {
        "variance": masked_mean(variance),
        "magnitude": masked_mean(magnitude),
        "snr": masked_mean(snr),
        "dsnr": dsnr,
        "keep_ratio": mean.new_tensor(kept / P),
    }
    if oracle_grad is not None:
        oracle = oracle_grad.reshape(-1).to(mean)
        if oracle.numel() != P:
            raise ValueError(f"oracle_grad has {oracle.numel()} elements; expected {P} (the selected parameters)")
        grads["direction"] = torch.nn.functional.cosine_similarity(mean, oracle, dim=0, eps=_TINY)
    pct = _percentiles(kept_snr, SNR_PERCENTILES)
    snr_stats = {f"p{q}": mean.new_tensor(v) for q, v in zip(SNR_PERCENTILES, pct)}
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

    Arguments:
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

    Example:
        >>> import torch
        >>> from ovis.estimators.config import parse_estimator_id
        >>> from ovis.models import build_model
        >>> model = build_model("sbn", (16,), layers=(4,))
        >>> x = torch.bernoulli(torch.rand(8, 16))
        >>> Estimator, config = parse_estimator_id("ovis-gamma1")
        >>> estimator = Estimator(mc=1, iw=16, **config)
        >>> stats, meta = get_gradients_statistics(estimator, model, x, mc_samples=20, seed=0)
        >>> stats["grads"]["snr"].shape, meta["mc_samples"], meta["ess"].shape
        (torch.Size([]), 20, torch.Size([20]))
    """
    samples = gradient_samples(estimator, model, x, mc_samples=mc_samples, key_filter=key_filter,
                               batch_size=batch_size, seed=seed, method=method, **estimator_overrides)
    oracle = _flatten_oracle(oracle_grad, samples.names)
    stats, per_parameter = reduce_gradient_samples(samples, oracle, epsilon=epsilon)
    stats["grads"]["ess"] = samples.ess.double().mean()
    meta: Dict[str, Any] = dict(per_parameter)
    meta.update(names=samples.names, shapes=samples.shapes, method=samples.method, seconds=samples.seconds,
                ess=samples.ess, mc_samples=samples.num_samples)
    if return_samples:
        meta["samples"] = samples.matrix()
    return stats, meta
