"""Variational autoencoder with Gaussian, Bernoulli or categorical latent variables.

``p(x, z) = p(x|z) p(z)`` and ``q(z|x)``, both parameterised by MLPs, with a single
stochastic layer of ``N`` latent variables:

* ``latent='normal'``: ``q(z|x) = N(mu(x), sigma(x)^2)``, ``p(z) = N(0, I)`` (reparameterizable);
  ``posterior`` picks another ``q(z|x)`` from :data:`ovis.models.posteriors.POSTERIORS` (a MAF, NSF
  or FFJORD flow conditioned on the encoder's ``2N`` outputs);
* ``latent='bernoulli'``: ``q(z|x) = Bernoulli(logits(x))``, ``p(z) = Bernoulli(0.5)``;
* ``latent='categorical'``: ``N`` one-hot variables of ``K`` classes, ``p(z)`` uniform.

With ``learn_prior=True`` the prior's location (normal) or logits (discrete) are learned.

References:
    Kingma & Welling (2014), Auto-Encoding Variational Bayes, arXiv:1312.6114.
    Burda, Grosse, Salakhutdinov (2016), Importance Weighted Autoencoders, arXiv:1509.00519.
    Lievin et al. (2020), Optimal Variance Control of the Score Function Gradient Estimator
    for Importance Weighted Bounds (OVIS), arXiv:2008.01998 (Gaussian, Bernoulli and
    categorical VAEs trained with score-function estimators).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Bernoulli, Distribution, Independent, Normal, OneHotCategorical

from .checks import check_input, check_zs, input_shape_tuple, reject_options, sample
from .layers import check_choice, init_bias_to_logit, mlp, numel
from .posteriors import POSTERIORS
from .registry import MODELS
from .template import TemplateModel

__all__ = ["VAE", "LATENTS", "LIKELIHOODS"]

LATENTS = ("normal", "bernoulli", "categorical")
LIKELIHOODS = ("bernoulli", "normal")
_MIN_SCALE = 1e-3


@MODELS.register("vae", reserved=("input_shape",))
class VAE(TemplateModel):
    """A one-layer VAE ``p(x|z) p(z)``, ``q(z|x)`` with MLP encoder and decoder.

    Arguments:
        input_shape: shape of one observation, e.g. ``(1, 28, 28)`` or ``(784,)``.
        latent: ``'normal'``, ``'bernoulli'`` or ``'categorical'``.
        N: number of latent variables.
        K: classes per categorical variable (``latent='categorical'`` only).
        hdim: hidden units of the MLPs.
        nlayers: hidden layers of the encoder and of the decoder.
        likelihood: ``'bernoulli'`` (binary data, decoder outputs logits) or ``'normal'``
            (decoder outputs a location and a scale per dimension).
        learn_prior: learn the prior's location / logits instead of fixing them.
        activation: hidden activation (see :data:`ovis.models.layers.ACTIVATIONS`).
        posterior: ``q(z|x)`` for ``latent='normal'``, a name of
            :data:`~ovis.models.posteriors.POSTERIORS` (``'gaussian'``, ``'maf'``, ``'nsf'``, ``'ffjord'``);
            it reads the encoder's ``2N`` outputs.
        posterior_options: keyword options of that posterior (e.g. ``{'transforms': 2}``).

    Attributes:
        inference_network: the encoder ``x [N, D] -> parameters of q(z|x)``.
        generative_model: the decoder ``z [N, latent size] -> parameters of p(x|z)``.
        prior_params: prior location (normal, ``[N]``) or logits (``[N]`` / ``[N, K]``);
            a parameter when ``learn_prior`` else a buffer. Every parameter outside
            ``inference_network`` and ``posterior`` belongs to the generative model.
        posterior: (``latent='normal'``) the slot's module, encoder outputs ``[n, 2N] -> q(z|x)``;
            no parameters for ``'gaussian'``, the flow's for the others.

    Example:
        >>> import torch
        >>> model = VAE((1, 28, 28), latent="bernoulli", N=32)
        >>> out = model(torch.bernoulli(torch.rand(8, 1, 28, 28)))
        >>> out["z"][0].shape, out["px"].batch_shape
        (torch.Size([8, 32]), torch.Size([8]))
    """

    def __init__(self, input_shape: Sequence[int], latent: str = "normal", N: int = 32, K: int = 8,
                 hdim: int = 200, nlayers: int = 2, likelihood: str = "bernoulli",
                 learn_prior: bool = False, activation: str = "tanh", posterior: str = "gaussian",
                 posterior_options: Optional[Dict[str, Any]] = None) -> None:
        super().__init__()
        check_choice("latent", latent, LATENTS)
        check_choice("likelihood", likelihood, LIKELIHOODS)
        if N < 1 or K < 2:
            raise ValueError(f"VAE needs N >= 1 latent variables and K >= 2 classes, got N={N}, K={K}")
        self.input_shape = input_shape_tuple(input_shape)
        self.latent, self.likelihood, self.N, self.K = latent, likelihood, int(N), int(K)
        self.latent_shape: Tuple[int, ...] = (self.N, self.K) if latent == "categorical" else (self.N,)
        D = numel(self.input_shape)
        q_out = {"normal": 2 * self.N, "bernoulli": self.N, "categorical": self.N * self.K}[latent]
        self.inference_network = mlp(D, q_out, hdim, nlayers, activation)
        if latent != "normal" and (posterior != "gaussian" or posterior_options):
            raise ValueError(f"posterior={posterior!r} needs latent='normal' (a reparameterizable q(z|x) over "
                             f"real vectors); got latent={latent!r}")
        self.posterior_name = posterior
        if latent == "normal":
            self.posterior = POSTERIORS.build(posterior, q_out, self.N, **(posterior_options or {}))
        self.generative_model = mlp(numel(self.latent_shape), D if likelihood == "bernoulli" else 2 * D,
                                    hdim, nlayers, activation)
        prior = torch.zeros(self.latent_shape)
        if learn_prior:
            self.prior_params = nn.Parameter(prior)
        else:
            self.register_buffer("prior_params", prior)

    # ------------------------------------------------------------------ distributions
    def q(self, x: Tensor) -> Distribution:
        """``q(z|x)`` for ``x [n, *input_shape]``: batch shape ``[n]``, event ``latent_shape``."""
        h = self.inference_network(x.reshape(x.shape[0], -1))
        if self.latent == "normal":
            return self.posterior(h)
        if self.latent == "bernoulli":
            return Independent(Bernoulli(logits=h), 1)
        return Independent(OneHotCategorical(logits=h.view(-1, self.N, self.K)), 1)

    def prior(self, n: int) -> Distribution:
        """``p(z)`` with batch shape ``[n]`` and event shape ``latent_shape``."""
        params = self.prior_params.expand(n, *self.latent_shape)
        if self.latent == "normal":
            return Independent(Normal(params, torch.ones_like(params)), 1)
        if self.latent == "bernoulli":
            return Independent(Bernoulli(logits=params), 1)
        return Independent(OneHotCategorical(logits=params), 1)

    def p_x(self, z: Tensor) -> Distribution:
        """``p(x|z)`` for ``z [n, *latent_shape]``: batch shape ``[n]``, event ``input_shape``."""
        n = z.shape[0]
        h = self.generative_model(z.reshape(n, -1))
        ndims = len(self.input_shape)
        if self.likelihood == "bernoulli":
            return Independent(Bernoulli(logits=h.view(n, *self.input_shape)), ndims)
        loc, raw = h.chunk(2, dim=-1)
        scale = F.softplus(raw) + _MIN_SCALE
        return Independent(Normal(loc.reshape(n, *self.input_shape), scale.reshape(n, *self.input_shape)), ndims)

    # ------------------------------------------------------------------ contract
    def forward(self, x: Tensor, reparam: bool = False, zs: Optional[List[Tensor]] = None,
                **kw: Any) -> Dict[str, Any]:
        """Encode, sample (or take ``zs``) and decode.

        Arguments:
            x: observations ``[n, *input_shape]`` (the particle rows first).
            reparam: draw ``z`` with ``rsample()`` when the latent is reparameterizable.
            zs: ``[z]`` with ``z [n, *latent_shape]``: evaluate ``q`` and ``p`` at this sample.

        Returns:
            ``{'px', 'z': [z], 'qz': [q(z|x)], 'pz': [p(z)]}``, every batch shape ``[n]``.
        """
        reject_options(type(self).__name__, "forward", kw)
        check_input(type(self).__name__, x, self.input_shape)
        n = x.shape[0]
        given = check_zs(type(self).__name__, zs, [self.latent_shape], n)
        qz = self.q(x)
        z = given[0] if given is not None else sample(qz, reparam)
        return {"px": self.p_x(z), "z": [z], "qz": [qz], "pz": [self.prior(n)]}

    def sample_from_prior(self, bs: int, **kw: Any) -> Dict[str, Any]:
        """``bs`` draws ``z ~ p(z)``: ``{'px': p(x|z), 'z': [z [bs, *latent_shape]], 'pz': [p(z)]}``."""
        reject_options(type(self).__name__, "sample_from_prior", kw)
        pz = self.prior(bs)
        z = pz.sample()
        return {"px": self.p_x(z), "z": [z], "pz": [pz]}

    def init_output_bias(self, x_mean: Tensor) -> None:
        """Start the decoder at the data mean ``x_mean [*input_shape]`` (Bernoulli: logit of the mean;
        normal: location bias)."""
        last = self.generative_model[-1]
        if self.likelihood == "bernoulli":
            init_bias_to_logit(last, x_mean)
        else:
            with torch.no_grad():
                D = numel(self.input_shape)
                last.bias[:D].copy_(x_mean.reshape(-1).to(last.bias))
