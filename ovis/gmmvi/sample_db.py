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

from .mixture import gaussian_log_densities, weighted_logsumexp

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
        # log-densities of stored samples under stored Gaussians never change: a cache (first Gaussian,
        # first sample, [Gaussians, samples]) covering the last two requests when they overlap
        self._cache: Optional[Tuple[int, int, Tensor]] = None
        self._last_request: Optional[Tuple[int, int, int]] = None
        self._last_window: Optional[Tuple[int, int, int, Tensor]] = None

    #: the log-density cache holds at most this many numbers (beyond it, nothing is cached)
    max_cache_numbers = 1 << 27

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
        self._cache = self._last_request = self._last_window = None       # indices changed

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
        return weighted_logsumexp(gaussian_log_densities(samples, means, chols), log_weights)

    def _log_density_block(self, g0: int, g1: int, s0: int, s1: int) -> Tensor:
        """``[g1 - g0, s1 - s0]``, log-densities of stored samples ``s0:s1`` under stored Gaussians ``g0:g1``,
        taken from the cache where it overlaps and computed elsewhere."""
        def compute(a, b, c, d):
            return gaussian_log_densities(self.samples[c:d], self.means[a:b], self.chols[a:b])

        if self._cache is None:
            return compute(g0, g1, s0, s1)
        cg0, cs0, C = self._cache
        i0, i1 = max(g0, cg0), min(g1, cg0 + C.shape[0])
        j0, j1 = max(s0, cs0), min(s1, cs0 + C.shape[1])
        if i0 >= i1 or j0 >= j1:
            return compute(g0, g1, s0, s1)
        block = C.new_empty(g1 - g0, s1 - s0)
        block[i0 - g0:i1 - g0, j0 - s0:j1 - s0] = C[i0 - cg0:i1 - cg0, j0 - cs0:j1 - cs0]
        if g0 < i0:
            block[:i0 - g0] = compute(g0, i0, s0, s1)
        if i1 < g1:
            block[i1 - g0:] = compute(i1, g1, s0, s1)
        if s0 < j0:
            block[i0 - g0:i1 - g0, :j0 - s0] = compute(i0, i1, s0, j0)
        if j1 < s1:
            block[i0 - g0:i1 - g0, j1 - s0:] = compute(i0, i1, j1, s1)
        return block

    def get_newest_samples(self, n: int) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Up to ``n`` newest samples.

        The log-densities of the samples under the drawing Gaussians are cached between calls (they never
        change), so consecutive, overlapping windows only evaluate the new samples and the new Gaussians.

        Returns:
            ``(background log-density [n], samples [n, D], mapping [n], target_lnpdfs [n], target_grads [n, D])``
            where the background mixture weights each drawing Gaussian by its share of the ``n`` samples.
        """
        self._last_window = None
        if len(self) == 0 or n <= 0:
            z = self.samples.new_zeros
            return z(0), z(0, self.dim), torch.zeros(0, dtype=torch.long), z(0), z(0, self.dim)
        start = max(0, len(self) - int(n))
        samples, mapping = self.samples[start:], self.mapping[start:]
        active, counts = torch.unique(mapping, sorted=True, return_counts=True)
        log_w = counts.to(self.samples.dtype).log() - math.log(float(counts.sum()))
        g0 = int(active[0])
        lo_g, lo_s = g0, start
        last = self._last_request
        if last is not None and last[2] > start:        # overlapping windows: keep the last one cached too
            lo_g, lo_s = min(lo_g, last[0]), min(lo_s, last[1])
        self._last_request = (g0, start, self._n)
        if (self._m - lo_g) * (self._n - lo_s) <= self.max_cache_numbers:
            block = self._log_density_block(lo_g, self._m, lo_s, self._n)
            self._cache = (lo_g, lo_s, block)
            window = block[g0 - lo_g:, start - lo_s:]                             # Gaussians g0.., these samples
            self._last_window = (g0, self._m, self._n, window)
            contiguous = int(active[-1]) - g0 + 1 == active.shape[0]           # every Gaussian of the window
            comp = window[:active.shape[0]] if contiguous else window[active - g0]
        else:
            self._cache = None
            comp = gaussian_log_densities(samples, self.means[active], self.chols[active])
        background = weighted_logsumexp(comp, log_w)
        return background, samples, mapping, self.target_lnpdfs[start:], self.target_grads[start:]

    def newest_gaussians_log_densities(self, k: int) -> Optional[Tensor]:
        """``[k, n]``: the log-densities of the samples last returned by :meth:`get_newest_samples` under the
        ``k`` newest stored Gaussians, if that call computed them (``None`` otherwise)."""
        if self._last_window is None:
            return None
        g0, m, n, window = self._last_window
        if m != self._m or n != self._n or m - k < g0:
            return None
        return window[m - k - g0:]

    def state_dict(self) -> Dict[str, object]:
        return {k: (v.clone() if isinstance(v, Tensor) else v) for k in self._state for v in [getattr(self, k)]}

    def load_state_dict(self, state: Dict[str, object]) -> None:
        self._set({k: state[k] for k in self._per_sample}, {k: state[k] for k in self._per_gaussian})
        self.num_samples_written = int(state["num_samples_written"])
