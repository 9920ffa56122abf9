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
    _per_sample = ("samples", "target_lnpdfs", "target_grads", "mapping")
    _per_gaussian = ("means", "chols")

    def __init__(self, dim: int, diagonal_covariances: bool, keep_samples: bool = True,
                 max_samples: Optional[int] = None, dtype: torch.dtype = torch.float64):
        self.dim = int(dim)
        self.diagonal_covariances = bool(diagonal_covariances)
        self.keep_samples = bool(keep_samples)
        self.max_samples = None if max_samples is None else int(max_samples)
        o = dict(dtype=dtype)
        # storage with spare capacity (amortized appends); the public tensors are views of the used part
        self._buf = {"samples": torch.zeros(0, dim, **o), "means": torch.zeros(0, dim, **o),
                     "chols": torch.zeros((0, dim) if diagonal_covariances else (0, dim, dim), **o),
                     "target_lnpdfs": torch.zeros(0, **o), "target_grads": torch.zeros(0, dim, **o),
                     "mapping": torch.zeros(0, dtype=torch.long)}
        self._n = 0          # stored samples
        self._m = 0          # stored Gaussians
        self.num_samples_written = 0

    samples = property(lambda self: self._buf["samples"][:self._n])
    target_lnpdfs = property(lambda self: self._buf["target_lnpdfs"][:self._n])
    target_grads = property(lambda self: self._buf["target_grads"][:self._n])
    mapping = property(lambda self: self._buf["mapping"][:self._n])
    means = property(lambda self: self._buf["means"][:self._m])
    chols = property(lambda self: self._buf["chols"][:self._m])

    def _set(self, per_sample: dict, per_gaussian: dict) -> None:
        """Replace the stored data (no spare capacity)."""
        self._buf.update({k: v.clone() for k, v in {**per_sample, **per_gaussian}.items()})
        self._n, self._m = int(per_sample["samples"].shape[0]), int(per_gaussian["means"].shape[0])

    def _append(self, names, count: int, used: int, values: dict) -> None:
        for k in names:
            buf, v = self._buf[k], values[k]
            if used + count > buf.shape[0]:
                grown = buf.new_zeros((max(2 * buf.shape[0], used + count, 16), *buf.shape[1:]))
                grown[:used] = buf[:used]
                self._buf[k] = buf = grown
            buf[used:used + count] = v

    @staticmethod
    def build_from_config(config: Dict, num_dimensions: int, dtype: torch.dtype = torch.float64) -> "SampleDB":
        """From the framework's top-level keys ``use_sample_database``, ``max_database_size`` and
        ``model_initialization.use_diagonal_covs``."""
        return SampleDB(num_dimensions, config["model_initialization"].get("use_diagonal_covs", False),
                        config.get("use_sample_database", True), config.get("max_database_size"), dtype)

    def __len__(self) -> int:
        return self._n

    def remove_every_nth_sample(self, n: int) -> None:
        """Keep samples ``0, n, 2n, ...`` and the Gaussians they still refer to."""
        used, mapping = torch.unique(self.mapping[::n], sorted=True, return_inverse=True)
        self._set({"samples": self.samples[::n], "target_lnpdfs": self.target_lnpdfs[::n],
                   "target_grads": self.target_grads[::n], "mapping": mapping},
                  {"means": self.means[used], "chols": self.chols[used]})

    def add_samples(self, samples: Tensor, means: Tensor, chols: Tensor, target_lnpdfs: Tensor,
                    target_grads: Tensor, mapping: Tensor) -> None:
        """Store ``samples [N, D]`` drawn from the Gaussians ``means [M, D]``, ``chols``, ``mapping [N]`` into them."""
        n = int(samples.shape[0])
        if self.max_samples is not None and n + len(self) > self.max_samples:
            self.remove_every_nth_sample(2)
        self.num_samples_written += n
        per_sample = {"samples": samples, "target_lnpdfs": target_lnpdfs, "target_grads": target_grads}
        if self.keep_samples:
            per_sample["mapping"] = mapping.long() + self._m
            self._append(self._per_sample, n, self._n, per_sample)
            self._append(self._per_gaussian, int(means.shape[0]), self._m, {"means": means, "chols": chols})
            self._n, self._m = self._n + n, self._m + int(means.shape[0])
        else:
            per_sample["mapping"] = mapping.long()
            self._set(per_sample, {"means": means, "chols": chols})

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
        self._set({k: state[k] for k in self._per_sample}, {k: state[k] for k in self._per_gaussian})
        self.num_samples_written = int(state["num_samples_written"])
