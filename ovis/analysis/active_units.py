"""Active units of the inference network (Burda et al., 2016).

A latent unit ``u`` is *active* when its posterior mean varies with the data:
``A_u = Cov_x(E_{q(u|x)}[u]) > threshold`` (0.01 in the paper). ``E_{q(u|x)}[u]`` is
estimated with ``mc_samples`` draws of ``z ~ q(z|x)`` (for hierarchical models, the
marginal of each layer under the ancestral sampling of ``q``).

Reference: Burda, Grosse, Salakhutdinov (2016), Importance Weighted Autoencoders,
arXiv:1509.00519, section 5.2.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Union

import torch
from torch import Tensor, nn

from ..estimators.base import expand_particles

__all__ = ["posterior_means", "active_units"]


@torch.no_grad()
def posterior_means(model: nn.Module, x: Tensor, mc_samples: int = 100, max_rows: int = 1 << 16) -> List[Tensor]:
    """Monte-Carlo estimate of ``E_{q(z_l|x)}[z_l]`` per stochastic layer.

    Arguments:
        model: a :class:`~ovis.models.TemplateModel`.
        x: observations ``[n, *dims]``.
        mc_samples: draws of ``z`` per observation.
        max_rows: largest number of rows (observations x draws) given to the model at once.

    Returns:
        one ``[n, D_l]`` tensor per layer (latents flattened).
    """
    if mc_samples < 1:
        raise ValueError(f"mc_samples={mc_samples} is invalid; expected >= 1")
    n = x.shape[0]
    sums: Optional[List[Tensor]] = None
    per_call = max(1, max_rows // max(1, n))
    done = 0
    while done < mc_samples:
        m = min(per_call, mc_samples - done)
        chunk_sums: List[List[Tensor]] = []
        # split the observations too when one draw each is already too many rows
        step = max(1, max_rows // m)
        for start in range(0, n, step):
            xs = x[start:start + step]
            out = model(expand_particles(xs, 1, m), reparam=False)
            chunk_sums.append([z.reshape(xs.shape[0], m, -1).float().sum(1) for z in out["z"]])
        layer_sums = [torch.cat([c[i] for c in chunk_sums], 0) for i in range(len(chunk_sums[0]))]
        sums = layer_sums if sums is None else [a + b for a, b in zip(sums, layer_sums)]
        done += m
    return [s / mc_samples for s in sums]


@torch.no_grad()
def active_units(model: nn.Module, data: Union[Tensor, Iterable[Tensor]], mc_samples: int = 100,
                 npoints: Optional[int] = 1000, threshold: float = 1e-2) -> Dict[str, Dict[str, Tensor]]:
    """Number of active latent units, overall and per layer.

    Arguments:
        model: a :class:`~ovis.models.TemplateModel`.
        data: observations ``[n, *dims]``, or an iterable of such batches (e.g. a ``DataLoader``).
        mc_samples: draws of ``z ~ q(z|x)`` per observation to estimate ``E_q[z]``.
        npoints: number of observations used (``None``: all).
        threshold: a unit is active when the variance over ``x`` of its posterior mean exceeds it.

    Returns:
        ``{'active_units': {'au', 'au_ratio', 'au_l0', 'au_l1', ...}}`` of 0-dim tensors
        (``au_ratio``: active / total units).
    """
    if isinstance(data, Tensor):
        x = data if npoints is None else data[:npoints]
        batches = [x]
    else:
        batches, seen = [], 0
        for batch in data:
            batch = batch[0] if isinstance(batch, (tuple, list)) else batch
            if npoints is not None:
                batch = batch[:npoints - seen]
            batches.append(batch)
            seen += batch.shape[0]
            if npoints is not None and seen >= npoints:
                break
    means = [posterior_means(model, b, mc_samples) for b in batches]
    layers = [torch.cat([m[i] for m in means], 0) for i in range(len(means[0]))]
    if layers[0].shape[0] < 2:
        raise ValueError("active_units needs at least 2 observations")
    counts = [(layer.var(0) > threshold).sum() for layer in layers]
    total_units = sum(layer.shape[1] for layer in layers)
    au = torch.stack(counts).sum().float()
    out = {"au": au, "au_ratio": au / total_units}
    out.update({f"au_l{i}": c.float() for i, c in enumerate(counts)})
    return {"active_units": out}
