"""The sample database: samples, the Gaussians that drew them, and target evaluations.

Every stored sample ``n`` keeps ``mapping[n]``, an index into the stored means
``[M, D]`` and Cholesky factors (the Gaussian that drew it), its target
log-density and gradient. The newest samples come back with the log-density of
the *background* mixture that effectively drew them (the drawing Gaussians,
weighted by how many of the samples each drew), for importance weighting.

Example:
    >>> import torch
    >>> from ovis.gmmvi.mixture import GaussianMixture
    >>> q = GaussianMixture.from_init(2, 2, 0.0, 1.0, initial_cov=1.0)
    >>> db = SampleDB(dim=2, diagonal_covariances=False, keep_samples=True)
    >>> x, mapping = q.sample_from_components(torch.tensor([3, 2]))
    >>> db.add_samples(x, q.means, q.chols, torch.zeros(5), torch.zeros(5, 2), mapping)
    >>> background, samples, mapping, lnpdfs, grads = db.get_newest_samples(4)
    >>> background.shape, samples.shape
    (torch.Size([4]), torch.Size([4, 2]))
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from .mixture import gaussian_log_densities

__all__ = ["SampleDB"]


class SampleDB:
    """Samples with the mean and Cholesky factor of the Gaussian that drew them.

    Arguments:
        dim: dimension ``D`` of the samples.
        diagonal_covariances: the Cholesky factors are ``[D]`` standard deviations instead of ``[D, D]``.
        keep_samples: if false, only the latest batch is kept.
        max_samples: when adding would exceed it, every second stored sample is dropped first.
        dtype: floating point type.
    """

    _state = ("samples", "means", "chols", "target_lnpdfs", "target_grads", "mapping", "num_samples_written")

    def __init__(self, dim: int, diagonal_covariances: bool, keep_samples: bool = True,
                 max_samples: Optional[int] = None, dtype: torch.dtype = torch.float64):
        self.dim = int(dim)
        self.diagonal_covariances = bool(diagonal_covariances)
        self.keep_samples = bool(keep_samples)
        self.max_samples = None if max_samples is None else int(max_samples)
        o = dict(dtype=dtype)
        self.samples = torch.zeros(0, dim, **o)
        self.means = torch.zeros(0, dim, **o)
        self.chols = torch.zeros((0, dim) if diagonal_covariances else (0, dim, dim), **o)
        self.target_lnpdfs = torch.zeros(0, **o)
        self.target_grads = torch.zeros(0, dim, **o)
        self.mapping = torch.zeros(0, dtype=torch.long)
        self.num_samples_written = 0

    @staticmethod
    def build_from_config(config: Dict, num_dimensions: int, dtype: torch.dtype = torch.float64) -> "SampleDB":
        """From the framework's top-level keys ``use_sample_database``, ``max_database_size`` and
        ``model_initialization.use_diagonal_covs``."""
        return SampleDB(num_dimensions, config["model_initialization"].get("use_diagonal_covs", False),
                        config.get("use_sample_database", True), config.get("max_database_size"), dtype)

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    def remove_every_nth_sample(self, n: int) -> None:
        """Keep samples ``0, n, 2n, ...`` and the Gaussians they still refer to."""
        self.samples, self.target_lnpdfs = self.samples[::n], self.target_lnpdfs[::n]
        self.target_grads, mapping = self.target_grads[::n], self.mapping[::n]
        used, self.mapping = torch.unique(mapping, sorted=True, return_inverse=True)
        self.means, self.chols = self.means[used], self.chols[used]

    def add_samples(self, samples: Tensor, means: Tensor, chols: Tensor, target_lnpdfs: Tensor,
                    target_grads: Tensor, mapping: Tensor) -> None:
        """Store ``samples [N, D]`` drawn from the Gaussians ``means [M, D]``, ``chols``, ``mapping [N]`` into them."""
        n = int(samples.shape[0])
        if self.max_samples is not None and n + len(self) > self.max_samples:
            self.remove_every_nth_sample(2)
        self.num_samples_written += n
        if self.keep_samples:
            self.mapping = torch.cat((self.mapping, mapping.long() + self.means.shape[0]))
            self.means = torch.cat((self.means, means))
            self.chols = torch.cat((self.chols, chols))
            self.samples = torch.cat((self.samples, samples))
            self.target_lnpdfs = torch.cat((self.target_lnpdfs, target_lnpdfs))
            self.target_grads = torch.cat((self.target_grads, target_grads))
        else:
            self.mapping, self.means, self.chols = mapping.long(), means, chols
            self.samples, self.target_lnpdfs, self.target_grads = samples, target_lnpdfs, target_grads

    def get_random_sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Up to ``n`` stored samples chosen at random: ``(samples [n, D], target_lnpdfs [n])``."""
        idx = torch.randperm(len(self), generator=generator)[:n]
        return self.samples[idx], self.target_lnpdfs[idx]

    @staticmethod
    def evaluate_background(log_weights: Tensor, means: Tensor, chols: Tensor, samples: Tensor) -> Tensor:
        """``[N]``, the log-density of the mixture ``(log_weights [M], means, chols)`` at ``samples``
        (in chunks of components, for many components)."""
        comp = gaussian_log_densities(samples, means, chols)
        return torch.logsumexp(comp + log_weights.unsqueeze(1), 0)

    def get_newest_samples(self, n: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Up to ``n`` newest samples.

        Returns:
            ``(background log-density [n], samples [n, D], mapping [n], target_lnpdfs [n], target_grads [n, D])``
            where the background mixture weights each drawing Gaussian by its share of the ``n`` samples.
        """
        if len(self) == 0 or n <= 0:
            z = self.samples.new_zeros
            return z(0), z(0, self.dim), torch.zeros(0, dtype=torch.long), z(0), z(0, self.dim)
        start = max(0, len(self) - int(n))
        samples, mapping = self.samples[start:], self.mapping[start:]
        active, counts = torch.unique(mapping, return_counts=True)
        log_w = counts.to(self.samples.dtype).log() - math.log(float(counts.sum()))
        background = self.evaluate_background(log_w, self.means[active], self.chols[active], samples)
        return background, samples, mapping, self.target_lnpdfs[start:], self.target_grads[start:]

    def state_dict(self) -> Dict[str, object]:
        return {k: (v.clone() if isinstance(v, Tensor) else v) for k in self._state for v in [getattr(self, k)]}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        for k in self._state:
            v = state[k]
            setattr(self, k, v.clone() if isinstance(v, Tensor) else v)
