"""The Gaussian mixture toy model of "Revisiting Reweighted Wake-Sleep".

Generative model, ``C`` components with fixed means and a learned mixture::

    z ~ Cat(softmax(theta))             (theta learned, initialised at 0: uniform)
    x | z ~ N(mu_z, sigma^2),  mu_c = 10 c,  sigma = 5   (fixed)

The true model that generates the data has mixture probabilities ``pi*_c = (5 + c) / sum_c'
(5 + c')``. Inference network ``q(z|x) = Cat(softmax(eta_phi(x)))``, ``eta_phi`` a 1-16-C tanh
MLP. Because the true posterior ``p*(z|x)`` is available in closed form, the forward pass
also reports how far the model is from the truth, with the definitions of Le et al. (2019)
and Lievin et al. (2020, figure 2) (the L2 norm of the difference of the probability vectors):

* ``'posterior_mse'`` ``[n]``: ``||q(.|x) - p*(.|x)||_2`` for every row of ``x`` (averaged over
  the test data by the evaluation, which logs it as ``test:gmm/posterior_mse``);
* ``'prior_mse'`` (scalar): ``||softmax(theta) - pi*||_2`` (``test:gmm/prior_mse``).

:meth:`GaussianMixtureToy.evaluation_metrics` gives both per data point to the run's evaluation.

Note on the input: the paper feeds ``x`` (values up to ~200) to the tanh MLP directly; here
``x`` is standardised by the true marginal's mean and standard deviation first
(``normalize_input=True``; a fixed affine map, so the model family is unchanged) which
avoids saturated units at initialisation.

Reference: Le, Kosiorek, Siddharth, Teh, Wood (2019), Revisiting Reweighted Wake-Sleep for
Models with Stochastic Control Flow, UAI, arXiv:1805.10469 (section 4.1, C = 20).
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, OneHotCategorical

from .checks import check_input, check_zs, reject_options
from .registry import MODELS
from .template import TemplateModel

__all__ = ["GaussianMixtureToy", "build_gmm_toy", "true_prior_probs", "component_means", "sample_gmm_toy"]


def true_prior_probs(C: int = 20) -> Tensor:
    """The true mixture probabilities ``pi*_c proportional to 5 + c``, ``[C]``."""
    w = 5.0 + torch.arange(C, dtype=torch.float32)
    return w / w.sum()


def component_means(C: int = 20) -> Tensor:
    """The fixed component means ``mu_c = 10 c``, ``[C]``."""
    return 10.0 * torch.arange(C, dtype=torch.float32)


def sample_gmm_toy(n: int, C: int = 20, scale: float = 5.0, generator: Optional[torch.Generator] = None
                   ) -> Tensor:
    """``n`` draws ``x`` from the true generative model, ``[n, 1]`` float32."""
    z = torch.multinomial(true_prior_probs(C), n, replacement=True, generator=generator)
    eps = torch.randn(n, generator=generator)
    return (component_means(C)[z] + scale * eps).unsqueeze(-1)


class GaussianMixtureToy(TemplateModel):
    """Gaussian mixture with learned mixture logits and an MLP ``q(z|x)``; ``x`` has shape ``[n, 1]``.

    Arguments:
        C: number of components.
        scale: standard deviation ``sigma`` of every component.
        hdim: hidden units of the inference MLP (1-hdim-C).
        normalize_input: standardise ``x`` before the inference MLP (see the module docstring).

    Attributes:
        inference_network: the MLP ``eta_phi``, ``[n, 1] -> [n, C]`` logits.
        generative_model: ``ParameterDict`` with ``'logits'`` ``[C]`` (theta).
        means, true_probs: buffers ``[C]``, the fixed means and the true ``pi*``.

    Example:
        >>> model = GaussianMixtureToy(C=20)
        >>> out = model(sample_gmm_toy(16))
        >>> out["posterior_mse"].shape
        torch.Size([16])
    """

    input_shape = (1,)

    def __init__(self, C: int = 20, scale: float = 5.0, hdim: int = 16, normalize_input: bool = True) -> None:
        super().__init__()
        if C < 2 or not scale > 0:
            raise ValueError(f"GaussianMixtureToy needs C >= 2 and scale > 0, got C={C}, scale={scale}")
        self.C, self.scale = int(C), float(scale)
        self.inference_network = nn.Sequential(nn.Linear(1, hdim), nn.Tanh(), nn.Linear(hdim, self.C))
        self.generative_model = nn.ParameterDict({"logits": nn.Parameter(torch.zeros(self.C))})
        means, probs = component_means(self.C), true_prior_probs(self.C)
        self.register_buffer("means", means)
        self.register_buffer("true_probs", probs)
        if normalize_input:
            loc = (probs * means).sum()
            std = math.sqrt(self.scale ** 2 + float((probs * (means - loc) ** 2).sum()))
        else:
            loc, std = torch.tensor(0.0), 1.0
        self.register_buffer("input_loc", torch.as_tensor(loc, dtype=torch.float32))
        self.register_buffer("input_scale", torch.tensor(std, dtype=torch.float32))

    @property
    def true_params(self) -> Dict[str, Tensor]:
        """The true generative parameters: ``{'probs': [C], 'means': [C], 'scale': []}``."""
        return {"probs": self.true_probs, "means": self.means, "scale": torch.tensor(self.scale)}

    # ------------------------------------------------------------------ distributions
    def q(self, x: Tensor) -> Distribution:
        """``q(z|x)``, one-hot categorical with batch ``[n]`` and event ``[C]``."""
        return OneHotCategorical(logits=self.inference_network((x - self.input_loc) / self.input_scale))

    def prior(self, n: int, true_model: bool = False) -> Distribution:
        """``p(z)`` (or the true ``pi*`` when ``true_model``), batch ``[n]``, event ``[C]``."""
        logits = self.true_probs.log() if true_model else self.generative_model["logits"]
        return OneHotCategorical(logits=logits.expand(n, self.C))

    def p_x(self, z: Tensor) -> Distribution:
        """``p(x|z)`` for one-hot ``z [n, C]``: batch ``[n]``, event ``[1]``."""
        loc = (z @ self.means).unsqueeze(-1)
        return Independent(Normal(loc, torch.full_like(loc, self.scale)), 1)

    def true_posterior(self, x: Tensor) -> Tensor:
        """Probabilities ``p*(z|x)`` under the true model, ``[n, C]`` for ``x [n, 1]``."""
        log_joint = self.true_probs.log() + Normal(self.means, self.scale).log_prob(x)
        return torch.softmax(log_joint, dim=-1)

    # ------------------------------------------------------------------ contract
    def forward(self, x: Tensor, reparam: bool = False, zs: Optional[List[Tensor]] = None,
                **kw: Any) -> Dict[str, Any]:
        """``{'px', 'z', 'qz', 'pz', 'posterior_mse' [n], 'prior_mse' []}`` for ``x [n, 1]``.

        ``reparam`` has no effect (categorical samples are not reparameterizable); ``zs = [z]``
        with one-hot ``z [n, C]`` evaluates ``q`` and ``p`` at ``z``.
        """
        reject_options(type(self).__name__, "forward", kw)
        check_input(type(self).__name__, x, self.input_shape)
        n = x.shape[0]
        given = check_zs(type(self).__name__, zs, [(self.C,)], n)
        qz = self.q(x)
        z = given[0] if given is not None else qz.sample()
        errors = self.errors(x, qz.probs)
        return {"px": self.p_x(z), "z": [z], "qz": [qz], "pz": [self.prior(n)], **errors}

    @torch.no_grad()
    def errors(self, x: Tensor, q_probs: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """``{'posterior_mse': ||q(.|x) - p*(.|x)||_2 [n], 'prior_mse': ||softmax(theta) - pi*||_2 []}``."""
        q_probs = self.q(x).probs if q_probs is None else q_probs
        posterior = (q_probs - self.true_posterior(x)).norm(dim=-1)
        prior = (torch.softmax(self.generative_model["logits"], -1) - self.true_probs).norm()
        return {"posterior_mse": posterior, "prior_mse": prior}

    def evaluation_metrics(self, x: Tensor) -> Dict[str, Dict[str, Tensor]]:
        """Metrics the run's evaluation logs for ``x [n, 1]``: ``{'gmm': {'posterior_mse', 'prior_mse'}}``,
        each ``[n]`` (the prior error repeated), averaged over the split by the evaluation.

        Example:
            >>> model = GaussianMixtureToy(C=3)
            >>> metrics = model.evaluation_metrics(sample_gmm_toy(4, 3))
            >>> sorted(metrics["gmm"]), metrics["gmm"]["posterior_mse"].shape
            (['posterior_mse', 'prior_mse'], torch.Size([4]))
        """
        errors = self.errors(x)
        return {"gmm": {"posterior_mse": errors["posterior_mse"],
                        "prior_mse": errors["prior_mse"].expand(x.shape[0])}}

    def sample_from_prior(self, bs: int, true_model: bool = False, **kw: Any) -> Dict[str, Any]:
        """``bs`` draws from the model (or from the true model): ``{'px', 'z': [z [bs, C]], 'pz'}``."""
        reject_options(type(self).__name__, "sample_from_prior", kw, ["true_model"])
        pz = self.prior(bs, true_model)
        z = pz.sample()
        return {"px": self.p_x(z), "z": [z], "pz": [pz]}


@MODELS.register("gmm-toy", reserved=("input_shape",), help="the Gaussian mixture toy model (scalar observations)")
def build_gmm_toy(input_shape: Tuple[int, ...], C: int = 20, scale: float = 5.0, hdim: int = 16,
                  normalize_input: bool = True) -> GaussianMixtureToy:
    """The :class:`GaussianMixtureToy` for observations of ``input_shape``, which must be ``(1,)``."""
    if tuple(input_shape) != (1,):
        raise ValueError(f"gmm-toy observations are scalars: input_shape={tuple(input_shape)} is invalid; "
                         f"expected (1,)")
    return GaussianMixtureToy(C=C, scale=scale, hdim=hdim, normalize_input=normalize_input)
