"""Binary image data sets: a tensor of intensities in ``[0, 1]`` and a binarization rule.

Binarizations:

* ``'dynamic'``: a fresh ``x ~ Bernoulli(intensity)`` at every access (Salakhutdinov &
  Murray, 2008; used by Burda et al., 2016, arXiv:1509.00519, for the training set);
* ``'static'``: one Bernoulli draw with a fixed seed, stored (the usual treatment of the
  validation and test sets under dynamic binarization);
* ``'threshold'``: ``x = 1[intensity >= threshold]``;
* ``'none'``: the intensities themselves (for a Gaussian likelihood).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

__all__ = ["BinaryImages", "BINARIZATIONS", "make_splits"]

BINARIZATIONS = ("dynamic", "static", "threshold", "none")


class BinaryImages(Dataset):
    """Images ``[N, *shape]`` with intensities in ``[0, 1]``; items are float32 tensors ``x [*shape]``.

    Arguments:
        intensities: ``[N, *shape]`` values in ``[0, 1]``.
        binarize: one of :data:`BINARIZATIONS`.
        seed: seed of the ``'static'`` draw.
        threshold: threshold of ``'threshold'``.

    Attributes:
        data: the stored float32 tensor ``[N, *shape]`` (intensities for ``'dynamic'``, else the
            final values).

    Example:
        >>> import torch
        >>> ds = BinaryImages(torch.rand(100, 1, 28, 28), binarize="dynamic")
        >>> ds[0].shape, sorted(ds[0].unique().tolist())
        (torch.Size([1, 28, 28]), [0.0, 1.0])
    """

    def __init__(self, intensities: Tensor, binarize: str = "dynamic", seed: int = 0, threshold: float = 0.5) -> None:
        if binarize not in BINARIZATIONS:
            raise ValueError(f"binarize={binarize!r} is invalid; expected one of {list(BINARIZATIONS)}")
        data = torch.as_tensor(intensities, dtype=torch.float32)
        if data.numel() and (data.min() < 0 or data.max() > 1):
            raise ValueError(f"intensities must lie in [0, 1]; got values in [{data.min():g}, {data.max():g}]")
        if binarize == "static":
            data = torch.bernoulli(data, generator=torch.Generator().manual_seed(seed))
        elif binarize == "threshold":
            data = (data >= threshold).float()
        self.data = data
        self.binarize = binarize

    @property
    def shape(self) -> Tuple[int, ...]:
        """Shape of one item."""
        return tuple(self.data.shape[1:])

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        x = self.data[index]
        return torch.bernoulli(x) if self.binarize == "dynamic" else x

    def tensor(self) -> Tensor:
        """All items at once, ``[N, *shape]`` (freshly binarized under ``'dynamic'``)."""
        return torch.bernoulli(self.data) if self.binarize == "dynamic" else self.data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={len(self)}, shape={self.shape}, binarize={self.binarize!r})"


def make_splits(parts: Sequence[Tensor], binarize: str, seed: int, threshold: float = 0.5
                ) -> Tuple[BinaryImages, BinaryImages, BinaryImages]:
    """``(train, valid, test)`` from three intensity tensors.

    The training set uses ``binarize``; under ``'dynamic'`` the validation and test sets are
    binarized once (``'static'``, seeds ``seed + 1`` and ``seed + 2``) so that evaluations are
    comparable across runs; otherwise they use ``binarize`` too.
    """
    train, valid, test = parts
    evaluation = "static" if binarize == "dynamic" else binarize
    return (BinaryImages(train, binarize, seed, threshold),
            BinaryImages(valid, evaluation, seed + 1, threshold),
            BinaryImages(test, evaluation, seed + 2, threshold))
