"""The Gaussian mixture model that GMMVI optimizes, with its per-component bookkeeping.

:class:`GaussianMixture` holds log-weights ``[K]``, means ``[K, D]`` and Cholesky
factors of the covariances, ``[K, D, D]`` (full) or ``[K, D]`` (diagonal: the
standard deviations). Every operation is batched over components; the
per-component log-densities ``[K, N]`` are computed in chunks of components so
that memory stays bounded for many components and samples.

Alongside the parameters it keeps what the design choices need per component
(the framework's ``GmmWrapper``): step sizes, ridge regularizers of the MORE
fit, the last trust-region multiplier, the number of updates received, reward
and weight histories, a unique id, the threshold it was added with and its
initial entropy. Adding and removing components keeps all of them aligned.

References:
    | A Unified Perspective on Natural Gradient Variational Inference with Gaussian Mixture Models
    | (Arenz, Dahlinger, Ye, Volpp, Neumann, TMLR 2023)
    | https://arxiv.org/abs/2209.11533

Example:
    >>> import torch
    >>> q = GaussianMixture.from_init(num_dimensions=2, num_initial_components=3,
    ...                               prior_mean=0.0, prior_scale=1.0, initial_cov=1.0)
    >>> x, mapping = q.sample(5)
    >>> q.log_density(x).shape
    torch.Size([5])
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

__all__ = ["GaussianMixture", "gaussian_log_densities", "weighted_logsumexp", "BLOCK_NUMBERS", "HISTORY_SENTINEL"]

#: value of an empty slot of the reward/weight histories (the float32 minimum, as in the framework)
HISTORY_SENTINEL = -3.4028234663852886e38
LOG_2PI = math.log(2.0 * math.pi)
#: numbers per block of the blocked per-pair computations (small enough to stay in the CPU cache)
BLOCK_NUMBERS = 1 << 18
#: numbers per block of sample rows in the products over components (``[rows, D, D]``)
ROW_BLOCK_NUMBERS = 1 << 22
#: at most this many numbers ``K N D`` are kept as ``Sigma_k^{-1} (x_n - mu_k)`` for all pairs at once
PAIR_NUMBERS_MAX = 1 << 24


def weighted_logsumexp(log_densities: Tensor, log_weights: Tensor) -> Tensor:
    """``log sum_k exp(log_densities[k, n] + log_weights[k])``, computed in blocks of columns that stay in the
    CPU cache (the same numbers as one ``torch.logsumexp`` over the whole array).

    Arguments:
        log_densities: ``[K, N]``.
        log_weights: ``[K]``.

    Returns:
        ``[N]``.
    """
    K, N = log_densities.shape
    lw = log_weights.unsqueeze(1)
    cols = max(64, BLOCK_NUMBERS // max(1, K))
    if cols >= N:
        return torch.logsumexp(log_densities + lw, 0)
    out = log_densities.new_empty(N)
    for j in range(0, N, cols):
        out[j:j + cols] = torch.logsumexp(log_densities[:, j:j + cols] + lw, 0)
    return out


def gaussian_log_densities(x: Tensor, means: Tensor, chols: Tensor, chunk: int = 0) -> Tensor:
    """Log-densities of each sample under each Gaussian.

    Full covariances: ``z = L_k^{-1} x_n - L_k^{-1} mu_k`` for a block of components at once by one matrix
    product ``x_block @ [L_1^{-T} ... L_k^{-T}]``, in blocks of samples and components of about 2^18
    numbers (:data:`BLOCK_NUMBERS`, they stay in the CPU cache), written into the preallocated ``[K, N]`` result.

    Arguments:
        x: samples, ``[N, D]``.
        means: ``[K, D]``.
        chols: lower Cholesky factors ``[K, D, D]`` or standard deviations ``[K, D]`` (diagonal).
        chunk: components per chunk (0: chosen automatically; the result does not depend on it).

    Returns:
        ``[K, N]``, ``log N(x_n; mu_k, L_k L_k^T)``.
    """
    K, D = means.shape
    N = x.shape[0]
    if K == 0 or N == 0:
        return x.new_zeros(K, N)
    if chols.dim() == 2:                                                       # diagonal
        if chunk <= 0:
            chunk = max(1, (1 << 24) // max(1, N * D))
        out = []
        xt = x.T                                                               # [D, N]
        for s in range(0, K, chunk):
            m, L = means[s:s + chunk], chols[s:s + chunk]
            z = (xt.unsqueeze(0) - m.unsqueeze(-1)) / L.unsqueeze(-1)           # [k, D, N]
            out.append(-0.5 * (z * z).sum(1) - (L.log().sum(-1) + 0.5 * D * LOG_2PI).unsqueeze(1))
        return torch.cat(out, 0)
    Linv = torch.linalg.solve_triangular(chols, torch.eye(D, dtype=x.dtype).expand_as(chols), upper=False)
    b = (Linv @ means.unsqueeze(-1)).squeeze(-1)                               # [K, D], L^{-1} mu
    const = torch.diagonal(chols, dim1=-2, dim2=-1).log().sum(-1) + 0.5 * D * LOG_2PI      # [K]
    kc = chunk if chunk > 0 else max(1, min(K, BLOCK_NUMBERS // (D * 256)))
    ns = max(1, BLOCK_NUMBERS // (kc * D))
    out = x.new_empty(K, N)
    for s in range(0, K, kc):
        k = min(kc, K - s)
        Wt = Linv[s:s + k].reshape(k * D, D).T                                 # [D, k D]
        bk = b[s:s + k].reshape(k * D)
        o = out[s:s + k]
        for j in range(0, N, ns):
            z = x[j:j + ns] @ Wt                                               # [n, k D]
            z.sub_(bk).square_()
            o[:, j:j + ns] = z.view(-1, k, D).sum(-1).T
        o.mul_(-0.5).sub_(const[s:s + k].unsqueeze(1))
    return out


def _per_dimension(value: Union[float, Sequence[float], Tensor], D: int, dtype: torch.dtype) -> Tensor:
    t = torch.as_tensor(value, dtype=dtype)
    if t.dim() == 0:
        t = t.expand(D)
    if t.shape != (D,):
        raise ValueError(f"expected a scalar or {D} values, got shape {tuple(t.shape)}")
    return t.clone()


class GaussianMixture:
    """A Gaussian mixture with full or diagonal covariances and per-component bookkeeping.

    Arguments:
        log_weights: ``[K]`` (normalized on construction).
        means: ``[K, D]``.
        chols: lower Cholesky factors ``[K, D, D]``, or standard deviations ``[K, D]`` for diagonal covariances.
        initial_stepsize: step size a new component starts with.
        initial_regularizer: ridge coefficient a new component starts with (MORE).
        max_reward_history_length: length of the reward and weight histories.
    """

    _bookkeeping = ("stepsizes", "l2_regularizers", "last_etas", "num_received_updates", "reward_history",
                    "weight_history", "unique_component_ids", "adding_thresholds", "initial_entropies")

    def __init__(self, log_weights: Tensor, means: Tensor, chols: Tensor, initial_stepsize: float = 1.0,
                 initial_regularizer: float = 1e-12, max_reward_history_length: int = 2):
        if means.dim() != 2 or log_weights.shape != means.shape[:1] or chols.shape[:2] != means.shape:
            raise ValueError(f"inconsistent shapes: log_weights {tuple(log_weights.shape)}, means "
                             f"{tuple(means.shape)}, chols {tuple(chols.shape)}; expected [K], [K, D], [K, D(, D)]")
        self.log_weights = log_weights - torch.logsumexp(log_weights, 0)
        self.means = means
        self.chols = chols
        self.initial_stepsize = float(initial_stepsize)
        self.initial_regularizer = float(initial_regularizer)
        self.max_reward_history_length = int(max(2, max_reward_history_length))
        K, H = self.num_components, self.max_reward_history_length
        o = dict(dtype=means.dtype)
        self.stepsizes = torch.full((K,), self.initial_stepsize, **o)
        self.l2_regularizers = torch.full((K,), self.initial_regularizer, **o)
        self.last_etas = torch.full((K,), -1.0, **o)
        self.num_received_updates = torch.zeros(K, **o)
        self.reward_history = torch.full((K, H), HISTORY_SENTINEL, **o)
        self.weight_history = torch.full((K, H), HISTORY_SENTINEL, **o)
        self.unique_component_ids = torch.arange(K)
        self.max_component_id = K - 1
        self.adding_thresholds = -torch.ones(K, **o)
        self.initial_entropies = self.component_entropies()
        self._memo: Optional[Tuple[Tensor, Tensor, Tensor, Tensor]] = None
        self._precision_memo: Optional[Tuple[Tensor, Tensor]] = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_init(cls, num_dimensions: int, num_initial_components: int, prior_mean, prior_scale,
                  use_diagonal_covs: bool = False, initial_cov=None, dtype: torch.dtype = torch.float64,
                  generator: Optional[torch.Generator] = None, **bookkeeping) -> "GaussianMixture":
        """The initial mixture of the framework's ``model_initialization`` section.

        One component sits at ``prior_mean``; several are drawn from ``N(prior_mean, diag(prior_scale^2))``.
        All get covariance ``initial_cov`` (scalar or per dimension; default ``prior_scale^2``) and equal weights.
        """
        D, K = int(num_dimensions), int(num_initial_components)
        if K < 1:
            raise ValueError(f"num_initial_components must be >= 1, got {K}")
        mean0 = _per_dimension(prior_mean, D, dtype)
        scale = _per_dimension(prior_scale, D, dtype)
        var = scale ** 2 if initial_cov is None else _per_dimension(initial_cov, D, dtype)
        if K == 1:
            means = mean0.unsqueeze(0)
        else:
            means = mean0 + scale * torch.randn(K, D, dtype=dtype, generator=generator)
        std = var.sqrt().expand(K, D).clone()
        chols = std if use_diagonal_covs else torch.diag_embed(std)
        return cls(torch.full((K,), -math.log(K), dtype=dtype), means, chols, **bookkeeping)

    # ------------------------------------------------------------------ properties
    @property
    def num_components(self) -> int:
        return int(self.log_weights.shape[0])

    @property
    def num_dimensions(self) -> int:
        return int(self.means.shape[1])

    @property
    def diagonal(self) -> bool:
        return self.chols.dim() == 2

    @property
    def dtype(self) -> torch.dtype:
        return self.means.dtype

    @property
    def weights(self) -> Tensor:
        """``[K]``."""
        return self.log_weights.exp()

    @property
    def covs(self) -> Tensor:
        """``[K, D, D]`` (full) or variances ``[K, D]`` (diagonal)."""
        return self.chols ** 2 if self.diagonal else self.chols @ self.chols.transpose(-1, -2)

    def precisions(self) -> Tensor:
        """``[K, D, D]`` (full) or ``[K, D]`` (diagonal); computed once per set of Cholesky factors."""
        memo = getattr(self, "_precision_memo", None)
        if memo is not None and memo[0] is self.chols:
            return memo[1]
        if self.diagonal:
            P = self.chols ** -2
        else:
            inv = torch.linalg.solve_triangular(self.chols, torch.eye(self.num_dimensions, dtype=self.dtype)
                                                .expand_as(self.chols), upper=False)
            P = inv.transpose(-1, -2) @ inv
        self._precision_memo = (self.chols, P)
        return P

    def component_entropies(self) -> Tensor:
        """``[K]``, the differential entropy of each component."""
        L = self.chols if self.diagonal else torch.diagonal(self.chols, dim1=-2, dim2=-1)
        return 0.5 * self.num_dimensions * (LOG_2PI + 1.0) + L.log().sum(-1)

    def average_entropy(self) -> Tensor:
        """Scalar, ``sum_k w_k H(q_k)``."""
        return (self.weights * self.component_entropies()).sum()

    # ------------------------------------------------------------------ densities
    def component_log_densities(self, x: Tensor) -> Tensor:
        """``[K, N]`` for ``x`` of shape ``[N, D]`` (the remembered values if :meth:`remember_log_densities`
        was called with this very tensor ``x`` and the components have not been replaced since)."""
        memo = getattr(self, "_memo", None)
        if memo is not None and memo[0] is x and memo[1] is self.means and memo[2] is self.chols:
            return memo[3]
        return gaussian_log_densities(x, self.means, self.chols)

    def remember_log_densities(self, x: Tensor, component_log_densities: Tensor) -> None:
        """Remember ``log q(x|k)`` ``[K, N]`` for the tensor ``x`` ``[N, D]`` (e.g. computed by the sample
        database), so that :meth:`component_log_densities` of that same tensor does not recompute them.
        Replacing the means or Cholesky factors (any update) forgets them; they must not be changed in place."""
        if component_log_densities.shape != (self.num_components, x.shape[0]):
            raise ValueError(f"expected log-densities of shape {(self.num_components, x.shape[0])}, "
                             f"got {tuple(component_log_densities.shape)}")
        self._memo = (x, self.means, self.chols, component_log_densities)

    def precision_times_diffs(self, x: Tensor, start: int = 0, stop: Optional[int] = None) -> Tensor:
        """``[k, N, D]``, ``Sigma_j^{-1} (x_n - mu_j)`` for the components ``j`` in ``start:stop``."""
        P = self.precisions()[start:stop]
        diff = x.unsqueeze(0) - self.means[start:stop].unsqueeze(1)                 # [k, N, D]
        return diff * P.unsqueeze(1) if self.diagonal else diff @ P              # P symmetric

    def log_densities_also_individual(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(log q(x) [N], log q(x|k) [K, N])``."""
        comp = self.component_log_densities(x)
        return weighted_logsumexp(comp, self.log_weights), comp

    def log_density(self, x: Tensor) -> Tensor:
        """``[N]``, ``log q(x)``."""
        return self.log_densities_also_individual(x)[0]

    def log_density_and_grad(self, x: Tensor, return_precision_times_diffs: bool = False):
        """``(log q(x) [N], grad_x log q(x) [N, D], log q(x|k) [K, N])`` in closed form.

        ``grad log q(x) = sum_k q(k|x) (-Sigma_k^{-1} (x - mu_k))``. With ``return_precision_times_diffs``
        a fourth element is ``Sigma_k^{-1} (x - mu_k)`` ``[K, N, D]`` if it fits in memory (else ``None``).
        """
        logq, comp = self.log_densities_also_individual(x)
        resp = (comp + self.log_weights.unsqueeze(1) - logq).exp()          # [K, N]
        K, N, D = self.num_components, x.shape[0], self.num_dimensions
        if return_precision_times_diffs and K * N * D <= PAIR_NUMBERS_MAX:
            pds = self.precision_times_diffs(x)                               # [K, N, D]
            return logq, -torch.einsum("kn,knd->nd", resp, pds), comp, pds
        # sum_k r_kn P_k (x_n - mu_k) = (sum_k r_kn P_k) x_n - sum_k r_kn P_k mu_k: two matrix products over the
        # components, in blocks of samples ([N, K, D] is never formed)
        P = self.precisions()
        Pm = self.means * P if self.diagonal else (P @ self.means.unsqueeze(-1)).squeeze(-1)      # [K, D]
        grad = resp.T @ Pm                                                     # [N, D]
        if self.diagonal:
            grad -= x * (resp.T @ P)
        else:
            Pf = P.reshape(K, D * D)
            rows = max(1, ROW_BLOCK_NUMBERS // (D * D))
            for n0 in range(0, N, rows):
                R = (resp[:, n0:n0 + rows].T @ Pf).view(-1, D, D)                 # [n, D, D]
                grad[n0:n0 + rows] -= (R @ x[n0:n0 + rows].unsqueeze(-1)).squeeze(-1)
        if return_precision_times_diffs:
            return logq, grad, comp, None
        return logq, grad, comp

    def marginal_log_density(self, x: Tensor, dim: int) -> Tensor:
        """``[N]``, the log-density of the marginal of dimension ``dim`` at ``x[:, dim]`` (or ``x`` if 1-D)."""
        v = x[:, dim] if x.dim() == 2 else x
        var = self.covs[:, dim] if self.diagonal else self.covs[:, dim, dim]
        lp = -0.5 * (v.unsqueeze(0) - self.means[:, dim:dim + 1]) ** 2 / var.unsqueeze(1) \
            - 0.5 * (var.log() + LOG_2PI).unsqueeze(1)
        return torch.logsumexp(lp + self.log_weights.unsqueeze(1), 0)

    # ------------------------------------------------------------------ sampling
    def sample_from_components(self, counts: Tensor, generator: Optional[torch.Generator] = None
                               ) -> Tuple[Tensor, Tensor]:
        """Draw ``counts[k]`` samples from component ``k``, grouped by component.

        Returns:
            ``(x [sum(counts), D], mapping [sum(counts)])`` with the component index of each sample.
        """
        mapping = torch.repeat_interleave(torch.arange(self.num_components), counts.long())
        eps = torch.randn(mapping.shape[0], self.num_dimensions, dtype=self.dtype, generator=generator)
        if self.diagonal:
            x = self.means[mapping] + self.chols[mapping] * eps
        else:
            x = self.means[mapping] + torch.einsum("nij,nj->ni", self.chols[mapping], eps)
        return x, mapping

    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> Tuple[Tensor, Tensor]:
        """Draw ``n`` samples from the mixture, grouped by component: ``(x [n, D], mapping [n])``."""
        k = torch.multinomial(self.weights, int(n), replacement=True, generator=generator) if n > 0 \
            else torch.zeros(0, dtype=torch.long)
        counts = torch.bincount(k, minlength=self.num_components)
        return self.sample_from_components(counts, generator)

    # ------------------------------------------------------------------ changes
    def replace_weights(self, new_log_weights: Tensor) -> None:
        """Set (and normalize) the log-weights; push the weights onto the weight history."""
        self.log_weights = new_log_weights - torch.logsumexp(new_log_weights, 0)
        self.weight_history = torch.cat((self.weight_history[:, 1:], self.weights.unsqueeze(1)), 1)

    def replace_components(self, means: Tensor, chols: Tensor) -> None:
        """Set the means ``[K, D]`` and Cholesky factors."""
        self.means, self.chols = means, chols

    def store_rewards(self, rewards: Tensor) -> None:
        """Push ``rewards [K]`` onto the reward history."""
        self.reward_history = torch.cat((self.reward_history[:, 1:], rewards.unsqueeze(1)), 1)

    def add_component(self, initial_weight: float, mean: Tensor, cov: Tensor, adding_threshold: float,
                      initial_entropy: float) -> None:
        """Append a component with weight ``initial_weight``, ``mean [D]`` and ``cov`` (``[D, D]`` or ``[D]``)."""
        o = dict(dtype=self.dtype)
        chol = cov.sqrt() if self.diagonal else torch.linalg.cholesky(cov)
        self.means = torch.cat((self.means, mean.unsqueeze(0)), 0)
        self.chols = torch.cat((self.chols, chol.unsqueeze(0)), 0)
        self.log_weights = torch.cat((self.log_weights, torch.tensor([math.log(initial_weight)], **o)))
        self.log_weights = self.log_weights - torch.logsumexp(self.log_weights, 0)
        self.max_component_id += 1
        H = self.max_reward_history_length
        self.unique_component_ids = torch.cat((self.unique_component_ids, torch.tensor([self.max_component_id])))
        self.stepsizes = torch.cat((self.stepsizes, torch.tensor([self.initial_stepsize], **o)))
        self.l2_regularizers = torch.cat((self.l2_regularizers, torch.tensor([self.initial_regularizer], **o)))
        self.last_etas = torch.cat((self.last_etas, torch.tensor([-1.0], **o)))
        self.num_received_updates = torch.cat((self.num_received_updates, torch.zeros(1, **o)))
        self.reward_history = torch.cat((self.reward_history, torch.full((1, H), HISTORY_SENTINEL, **o)))
        self.weight_history = torch.cat((self.weight_history, torch.full((1, H), float(initial_weight), **o)))
        self.adding_thresholds = torch.cat((self.adding_thresholds, torch.tensor([float(adding_threshold)], **o)))
        self.initial_entropies = torch.cat((self.initial_entropies, torch.tensor([float(initial_entropy)], **o)))

    def remove_components(self, indices: Tensor) -> None:
        """Remove the components at ``indices`` (any order); the weights are renormalized."""
        keep = torch.ones(self.num_components, dtype=torch.bool)
        keep[indices.long()] = False
        for name in ("means", "chols", *self._bookkeeping):
            setattr(self, name, getattr(self, name)[keep])
        lw = self.log_weights[keep]
        self.log_weights = lw - torch.logsumexp(lw, 0)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> Dict[str, object]:
        names = ("log_weights", "means", "chols", *self._bookkeeping)
        state = {n: getattr(self, n).clone() for n in names}
        state.update(max_component_id=self.max_component_id, initial_stepsize=self.initial_stepsize,
                     initial_regularizer=self.initial_regularizer,
                     max_reward_history_length=self.max_reward_history_length)
        return state

    def load_state_dict(self, state: Dict[str, object]) -> None:
        for name, value in state.items():
            setattr(self, name, value.clone() if isinstance(value, Tensor) else value)
        self._memo = self._precision_memo = None

    def __repr__(self) -> str:
        kind = "diagonal" if self.diagonal else "full"
        return f"GaussianMixture(K={self.num_components}, D={self.num_dimensions}, {kind}, {self.dtype})"
