r"""Maximum-likelihood fitting of a lazy distribution (a module whose ``forward()`` returns a
:class:`torch.distributions.Distribution`), as TFP's tutorials do with ``-mean(log_prob)`` and Adam.

Example:
    >>> from ovis.flows import FFJORD
    >>> data = torch.randn(512, 2)
    >>> history = fit_density(FFJORD(2, hidden=8), data, epochs=1, batch_size=256, lr=1e-2)
    >>> len(history["loss"])           # one value per batch
    2
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional

import torch
from torch import Tensor, nn

__all__ = ["fit_density", "mean_nll"]


def mean_nll(model: nn.Module, data: Tensor, batch_size: int = 4096) -> float:
    """``-mean log p(x)`` over ``data [n, *event]`` under ``model()``, in batches, without gradients."""
    with torch.no_grad():
        total = 0.0
        for start in range(0, data.shape[0], batch_size):
            total += -model().log_prob(data[start:start + batch_size]).sum().item()
    return total / data.shape[0]


def fit_density(model: nn.Module, data: Tensor, epochs: int = 1, batch_size: int = 256, lr: float = 1e-2,
                seed: int = 0, max_steps: Optional[int] = None,
                callback: Optional[Callable[[int, float], None]] = None,
                shuffle: bool = True) -> Dict[str, List[float]]:
    """Minimise ``-mean log p(x)`` over shuffled mini-batches of ``data`` with Adam.

    Arguments:
        model: a module whose ``forward()`` returns a distribution over rows of ``data``.
        data: ``[n, *event]`` training points.
        epochs: passes over ``data`` (each of ``ceil(n / batch_size)`` batches).
        batch_size: rows per step.
        lr: Adam's learning rate.
        seed: seed of the shuffling.
        max_steps: stop after this many steps (for quick runs).
        callback: called as ``callback(step, loss)`` after each step.
        shuffle: reshuffle ``data`` every epoch (seeded by ``seed``); ``False`` takes the batches in the
            order of ``data``, e.g. to feed two implementations the same batches.

    Returns:
        ``{'loss': [per step], 'epoch_seconds': [per completed epoch]}``.
    """
    if epochs < 1 or batch_size < 1 or lr <= 0:
        raise ValueError(f"fit_density needs epochs >= 1, batch_size >= 1 and lr > 0; got epochs={epochs}, "
                         f"batch_size={batch_size}, lr={lr}")
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    history: Dict[str, List[float]] = {"loss": [], "epoch_seconds": []}
    step = 0
    model.train()
    for _ in range(epochs):
        start = time.perf_counter()
        order = torch.randperm(data.shape[0], generator=g) if shuffle else torch.arange(data.shape[0])
        for idx in order.split(batch_size):
            loss = -model().log_prob(data[idx]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            history["loss"].append(loss.item())
            step += 1
            if callback is not None:
                callback(step, history["loss"][-1])
            if max_steps is not None and step >= max_steps:
                return history
        history["epoch_seconds"].append(time.perf_counter() - start)
    return history
