"""Training batches as a function of ``(seed, epoch, position)``, so a run can stop and resume anywhere.

The order of epoch ``e`` is a permutation drawn from a generator seeded by ``(seed, e)``; batch
``p`` of that epoch is drawn under its own seed ``(seed, e, p)`` (for data sets that sample at
access time, e.g. dynamic binarization). The data stream therefore does not touch the global
random state and does not depend on the number of loader workers or on where a run was resumed.
"""
from __future__ import annotations

import math
from typing import Iterator, Optional, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

__all__ = ["mix_seed", "epoch_permutation", "fetch", "EpochBatches", "eval_indices"]

_MASK = (1 << 63) - 1


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (splitmix64-style mixing; deterministic across processes)."""
    h = 0x9E3779B97F4A7C15
    for p in parts:
        h = (h ^ (int(p) & 0xFFFFFFFFFFFFFFFF)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 31
        h = h * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h & _MASK


_PERMUTATION, _BATCH, _EVAL = 1, 2, 3


def epoch_permutation(n: int, seed: int, epoch: int) -> Tensor:
    """The order of the ``n`` training items in ``epoch``, ``[n]`` int64."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(mix_seed(seed, _PERMUTATION, epoch)))


def fetch(dataset: Dataset, indices: Tensor) -> Tensor:
    """Items ``indices`` of ``dataset`` stacked into ``[len(indices), *shape]``.

    Data sets that keep their items in a tensor attribute ``data`` and accept a tensor of
    indices (``ovis.datasets``) are indexed at once; others item by item. Items may be tensors
    or tuples whose first element is ``x``.
    """
    data = getattr(dataset, "data", None)
    if isinstance(data, Tensor) and data.shape[0] == len(dataset):
        x = dataset[indices]
        if isinstance(x, Tensor) and x.shape[:1] == indices.shape:
            return x
    items = [dataset[int(i)] for i in indices]
    items = [it[0] if isinstance(it, (tuple, list)) else it for it in items]
    return torch.stack([torch.as_tensor(it) for it in items])


class EpochBatches(Dataset):
    """Item ``p`` is batch ``p`` of epoch ``epoch``: ``[<= batch_size, *shape]``.

    Arguments:
        dataset: the training set.
        batch_size: items per batch (the last batch of an epoch may be smaller).
        seed: the run's seed.
        epoch: the epoch (0-based).
    """

    def __init__(self, dataset: Dataset, batch_size: int, seed: int, epoch: int) -> None:
        self.dataset, self.batch_size, self.seed, self.epoch = dataset, int(batch_size), int(seed), int(epoch)
        self.order = epoch_permutation(len(dataset), seed, epoch)

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def __getitem__(self, position: int) -> Tensor:
        indices = self.order[position * self.batch_size:(position + 1) * self.batch_size]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(mix_seed(self.seed, _BATCH, self.epoch, position))
            return fetch(self.dataset, indices)

    def iterate(self, start: int = 0, workers: int = 0) -> Iterator[Tensor]:
        """Batches ``start, start + 1, ...`` of the epoch, loaded by ``workers`` processes (0: here)."""
        positions = range(start, len(self))
        if workers <= 0:
            for p in positions:
                yield self[p]
            return
        loader = DataLoader(self, batch_size=None, sampler=list(positions), num_workers=workers,
                            generator=torch.Generator().manual_seed(mix_seed(self.seed, self.epoch)))
        yield from loader


def eval_indices(n: int, max_points: Optional[int], seed: Optional[int] = None) -> Tensor:
    """The items of a split used for evaluation: all (``max_points`` None or <= 0), the first
    ``max_points`` (``seed`` None), or a fixed random subset of ``max_points`` (``seed`` given)."""
    if max_points is None or max_points <= 0 or max_points >= n:
        return torch.arange(n)
    if seed is None:
        return torch.arange(max_points)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(mix_seed(seed, _EVAL)))
    return perm[:max_points].sort().values


def batches_of(indices: Tensor, batch_size: int) -> Sequence[Tensor]:
    """``indices`` split into consecutive chunks of ``batch_size``."""
    return list(torch.split(indices, batch_size))
