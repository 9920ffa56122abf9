"""Data sets drawn from the true generative process of the toy models (seeded).

* ``gmm-toy``: ``x [1]`` from the Gaussian mixture of Le et al. (2019), arXiv:1805.10469
  (see :mod:`ovis.models.gmm_toy`).
* ``gaussian-toy``: ``x [D]`` from the linear Gaussian model of Rainforth et al. (2018),
  arXiv:1802.04537, with true mean ``mu_true`` drawn from ``seed`` (see
  :mod:`ovis.models.gaussian_toy`; build the model with ``true_seed=seed`` and call
  ``model.set_optimum(train.data)`` to measure the distance to the exact optimum).
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..models.gaussian_toy import sample_gaussian_toy, true_mu
from ..models.gmm_toy import component_means, sample_gmm_toy, true_prior_probs
from .registry import DATASETS, RESERVED

__all__ = ["ToyData", "load_gmm_toy", "load_gaussian_toy"]


class ToyData(Dataset):
    """Samples ``data [N, *shape]`` float32; items are ``x [*shape]``.

    Attributes:
        data: the samples.
        true_params: the parameters of the process that generated them.
    """

    def __init__(self, data: Tensor, true_params: Dict[str, Tensor]) -> None:
        self.data = data.float()
        self.true_params = true_params

    def __len__(self) -> int:
        return self.data.shape[0]

    def __getitem__(self, index: int) -> Tensor:
        return self.data[index]

    def tensor(self) -> Tensor:
        """All items, ``[N, *shape]``."""
        return self.data

    def __repr__(self) -> str:
        return f"{type(self).__name__}(N={len(self)}, shape={tuple(self.data.shape[1:])})"


def _sizes(n_train: int, n_valid: int, n_test: int) -> Tuple[int, int, int]:
    if min(n_train, n_valid, n_test) < 1:
        raise ValueError(f"split sizes must be positive, got n_train={n_train}, n_valid={n_valid}, n_test={n_test}")
    return n_train, n_valid, n_test


@DATASETS.register("gmm-toy", reserved=RESERVED,
                   help='samples of the true Gaussian mixture of ovis.models.gmm_toy; [1]')
def load_gmm_toy(data_root: str = "data", seed: int = 0, download: bool = False, C: int = 20, scale: float = 5.0,
                 n_train: int = 10000, n_valid: int = 1000, n_test: int = 1000
                 ) -> Tuple[ToyData, ToyData, ToyData]:
    """``(train, valid, test)`` of ``x [1]`` from the true Gaussian mixture (``data_root``, ``download`` unused)."""
    g = torch.Generator().manual_seed(seed)
    params = {"probs": true_prior_probs(C), "means": component_means(C), "scale": torch.tensor(float(scale))}
    return tuple(ToyData(sample_gmm_toy(n, C, scale, g), params)  # type: ignore[return-value]
                 for n in _sizes(n_train, n_valid, n_test))


@DATASETS.register("gaussian-toy", reserved=RESERVED,
                   help='samples of the true linear Gaussian model of ovis.models.gaussian_toy; [D]')
def load_gaussian_toy(data_root: str = "data", seed: int = 0, download: bool = False, D: int = 20,
                      n_train: int = 1024, n_valid: int = 1024, n_test: int = 1024
                      ) -> Tuple[ToyData, ToyData, ToyData]:
    """``(train, valid, test)`` of ``x [D]`` from ``z ~ N(mu_true, I), x ~ N(z, I)``, ``mu_true`` from ``seed``."""
    mu = true_mu(D, seed)
    g = torch.Generator().manual_seed(seed + 1)
    params = {"mu": mu}
    return tuple(ToyData(sample_gaussian_toy(n, mu, g), params)  # type: ignore[return-value]
                 for n in _sizes(n_train, n_valid, n_test))
