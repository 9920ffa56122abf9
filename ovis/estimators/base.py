"""The one data path every estimator follows, and the estimator base class.

::

    x [bs, *dims]
     └─ expand to [bs*mc*iw, *dims]
         └─ model(x, reparam=...) -> {'px', 'z': [..], 'qz': [..], 'pz': [..]}
             └─ log p(x|z) [bs,mc,iw], log p(z), log q(z|x) [bs,mc,iw,L]
                 └─ log w_k = log p(x|z) - beta * (log q - log p)   [bs,mc,iw]
                     └─ estimator-specific surrogate loss + diagnostics

Estimators hold their configuration (``mc``, ``iw``, ``alpha``, ``beta``,
``freebits``, ``sequential_computation`` and their own options); each option can
be overridden per call, e.g. ``estimator(model, x, alpha=0.5)``. An unknown
option raises a ``TypeError`` that lists the valid ones.

Every estimator returns ``(loss, diagnostics, output)``: ``loss`` has shape
``[bs]`` (call ``loss.mean().backward()``) and its *value* is minus the
objective the estimator optimises (the surrogate terms that only carry
gradients have value zero); ``diagnostics`` is a nested dict of detached
``[bs]`` tensors, ``{'loss': {'loss', 'L_k', 'elbo', 'kl', 'nll', 'kl_q_p',
'ess'}, ...}``; ``output`` is the model's output dict.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from ..models.template import ModelContractError, flat_log_prob, validate_model_output
from .bounds import check_alpha, effective_sample_size, iw_bound

__all__ = ["GradientEstimator", "Evaluation", "Diagnostics", "detach_distribution", "expand_particles"]

Diagnostics = Dict[str, Dict[str, Tensor]]


def expand_particles(x: Tensor, mc: int, iw: int) -> Tensor:
    """Repeat each row of ``x`` ``mc*iw`` times: ``[bs, *dims] -> [bs*mc*iw, *dims]``.

    Row ``b*mc*iw + m*iw + k`` holds ``x[b]`` (particle k of Monte-Carlo sample m).
    """
    bs = x.shape[0]
    return x.unsqueeze(1).expand(bs, mc * iw, *x.shape[1:]).reshape(bs * mc * iw, *x.shape[1:])


def detach_distribution(dist: Distribution) -> Distribution:
    """A shallow copy of ``dist`` whose parameters are detached (``log_prob`` has no parameter
    gradient, but still depends on its argument). Used by STL and DReG (Roeder et al., 2017)."""
    new = copy.copy(dist)
    for key, val in list(vars(new).items()):
        if isinstance(val, Tensor):
            setattr(new, key, val.detach())
        elif isinstance(val, Distribution):
            setattr(new, key, detach_distribution(val))
    return new


@dataclass
class Evaluation:
    """Log-probabilities of ``bs*mc*iw`` particles.

    Attributes:
        log_px_z: ``log p(x|z)``, ``[bs, mc, iw]``.
        log_pz: ``log p(z_l|...)`` per layer, ``[bs, mc, iw, L]``.
        log_qz: ``log q(z_l|...)`` per layer, ``[bs, mc, iw, L]``.
        output: the model output (of the last chunk under sequential computation).
    """
    log_px_z: Tensor
    log_pz: Tensor
    log_qz: Tensor
    output: Dict[str, Any]

    def regroup(self, mc: int, iw: int) -> "Evaluation":
        """The same i.i.d. particles grouped as ``[bs, mc, iw]`` (``mc*iw`` must be unchanged)."""
        bs, L = self.log_px_z.shape[0], self.log_pz.shape[-1]
        return Evaluation(self.log_px_z.reshape(bs, mc, iw), self.log_pz.reshape(bs, mc, iw, L),
                          self.log_qz.reshape(bs, mc, iw, L), self.output)

    def particles(self, start: int, stop: int) -> "Evaluation":
        """The particles ``start:stop`` of the last (iw) dimension."""
        return Evaluation(self.log_px_z[..., start:stop], self.log_pz[..., start:stop, :],
                          self.log_qz[..., start:stop, :], self.output)

    def kl(self) -> Tensor:
        """Per-layer ``log q - log p``, ``[bs, mc, iw, L]``."""
        return self.log_qz - self.log_pz

    def log_wk(self, beta: float = 1.0, freebits: Optional[float] = None) -> Tensor:
        """``log w_k = log p(x|z) - beta * sum_l kl_l``, ``[bs, mc, iw]``.

        With ``freebits = lambda`` (Kingma et al., 2016, arXiv:1606.04934), a layer whose
        KL averaged over the batch and particles is below ``lambda`` nats gets no gradient
        through its KL term (its value is unchanged, so bounds stay honest).
        """
        kl = self.kl()
        if freebits is not None:
            mean_kl = kl.detach().mean(dim=(0, 1, 2), keepdim=True)
            kl = torch.where(mean_kl > freebits, kl, kl.detach())
        kl = kl.sum(-1)
        return self.log_px_z - (kl if beta == 1.0 else beta * kl)


class GradientEstimator(nn.Module):
    """Base class: configuration, model evaluation, contract validation and diagnostics.

    Args:
        mc: number of independent Monte-Carlo samples of the bound (averaged).
        iw: number of importance-weighted particles K per bound.
        alpha: Renyi parameter of the IWR bound (``alpha < 1``; 0: IW bound).
        beta: weight of the KL term in the log-weights.
        freebits: free-bits threshold in nats per layer (``None``: off).
        sequential_computation: evaluate the particles in chunks of this many (0: all at once);
            bounds memory at evaluation time (use under ``torch.no_grad()``).
    """

    #: options and defaults; subclasses extend this mapping.
    options: ClassVar[Dict[str, Any]] = {
        "mc": 1, "iw": 1, "alpha": 0.0, "beta": 1.0, "freebits": None, "sequential_computation": 0,
    }
    #: whether the model is evaluated with reparameterized samples.
    reparam: ClassVar[bool] = False

    def __init__(self, mc: int = 1, iw: int = 1, **options: Any) -> None:
        super().__init__()
        self.config: Dict[str, Any] = self._resolve({"mc": mc, "iw": iw, **options}, dict(self.options))

    # ------------------------------------------------------------------ configuration
    def _resolve(self, overrides: Mapping[str, Any], base: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        cfg = dict(self.config if base is None else base)
        unknown = sorted(set(overrides) - set(self.options))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unknown option(s) {unknown}; valid options are "
                            f"{sorted(self.options)}")
        cfg.update(overrides)
        for key in ("mc", "iw"):
            if int(cfg[key]) != cfg[key] or int(cfg[key]) < 1:
                raise ValueError(f"{key}={cfg[key]!r} is invalid; expected a positive integer")
            cfg[key] = int(cfg[key])
        cfg["alpha"] = check_alpha(cfg["alpha"])
        if cfg["freebits"] is not None and cfg["freebits"] < 0:
            raise ValueError(f"freebits={cfg['freebits']} is invalid; expected None or a value >= 0 (nats)")
        if int(cfg["sequential_computation"]) < 0:
            raise ValueError("sequential_computation must be 0 (off) or a positive chunk size")
        self.check_config(cfg)
        return cfg

    def check_config(self, cfg: Dict[str, Any]) -> None:
        """Hook for subclasses to validate their own options (raise ``ValueError``)."""

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.config.items())

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, model: nn.Module, x: Tensor, mc: int, iw: int, reparam: bool = False,
                 chunk: int = 0, **model_kwargs: Any) -> Evaluation:
        """Evaluate ``model`` on ``x`` expanded to ``bs*mc*iw`` rows and gather log-probabilities.

        Args:
            model: a :class:`~ovis.models.TemplateModel`.
            x: observations ``[bs, *dims]``.
            mc, iw: number of Monte-Carlo samples and particles.
            reparam: draw reparameterized samples.
            chunk: evaluate the ``iw`` particles in chunks of this size (0: at once).
        """
        if chunk and chunk < iw:
            # keep only the log-probabilities of each chunk (and the last chunk's output), so that
            # under torch.no_grad() memory is bounded by one chunk of the model
            log_px_z, log_pz, log_qz = [], [], []
            for s in range(0, iw, chunk):
                part = self.evaluate(model, x, mc, min(chunk, iw - s), reparam, 0, **model_kwargs)
                log_px_z.append(part.log_px_z)
                log_pz.append(part.log_pz)
                log_qz.append(part.log_qz)
            return Evaluation(torch.cat(log_px_z, 2), torch.cat(log_pz, 2), torch.cat(log_qz, 2), part.output)
        bs = x.shape[0]
        n = bs * mc * iw
        x_exp = expand_particles(x, mc, iw)
        output = model(x_exp, reparam=reparam, **model_kwargs)
        validate_model_output(output, n)
        if reparam:
            for i, z in enumerate(output["z"]):
                if not z.requires_grad and torch.is_grad_enabled():
                    raise ModelContractError(
                        f"{type(self).__name__} needs reparameterized samples, but 'z'[{i}] has no gradient "
                        f"(is q(z|x) a {type(output['qz'][i]).__name__} without rsample?). Use a score-function "
                        f"estimator for discrete latents, e.g. 'ovis-gamma1', 'vimco-arithmetic' or 'reinforce'.")
        else:
            for i, z in enumerate(output["z"]):
                if z.requires_grad:
                    raise ModelContractError(
                        f"{type(self).__name__} is a score-function estimator and calls the model with "
                        f"reparam=False, but 'z'[{i}] carries a gradient; sample with qz.sample() (not "
                        f"rsample()) when reparam is False.")
        log_px_z = flat_log_prob(output["px"], x_exp, n).view(bs, mc, iw)
        log_pz = torch.stack([flat_log_prob(p, z, n) for p, z in zip(output["pz"], output["z"])], -1)
        log_qz = torch.stack([flat_log_prob(q, z, n) for q, z in zip(output["qz"], output["z"])], -1)
        L = log_pz.shape[-1]
        return Evaluation(log_px_z, log_pz.view(bs, mc, iw, L), log_qz.view(bs, mc, iw, L), output)

    # ------------------------------------------------------------------ diagnostics
    @staticmethod
    def base_diagnostics(ev: Evaluation, loss: Tensor, beta: float = 1.0,
                         bound: Optional[Tensor] = None, v: Optional[Tensor] = None) -> Diagnostics:
        """The diagnostics every estimator returns, each ``[bs]`` and detached.

        ``L_k``: IW bound (alpha=0, beta=1); ``elbo``: mean log-weight; ``kl``: mean
        ``log q - log p`` summed over layers; ``nll``: mean ``-log p(x|z)``;
        ``kl_q_p``: ``L_k - elbo``; ``ess``: effective sample size of the K particles
        (of the log-weights with the KL weight ``beta``). ``bound`` (``[bs, mc]``) and ``v``
        (``[bs, mc, iw]``) may pass the already computed IW bound and normalised weights with
        alpha=0 and beta=1 of the same particles.
        """
        with torch.no_grad():
            kl = ev.kl().sum(-1)  # [bs, mc, iw]
            log_wk = ev.log_px_z - kl
            L_k = (iw_bound(log_wk) if bound is None else bound.detach()).mean(1)
            elbo = log_wk.mean((1, 2))
            lw_beta = log_wk if beta == 1.0 else ev.log_px_z - beta * kl
            return {"loss": {
                "loss": loss.detach(),
                "L_k": L_k,
                "elbo": elbo,
                "kl": kl.mean((1, 2)),
                "nll": -ev.log_px_z.mean((1, 2)),
                "kl_q_p": L_k - elbo,
                "ess": (effective_sample_size(lw_beta) if v is None else 1.0 / (v * v).sum(-1)).mean(1),
            }}

    # ------------------------------------------------------------------ call
    def forward(self, model: nn.Module, x: Tensor, backward: bool = False, **overrides: Any
                ) -> Tuple[Tensor, Diagnostics, Dict[str, Any]]:
        """Estimate the loss on a batch.

        Args:
            model: a :class:`~ovis.models.TemplateModel`.
            x: observations ``[bs, *dims]``.
            backward: call ``loss.mean().backward()`` before returning.
            **overrides: per-call values of the estimator's options (e.g. ``alpha``, ``beta``, ``iw``).

        Returns:
            ``(loss [bs], diagnostics, output)``.
        """
        cfg = self._resolve(overrides) if overrides else self.config
        loss, diagnostics, output = self.compute(model, x, cfg)
        if backward:
            loss.mean().backward()
        return loss, diagnostics, output

    def compute(self, model: nn.Module, x: Tensor, cfg: Dict[str, Any]
                ) -> Tuple[Tensor, Diagnostics, Dict[str, Any]]:  # pragma: no cover
        raise NotImplementedError
