"""Score-function (REINFORCE) estimators of the IW bound gradient: the shared base class, and the
neural baseline network that an estimator can train as its control variate.

For ``L = 1/(1-alpha) log 1/K sum_k w_k^(1-alpha)`` and ``z_k ~ q(z|x)`` (not reparameterized):

    grad_phi L = E[ sum_k (L - v_k) grad_phi log q(z_k|x) ],   v_k = softmax((1-alpha) log w)_k

A control variate ``c_k`` that depends on ``z_{-k}`` (and independent auxiliary
particles) only leaves the estimator unbiased:
``sum_k (L - c_k) grad log q(z_k) + grad L|_z`` where ``grad L|_z`` (z held fixed)
contributes ``-sum_k v_k grad log q(z_k)`` for the inference parameters and
``sum_k v_k grad log p(x, z_k)`` for the generative ones. REINFORCE (:mod:`.reinforce`), VIMCO
(:mod:`.vimco`) and OVIS (:mod:`.ovis`) differ only in their control variates.

References:
    Williams (1992), Simple statistical gradient-following algorithms (REINFORCE).
    Mnih & Gregor (2014), Neural Variational Inference and Learning in Belief Networks (NVIL),
    arXiv:1402.0030.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .base import Diagnostics, GradientEstimator
from .bounds import score_function_weights
from .diagnostics import particle_diagnostics
from .surrogate import finite_log_probs, freebits_layers, linear_surrogate, log_prob_gradient, mean_over_mc

__all__ = ["ScoreFunctionEstimator", "NeuralBaseline"]


class ScoreFunctionEstimator(GradientEstimator):
    """Shared machinery of the score-function estimators (REINFORCE, VIMCO, OVIS).

    Subclasses define :meth:`control_variate` and, if they use auxiliary particles,
    :meth:`particles`. Diagnostics add ``cv/mse``: the mean squared error of the control
    variate against the learning signal ``d_k = L - v_k``.

    The whole gradient is one weighted sum of the evaluated log-probabilities (weights from
    :func:`~ovis.estimators.bounds.score_function_weights`, see
    :func:`~ovis.estimators.surrogate.linear_surrogate`): for particle k, ``log p(x|z_k)`` gets
    ``v_k``, each ``log p(z_k,l)`` gets ``beta_l v_k`` and each ``log q(z_k,l|x)`` gets
    ``(L - c_k) - beta_l v_k``, where ``beta_l`` is ``beta``, or 0 for a layer held by free bits.
    """

    def particles(self, cfg: Dict[str, Any]) -> Tuple[int, int]:
        """``(K, S)``: particles in the bound and auxiliary particles; ``K + S`` are evaluated."""
        return cfg["iw"], 0

    def control_variate(self, x: Tensor, log_wk: Tensor, log_wk_aux: Optional[Tensor],
                        cfg: Dict[str, Any]) -> Optional[Tensor]:
        """Control variates ``c_k``, broadcastable to ``[bs, mc, K]``, from detached log-weights
        ``[bs, mc, K]`` and, for estimators with auxiliary particles, their log-weights
        ``[bs, mc, S]`` (else ``None``). ``None`` means no control variate (``c_k = 0``).

        A control variate that carries a gradient (e.g. a neural baseline ``c(x)``) is trained
        by the estimator: the loss gets the gradient of the zero-valued term
        ``mean_k (d_k - c_k)^2``, the squared error against the learning signal.
        """
        return None

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]) -> Tuple[Tensor, Diagnostics, Dict]:
        K, S = self.particles(cfg)
        mc, alpha, beta, freebits = cfg["mc"], cfg["alpha"], cfg["beta"], cfg["freebits"]
        ev, log_probs, terms, finite = self.evaluate_terms(model, x, mc, K + S, cfg)  # [bs, mc, K + S, ...]
        grad = torch.is_grad_enabled()
        log_w = terms[..., 0]
        log_wk, log_wk_aux = (log_w[..., :K], log_w[..., K:]) if S else (log_w, None)
        c = self.control_variate(x, log_wk, log_wk_aux, cfg)
        learned = c is not None and c.requires_grad
        with torch.no_grad():
            bound, v, prefactor = score_function_weights(log_wk, c, alpha)  # (no graph is recorded here)
            value = -mean_over_mc(bound)
            error = v - prefactor  # c_k - d_k, the control variate's error against d_k = L - v_k
            if grad:
                weights = self.gradient_weights(v, prefactor, log_probs, beta, freebits, K)
                if learned:  # gradient of the zero-valued mean_k (d_k - c_k)^2
                    c_weights = error.sum_to_size(c.shape).mul_(2.0 / (mc * K))
        if grad:
            gradient = [(weights, finite_log_probs(log_probs, finite))]
            if learned:
                gradient.append((c_weights, c))
            loss = linear_surrogate(value, gradient)
        else:
            loss = value
        plain = alpha == 0.0
        diagnostics = particle_diagnostics(value, terms[..., :K, :] if S else terms, log_wk, beta,
                                           bound if plain else None, v if plain else None, cv_error=error,
                                           finite=finite)
        return loss, diagnostics, ev.output

    @staticmethod
    def gradient_weights(v: Tensor, prefactor: Tensor, log_probs: Tensor, beta: float, freebits: Optional[float],
                         K: int) -> Tensor:
        """d loss / d log-probabilities, ``[bs, mc, K + S, 1 + 2L]`` (zeros for auxiliary particles):
        ``-1/mc`` times ``v_k`` for ``log p(x|z_k)``, ``beta_l v_k`` for ``log p(z_k,l)`` and
        ``(L - c_k) - beta_l v_k`` for ``log q(z_k,l|x)``."""
        mc, n, L = v.shape[1], log_probs.shape[2], (log_probs.shape[-1] - 1) // 2
        weights = log_prob_gradient(torch.stack((v, prefactor), -1), L, beta, -1.0 / mc,
                                    freebits_layers(log_probs, freebits, K))
        return F.pad(weights, (0, 0, 0, n - K)) if n > K else weights


class NeuralBaseline(nn.Module):
    """An MLP ``c(x)`` predicting the learning signal of the score-function estimator.

    Arguments:
        input_dim: number of input features (flattened ``x``); ``None`` infers it at the first
            call (run one forward pass before building the optimizer).
        hdim: hidden units (100, as in NVIL's input-dependent baseline).
        nlayers: hidden layers.

    References:
        Mnih & Gregor (2014), Neural Variational Inference and Learning in Belief Networks (NVIL),
        arXiv:1402.0030.

    Example:
        >>> import torch
        >>> baseline = NeuralBaseline(784)
        >>> baseline(torch.zeros(32, 1, 28, 28)).shape
        torch.Size([32])
    """

    def __init__(self, input_dim: Optional[int] = None, hdim: int = 100, nlayers: int = 1) -> None:
        super().__init__()
        layers = []
        first = nn.LazyLinear(hdim) if input_dim is None else nn.Linear(input_dim, hdim)
        layers += [first, nn.Tanh()]
        for _ in range(nlayers - 1):
            layers += [nn.Linear(hdim, hdim), nn.Tanh()]
        layers += [nn.Linear(hdim, 1)]
        self.net = nn.Sequential(*layers)
        # the linear layers of ``net``, in order, for the direct forward pass (replacing a layer of
        # ``net`` after construction is not supported)
        self._linears: Tuple[nn.Module, ...] = tuple(layer for layer in layers if not isinstance(layer, nn.Tanh))

    def forward(self, x: Tensor) -> Tensor:
        """``x [bs, *dims] -> c(x) [bs]``."""
        h = x if x.dim() == 2 else x.reshape(x.shape[0], -1)
        first = self._linears[0]
        if isinstance(first, nn.LazyLinear):  # the first call infers the input size
            return self.net(h.to(self._linears[-1].weight.dtype)).squeeze(-1)
        if h.dtype != first.weight.dtype:
            h = h.to(first.weight.dtype)
        # the layers applied directly: this runs at every step, and the container's per-module
        # calls and lookups cost more than the two small matrix products of NVIL's baseline
        for layer in self._linears[:-1]:
            h = torch.tanh(F.linear(h, layer.weight, layer.bias))
        last = self._linears[-1]
        return F.linear(h, last.weight, last.bias).squeeze(-1)
