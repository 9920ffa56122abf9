"""What an estimator reads from a model: ``bs*mc*iw`` particles and their log-probabilities.

::

    x [bs, *dims]
     └─ expand to [bs*mc*iw, *dims]                         (expand_particles)
         └─ model(x, reparam=...) -> {'px', 'z': [..], 'qz': [..], 'pz': [..]}
             └─ [log p(x|z), log p(z_l).., log q(z_l|x)..]   [bs, mc, iw, 1 + 2L]   (Evaluation)
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import Tensor
from torch.distributions import Distribution, Transform

from .surrogate import freebits_mask

__all__ = ["Evaluation", "expand_particles", "detach_distribution"]


def expand_particles(x: Tensor, mc: int, iw: int) -> Tensor:
    """Repeat each row of ``x`` ``mc*iw`` times: ``[bs, *dims] -> [bs*mc*iw, *dims]``.

    Row ``b*mc*iw + m*iw + k`` holds ``x[b]`` (particle k of Monte-Carlo sample m).
    """
    bs = x.shape[0]
    return x.unsqueeze(1).expand(bs, mc * iw, *x.shape[1:]).reshape(bs * mc * iw, *x.shape[1:])


def detach_distribution(dist: Distribution) -> Distribution:
    """``dist`` with its parameters held constant: ``log_prob`` has no parameter gradient but still
    depends on its argument. Used by STL and DReG (Roeder et al., 2017).

    A distribution with a ``detached()`` method (ovis's flow posteriors,
    :class:`ovis.flows.posterior.FlowDistribution`) returns that; a simple distribution (tensor
    parameters, possibly wrapped in ``Independent``) is copied with its tensors detached.

    Raises:
        TypeError: ``dist`` holds parameters that cannot be reached as tensors (transforms, modules,
            functions: e.g. a ``TransformedDistribution`` or a zuko flow), which a copy would leave
            attached, so the score term of ``log q`` would silently remain.
    """
    detached = getattr(dist, "detached", None)
    if callable(detached):
        return detached()
    new = copy.copy(dist)
    for key, val in list(vars(new).items()):
        if isinstance(val, Tensor):
            setattr(new, key, val.detach())
        elif isinstance(val, Distribution):
            setattr(new, key, detach_distribution(val))
        elif _may_hold_parameters(val):
            raise TypeError(
                f"cannot detach the parameters of {type(dist).__name__}: its attribute {key!r} is a "
                f"{type(val).__name__}, whose tensors a copy would leave attached (the score term of log q would "
                f"silently remain). Give the distribution a detached() method returning the density with its "
                f"parameters held constant (as ovis's flow posteriors do), or use an estimator that does not "
                f"detach q (e.g. 'pathwise-iwae' instead of 'stl' or 'dreg').")
    return new


def _may_hold_parameters(val: Any) -> bool:
    """Whether ``val`` (an attribute of a distribution) can carry parameters a shallow copy keeps."""
    if isinstance(val, (list, tuple)):
        return any(_may_hold_parameters(v) for v in val)
    return isinstance(val, (Transform, torch.nn.Module)) or callable(val)


class Evaluation:
    """Log-probabilities of ``bs*mc*iw`` particles.

    Built either from the three tensors below, or (by :meth:`GradientEstimator.evaluate`, via
    :meth:`from_stacked`) from one ``[bs, mc, iw, 1 + 2L]`` tensor ``[log p(x|z), log p(z_l)..,
    log q(z_l)..]`` of which they are views, so that one operation can weight all of them.

    Attributes:
        log_px_z: ``log p(x|z)``, ``[bs, mc, iw]``.
        log_pz: ``log p(z_l|...)`` per layer, ``[bs, mc, iw, L]``.
        log_qz: ``log q(z_l|...)`` per layer, ``[bs, mc, iw, L]``.
        output: the model output (of the last chunk under sequential computation).
    """

    def __init__(self, log_px_z: Optional[Tensor], log_pz: Optional[Tensor], log_qz: Optional[Tensor],
                 output: Dict[str, Any], log_probs: Optional[Tensor] = None,
                 columns: Optional[List[Tensor]] = None) -> None:
        if log_probs is None and (log_px_z is None or log_pz is None or log_qz is None):
            raise ValueError("Evaluation needs log_px_z, log_pz and log_qz, or the stacked log_probs")
        self._log_px_z, self._log_pz, self._log_qz = log_px_z, log_pz, log_qz
        self._log_probs = log_probs
        #: the ``1 + 2L`` flat ``[bs*mc*iw]`` tensors stacked into ``log_probs`` (when known), so that
        #: an estimator can stack a variant (e.g. STL's ``log q`` with detached parameters) without
        #: sending gradients through the others
        self.columns = columns
        self.output = output

    @classmethod
    def from_stacked(cls, log_probs: Tensor, output: Dict[str, Any],
                     columns: Optional[List[Tensor]] = None) -> "Evaluation":
        """An evaluation whose log-probabilities are views of ``log_probs`` ``[bs, mc, iw, 1 + 2L]``."""
        return cls(None, None, None, output, log_probs, columns)

    @property
    def num_layers(self) -> int:
        return (self._log_probs.shape[-1] - 1) // 2 if self._log_probs is not None else self._log_pz.shape[-1]

    @property
    def log_px_z(self) -> Tensor:
        if self._log_px_z is None:
            self._log_px_z = self._log_probs[..., 0]
        return self._log_px_z

    @property
    def log_pz(self) -> Tensor:
        if self._log_pz is None:
            self._log_pz = self._log_probs[..., 1:1 + self.num_layers]
        return self._log_pz

    @property
    def log_qz(self) -> Tensor:
        if self._log_qz is None:
            self._log_qz = self._log_probs[..., 1 + self.num_layers:]
        return self._log_qz

    def stacked(self) -> Tensor:
        """``[log p(x|z), log p(z_l).., log q(z_l)..]`` as one ``[bs, mc, iw, 1 + 2L]`` tensor."""
        if self._log_probs is None:
            self._log_probs = torch.cat([self.log_px_z.unsqueeze(-1), self.log_pz, self.log_qz], -1)
        return self._log_probs

    def restack(self, keep: int, extra: Sequence[Tensor] = ()) -> Tensor:
        """The first ``keep`` of :attr:`columns` and the flat ``[bs*mc*iw]`` tensors ``extra``, stacked
        like :meth:`stacked`: ``[bs, mc, iw, keep + len(extra)]``.

        For a gradient that must reach only some columns, or a variant of one (STL's ``log q`` with
        detached parameters): a slice of :meth:`stacked` would still send (zero) gradients back
        through every column. Needs the columns of a one-pass evaluation.
        """
        if self.columns is None or self._log_probs is None:
            raise ValueError("this evaluation has no per-column log-probabilities (it was evaluated in chunks); "
                             "compute gradients without sequential_computation, which is meant for evaluation "
                             "under torch.no_grad()")
        columns = self.columns[:keep] + list(extra)
        return torch.stack(columns, -1).view(*self._log_probs.shape[:-1], len(columns))

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
            kl = torch.where(freebits_mask(kl.detach(), freebits), kl, kl.detach())
        kl = kl.sum(-1)
        return self.log_px_z - (kl if beta == 1.0 else beta * kl)
