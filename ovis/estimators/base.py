"""The one data path every estimator follows, and the estimator base class.

::

    x [bs, *dims]
     └─ expand to [bs*mc*iw, *dims]                                      evaluation.py
         └─ model(x, reparam=...) -> {'px', 'z': [..], 'qz': [..], 'pz': [..]}
             └─ [log p(x|z), log p(z_l).., log q(z_l|x)..]  [bs,mc,iw,1+2L]  evaluation.py
                 └─ log w_k = log p(x|z) - beta * (log q - log p)  [bs,mc,iw]  surrogate.py
                     └─ control variates, bounds, weights (pure math)         bounds.py
                         └─ loss = value + its gradient as one weighted sum   surrogate.py
                             + diagnostics                                    diagnostics.py

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

from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from ..models.template import ModelContractError, flat_log_prob, validate_model_output
from .bounds import check_alpha
from .diagnostics import Diagnostics, particle_diagnostics
from .evaluation import Evaluation, detach_distribution, expand_particles
from .surrogate import all_finite, particle_terms

__all__ = ["GradientEstimator", "Evaluation", "Diagnostics", "detach_distribution", "expand_particles"]


class GradientEstimator(nn.Module):
    """Base class: configuration, model evaluation, contract validation and diagnostics.

    Arguments:
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

        Arguments:
            model: a :class:`~ovis.models.TemplateModel`.
            x: observations ``[bs, *dims]``.
            mc, iw: number of Monte-Carlo samples and particles.
            reparam: draw reparameterized samples.
            chunk: evaluate the ``iw`` particles in chunks of this size (0: at once).
        """
        if chunk and chunk < iw:
            # keep only the log-probabilities of each chunk (and the last chunk's output), so that
            # under torch.no_grad() memory is bounded by one chunk of the model
            parts = []
            for s in range(0, iw, chunk):
                part = self.evaluate(model, x, mc, min(chunk, iw - s), reparam, 0, **model_kwargs)
                parts.append(part.stacked())
            return Evaluation.from_stacked(torch.cat(parts, 2), part.output)
        bs = x.shape[0]
        n = bs * mc * iw
        x_exp = expand_particles(x, mc, iw)
        output = model(x_exp, reparam=reparam, **model_kwargs)
        validate_model_output(output, n, x=x_exp)
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
        log_probs = [flat_log_prob(output["px"], x_exp, n)]
        log_probs += [flat_log_prob(p, z, n) for p, z in zip(output["pz"], output["z"])]
        log_probs += [flat_log_prob(q, z, n) for q, z in zip(output["qz"], output["z"])]
        stacked = torch.stack(log_probs, -1).view(bs, mc, iw, len(log_probs))
        return Evaluation.from_stacked(stacked, output, log_probs)

    def evaluate_terms(self, model: nn.Module, x: Tensor, mc: int, iw: int, cfg: Dict[str, Any],
                       reparam: bool = False) -> Tuple[Evaluation, Tensor, Tensor, Optional[bool]]:
        """:meth:`evaluate`, then what every estimator reads from it.

        Returns:
            ``(ev, log_probs, terms, finite)``: the evaluation; its stacked log-probabilities
            ``[bs, mc, iw, 1 + 2L]`` (with gradient); their :func:`~ovis.estimators.surrogate.particle_terms`
            ``[bs, mc, iw, 3]`` (log w with the KL weight ``cfg['beta']``, KL, log p(x|z); no
            gradient); and :func:`~ovis.estimators.surrogate.all_finite` of the log-probabilities.
        """
        ev = self.evaluate(model, x, mc, iw, reparam=reparam, chunk=cfg["sequential_computation"])
        log_probs = ev.stacked()
        with torch.no_grad():
            finite = all_finite(log_probs)  # known for free on the CPU: cheaper terms, no masking
            terms = particle_terms(log_probs, cfg["beta"], finite)
        return ev, log_probs, terms, finite

    # ------------------------------------------------------------------ diagnostics
    @staticmethod
    def base_diagnostics(ev: Evaluation, loss: Tensor, beta: float = 1.0) -> Diagnostics:
        """The diagnostics every estimator returns (see :func:`particle_diagnostics`), each ``[bs]``."""
        with torch.no_grad():
            log_probs = ev.stacked().detach()
            finite = all_finite(log_probs)
            terms = particle_terms(log_probs, beta, finite)  # [bs, mc, iw, 3]
            return particle_diagnostics(loss, terms, terms[..., 0], beta, finite=finite)

    # ------------------------------------------------------------------ call
    def forward(self, model: nn.Module, x: Tensor, backward: bool = False, **overrides: Any
                ) -> Tuple[Tensor, Diagnostics, Dict[str, Any]]:
        """Estimate the loss on a batch.

        Arguments:
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
