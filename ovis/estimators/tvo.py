"""The thermodynamic variational objective (TVO) and its covariance gradient estimator.

``TVO = sum_j delta_j E_{pi_{beta_j}}[log w]`` over a partition ``0 = beta_0 < ... < beta_n = 1``
of the thermodynamic integral of ``log p(x)``, where ``pi_beta(z) ~ q(z|x)^(1-beta) p(x,z)^beta``.
Expectations are self-normalised importance-sampling estimates with the K particles;
gradients use the covariance estimator (Masrani et al., 2019, eq. 11-13):
``grad E_pi[f] = E_pi[grad f] + Cov_pi(f, grad log pi_tilde)``.

The left Riemann sum is a lower bound of ``log p(x)`` (looser than L_K for a coarse
partition); the right sum an upper bound. TVO optimises this objective, not L_K: its
gradient is *not* an estimate of ``grad L_K``: on the categorical toy (C = 3, exact
enumeration, default partition) the relative bias of the inference gradient against
``grad_phi L_K`` is 0.87 (K = 2) and 2.83 (K = 4) (``tests/estimators/test_unbiasedness.py``).

Reference: Masrani, Le, Wood (2019), The Thermodynamic Variational Objective,
arXiv:1907.00031.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from .base import Diagnostics, Evaluation, GradientEstimator

__all__ = ["ThermoVariationalObjective", "tvo_partition", "partition_weights"]

#: beta_1 as a function of K, read off the TVO paper's figure 3 ("config1") and figure 6 ("config2"):
#: (K < 10, K < 30, otherwise).
PARTITION_CONFIGS = {"config1": (5e-2, 2e-1, 3e-1), "config2": (1e-2, 2e-2, 3e-2)}


def tvo_partition(num_partition: int, log_beta_min: float) -> Tensor:
    """``[0, logspace(log_beta_min, 0, num_partition)]``, shape ``[num_partition + 1]``; ``[0, 1]`` for 1."""
    if num_partition < 1:
        raise ValueError(f"num_partition={num_partition} is invalid; expected >= 1")
    if num_partition == 1:
        return torch.tensor([0.0, 1.0])
    return torch.cat([torch.zeros(1), torch.logspace(log_beta_min, 0, num_partition)])


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
    """

    options = {**GradientEstimator.options, "num_partition": 2, "log_beta_min": -10.0,
               "integration": "left", "partition_name": None}

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
        log_beta_min = float(cfg["log_beta_min"])
        if cfg["partition_name"] is not None:
            small, mid, large = PARTITION_CONFIGS[cfg["partition_name"]]
            K = cfg["iw"]
            log_beta_min = math.log10(small if K < 10 else mid if K < 30 else large)
        return tvo_partition(int(cfg["num_partition"]), log_beta_min)

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]) -> Tuple[Tensor, Diagnostics, Dict]:
        K = cfg["iw"]
        ev = self.evaluate(model, x, cfg["mc"], K, reparam=False, chunk=cfg["sequential_computation"])
        log_wk = ev.log_wk(cfg["beta"], cfg["freebits"]).unsqueeze(-1)  # [bs, mc, K, 1]
        log_q = ev.log_qz.sum(-1).unsqueeze(-1)
        partition = self.partition(cfg).to(log_wk)  # [J]
        delta = partition_weights(partition, cfg["integration"])
        with torch.no_grad():
            w = torch.softmax(log_wk * partition, dim=2)  # pi_beta_j weights, [bs, mc, K, J]
            f_mean = (w * log_wk).sum(2, keepdim=True)
            centred_f = log_wk - f_mean
        # log pi_tilde_j = log q + beta_j log w; only its gradient matters (value-zero term).
        thermo = log_q + partition * log_wk
        thermo = thermo - thermo.detach()
        correction = K / (K - 1) if K > 1 else 1.0
        cov = correction * (w * centred_f * (thermo - (w * thermo).sum(2, keepdim=True))).sum(2)
        expectation = (w * log_wk).sum(2)  # [bs, mc, J]
        tvo = ((expectation + cov) * delta).sum(-1)  # [bs, mc]
        loss = -tvo.mean(1)
        return loss, self.base_diagnostics(ev, loss, cfg["beta"]), ev.output
