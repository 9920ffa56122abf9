"""The thermodynamic variational objective (TVO) and its covariance gradient estimator.

``TVO = sum_j delta_j E_{pi_{beta_j}}[log w]`` over a partition ``0 = beta_0 < ... < beta_n = 1``
of the thermodynamic integral of ``log p(x)``, where ``pi_beta(z) ~ q(z|x)^(1-beta) p(x,z)^beta``.
Expectations are self-normalised importance-sampling estimates with the K particles;
gradients use the covariance estimator (Masrani et al., 2019, eq. 11-13):
``grad E_pi[f] = E_pi[grad f] + Cov_pi(f, grad log pi_tilde)``.

The left Riemann sum is a lower bound of ``log p(x)`` (looser than L_K for a coarse
partition); the right sum an upper bound. TVO optimises this objective, not L_K: its
gradient is *not* an estimate of ``grad L_K``: on the categorical toy (C = 3, every particle
tuple enumerated, default partition, ``tests/estimators/test_exact.py``) its exact relative bias
against ``grad L_K`` is, for K = 2, 3, 4, 0.87, 1.84, 2.84 for the inference gradient and 0.71,
1.20, 1.51 for the full gradient. Its mean equals that of the covariance estimator as written
in the paper (exact, to 1e-8).

Reference: Masrani, Le, Wood (2019), The Thermodynamic Variational Objective,
arXiv:1907.00031.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Tuple

import torch
from torch import Tensor, nn

from .base import Diagnostics, GradientEstimator
from .diagnostics import particle_diagnostics
from .surrogate import finite_log_probs, freebits_layers, linear_surrogate, log_prob_gradient, mean_over_mc

__all__ = ["ThermoVariationalObjective", "tvo_partition", "partition_weights"]

#: beta_1 as a function of K, read off the TVO paper's figure 3 ("config1") and figure 6 ("config2"):
#: (K < 10, K < 30, otherwise).
PARTITION_CONFIGS = {"config1": (5e-2, 2e-1, 3e-1), "config2": (1e-2, 2e-2, 3e-2)}


def tvo_partition(num_partition: int, log_beta_min: float) -> Tensor:
    """``[0, logspace(log_beta_min, 0, num_partition)]``, shape ``[num_partition + 1]``; ``[0, 1]`` for 1.

    Computed in float64 (the estimator casts it to the model's dtype), so that float64 models get
    the partition to full precision."""
    if num_partition < 1:
        raise ValueError(f"num_partition={num_partition} is invalid; expected >= 1")
    if num_partition == 1:
        return torch.tensor([0.0, 1.0], dtype=torch.float64)
    return torch.cat([torch.zeros(1, dtype=torch.float64),
                      torch.logspace(log_beta_min, 0, num_partition, dtype=torch.float64)])


def partition_weights(partition: Tensor, integration: str) -> Tensor:
    """Riemann-sum weights ``delta_j`` for ``left``, ``right`` or ``trapz`` integration, ``[n + 1]``."""
    d = partition[1:] - partition[:-1]
    w = torch.zeros_like(partition)
    if integration == "left":
        w[:-1] = d
    elif integration == "right":
        w[1:] = d
    elif integration == "trapz":
        w[:-1] += 0.5 * d
        w[1:] += 0.5 * d
    else:
        raise ValueError(f"integration={integration!r} is invalid; expected 'left', 'right' or 'trapz'")
    return w


class ThermoVariationalObjective(GradientEstimator):
    """TVO estimator (``tvo``, ``tvo-part{n}-beta{b}-{left,right,trapz}``, ``tvo-config1``...).

    Arguments:
        num_partition: number of partition points after 0 (``-part{n}``).
        log_beta_min: ``log10 beta_1`` (``-beta{b}`` sets ``-b``).
        integration: ``left`` (lower bound), ``right`` or ``trapz``.
        partition_name: ``None``, ``"config1"`` or ``"config2"``: choose beta_1 from K as in
            the TVO paper's figures 3 and 6.

    Example:
        >>> import torch
        >>> from ovis.models import build_model
        >>> model = build_model("sbn", (8,), layers=(4,))
        >>> estimator = ThermoVariationalObjective(iw=8, num_partition=3, log_beta_min=-2)   # tvo-part3-beta2
        >>> estimator.partition(estimator.config)
        tensor([0.0000, 0.0100, 0.1000, 1.0000], dtype=torch.float64)
        >>> loss, _, _ = estimator(model, torch.zeros(3, 8), backward=True)
    """

    options = {**GradientEstimator.options, "num_partition": 2, "log_beta_min": -10.0,
               "integration": "left", "partition_name": None}

    def __init__(self, mc: int = 1, iw: int = 1, **options: Any) -> None:
        super().__init__(mc=mc, iw=iw, **options)
        self._constants: Dict[Tuple, Tuple[Tensor, Tensor, Tensor]] = {}

    def check_config(self, cfg: Dict[str, Any]) -> None:
        if cfg["alpha"] != 0:
            raise ValueError(f"alpha={cfg['alpha']} is not supported by TVO (the partition plays that role); "
                             f"use alpha=0")
        if cfg["partition_name"] not in (None, *PARTITION_CONFIGS):
            raise ValueError(f"partition_name={cfg['partition_name']!r} is invalid; expected None, "
                             f"{', '.join(map(repr, PARTITION_CONFIGS))}")
        partition_weights(torch.zeros(2), cfg["integration"])
        tvo_partition(int(cfg["num_partition"]), float(cfg["log_beta_min"]))

    def partition(self, cfg: Dict[str, Any]) -> Tensor:
        """The partition ``[0, beta_1, .., 1]`` for these options (``partition_name`` reads K = ``iw``)."""
        log_beta_min = float(cfg["log_beta_min"])
        if cfg["partition_name"] is not None:
            small, mid, large = PARTITION_CONFIGS[cfg["partition_name"]]
            K = cfg["iw"]
            log_beta_min = math.log10(small if K < 10 else mid if K < 30 else large)
        return tvo_partition(int(cfg["num_partition"]), log_beta_min)

    def constants(self, cfg: Dict[str, Any], dtype: torch.dtype, device: torch.device) -> Tuple[Tensor, Tensor, Tensor]:
        """``(partition [J], delta [J], mix [2J, 2])``, cached per configuration: ``[w, w * (f - E_j f)] @ mix``
        gives the gradient coefficients of ``log w`` and ``log q`` (see :meth:`compute`)."""
        key = (cfg["iw"], cfg["num_partition"], cfg["log_beta_min"], cfg["integration"], cfg["partition_name"],
               dtype, device)
        if key not in self._constants:
            partition = self.partition(cfg).double()
            delta = partition_weights(partition, cfg["integration"])
            K = cfg["iw"]
            correction = K / (K - 1) if K > 1 else 1.0
            mix = torch.zeros(2 * len(partition), 2, dtype=torch.float64)
            mix[:len(partition), 0] = delta  # E_j[d log w]
            mix[len(partition):, 0] = correction * delta * partition  # Cov_j(log w, beta_j d log w)
            mix[len(partition):, 1] = correction * delta  # Cov_j(log w, d log q)
            self._constants[key] = tuple(t.to(dtype=dtype, device=device) for t in (partition, delta, mix))
        return self._constants[key]

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]) -> Tuple[Tensor, Diagnostics, Dict]:
        """TVO value ``sum_j delta_j E_j[f]`` with ``f = log w`` and, on the K particles (z held fixed),
        the covariance gradient ``sum_j delta_j (E_j[d f] + Cov_j(f, d log q + beta_j d f))``: the
        weights ``sum_j delta_j w_jk (1 + beta_j c (f_k - E_j f))`` on ``d log w_k`` and
        ``sum_j delta_j c w_jk (f_k - E_j f)`` on ``d log q(z_k|x)``, with ``c = K/(K-1)``.

        A particle with zero weight (``log w = -inf``) has weight 0 under every ``pi_beta``, ``beta > 0``,
        and, at ``beta_0 = 0``, under the limit ``beta -> 0+``: the value and gradient stay finite while
        one particle has finite weight."""
        K, mc, beta, freebits = cfg["iw"], cfg["mc"], cfg["beta"], cfg["freebits"]
        ev, log_probs, terms, finite = self.evaluate_terms(model, x, mc, K, cfg)
        grad = torch.is_grad_enabled()
        with torch.no_grad():
            f = terms[..., 0]  # log w, [bs, mc, K]
            partition, delta, mix = self.constants(cfg, f.dtype, f.device)
            log_pi = f.unsqueeze(-1) * partition  # log of the unnormalised pi_beta_j weights, [bs, mc, K, J]
            if not finite:
                # a particle with w = 0 has zero weight under every pi_beta, beta > 0; at beta_0 = 0 take
                # the limit beta -> 0+ (not 0 * -inf = NaN), and keep -inf out of the products below
                zero = f == -math.inf
                log_pi = log_pi.masked_fill(zero.unsqueeze(-1), -math.inf)
                f = f.masked_fill(zero, 0.0)
            w = torch.softmax(log_pi, dim=2)  # pi_beta_j weights, [bs, mc, K, J]
            f_mean = f.unsqueeze(-2) @ w  # E_j[f], [bs, mc, 1, J]
            value = -mean_over_mc((f_mean @ delta).squeeze(-1))
            if grad:
                grads = torch.cat((w, w * (f.unsqueeze(-1) - f_mean)), -1) @ mix  # [bs, mc, K, 2]
                weights = log_prob_gradient(grads, ev.num_layers, beta, -1.0 / mc, freebits_layers(log_probs, freebits))
        loss = linear_surrogate(value, [(weights, finite_log_probs(log_probs, finite))]) if grad else value
        return loss, particle_diagnostics(value, terms, terms[..., 0], beta, finite=finite), ev.output
