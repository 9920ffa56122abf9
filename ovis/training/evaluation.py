"""Evaluation of a model on a split: the IW bound ``L_K`` with a large K in bounded memory, and the
analyses run on the train split (gradient statistics, active units).

Every model is evaluated the same way, whatever the training estimator: ``K`` particles from
``q(z|x)`` (not reparameterized), ``alpha = 0`` and ``beta = 1``. The particles are drawn in
chunks so that at most ``max_rows`` rows (data points x particles) go through the model at once;
only the log-probabilities of the chunks are kept (``[bs, 1, K]`` floats), and the batch is split
too when ``bs`` alone exceeds ``max_rows``.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..estimators.base import Evaluation, GradientEstimator
from ..estimators.bounds import iw_bound
from ..estimators.reinforce import Reinforce
from .data import batches_of, fetch

__all__ = ["evaluate_bound", "evaluate_split", "mean_diagnostics", "to_floats"]

Diagnostics = Dict[str, Dict[str, Tensor]]


@torch.no_grad()
def evaluate_bound(model: nn.Module, x: Tensor, iw: int, max_rows: int = 1 << 15) -> Diagnostics:
    """Diagnostics of the IW bound with ``iw`` particles, per data point.

    Arguments:
        model: a :class:`~ovis.models.TemplateModel`.
        x: observations ``[bs, *dims]``.
        iw: particles K.
        max_rows: most rows given to the model at once.

    Returns:
        ``{'loss': {'loss', 'L_k', 'elbo', 'kl', 'nll', 'kl_q_p', 'ess'}}``, each ``[bs]``
        (``loss = -L_k``), as :meth:`GradientEstimator.base_diagnostics` defines them, and the groups
        of ``model.evaluation_metrics(x)`` where the model defines it (e.g. ``{'gmm': {...}}`` for
        the Gaussian mixture toy), each ``[bs]``.
    """
    evaluator = Reinforce(mc=1, iw=1)
    bs = x.shape[0]
    points = max(1, min(bs, max_rows))
    chunk = max(1, max_rows // points)
    out: Dict[str, list] = {}
    for start in range(0, bs, points):
        xs = x[start:start + points]
        parts = []
        for k in range(0, iw, chunk):
            ev = evaluator.evaluate(model, xs, mc=1, iw=min(chunk, iw - k), reparam=False)
            parts.append((ev.log_px_z, ev.log_pz, ev.log_qz))
            del ev  # drop the model output of the chunk before drawing the next one
        ev = Evaluation(torch.cat([p[0] for p in parts], 2), torch.cat([p[1] for p in parts], 2),
                        torch.cat([p[2] for p in parts], 2), {})
        loss = -iw_bound(ev.log_wk(1.0)).mean(1)
        for name, value in GradientEstimator.base_diagnostics(ev, loss, beta=1.0)["loss"].items():
            out.setdefault(("loss", name), []).append(value)
        metrics = getattr(model, "evaluation_metrics", None)
        if callable(metrics):
            for group, values in metrics(xs).items():
                for name, value in values.items():
                    out.setdefault((group, name), []).append(value.detach())
    result: Dict[str, Dict[str, Tensor]] = {}
    for (group, name), values in out.items():
        result.setdefault(group, {})[name] = torch.cat(values)
    return result


def mean_diagnostics(parts: Mapping[str, Mapping[str, Tensor]]) -> Dict[str, Dict[str, float]]:
    """Average nested ``[n]`` diagnostics over their data points -> nested floats."""
    return {g: {k: float(v.double().mean()) for k, v in values.items()} for g, values in parts.items()}


@torch.no_grad()
def evaluate_split(model: nn.Module, dataset: Dataset, indices: Tensor, iw: int, batch_size: int,
                   max_rows: int, device: torch.device) -> Dict[str, Dict[str, float]]:
    """Average of :func:`evaluate_bound` over the items ``indices`` of ``dataset``."""
    was_training = model.training
    model.eval()
    try:
        collected: Dict[str, Dict[str, list]] = {}
        for idx in batches_of(indices, batch_size):
            x = fetch(dataset, idx).to(device)
            for group, values in evaluate_bound(model, x, iw, max_rows).items():
                for name, v in values.items():
                    collected.setdefault(group, {}).setdefault(name, []).append(v)
    finally:
        model.train(was_training)
    return mean_diagnostics({g: {k: torch.cat(v) for k, v in d.items()} for g, d in collected.items()})


def to_floats(nested: Mapping[str, Mapping[str, Any]]) -> Dict[str, Dict[str, float]]:
    """Nested 0-dim tensors -> nested floats."""
    return {g: {k: float(v) for k, v in d.items()} for g, d in nested.items()}
