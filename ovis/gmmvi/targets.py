"""Target distributions: batched unnormalized log-densities with their gradients.

A target has ``num_dimensions``, ``log_density(x [N, D]) -> [N]`` and
``log_density_and_grad(x) -> ([N], [N, D])`` (by autograd unless a subclass
knows better), and ``log_normalizer`` when ``log Z`` is known (then the gap
``-ELBO - (-log Z)`` is the KL to the target). :func:`as_target` wraps any
callable. The experiments of the GMMVI paper are in :data:`TARGETS`:

=====================  ====  =====================================================================
name                   D     target
=====================  ====  =====================================================================
``gmm20``              20    mixture of 10 Gaussians, means uniform in [-50, 50]^D, log Z = 0
``stm20``              20    mixture of 10 Student-t (2 degrees of freedom), means in [-20, 20]^D
``breast-cancer``      31    Bayesian logistic regression, UCI breast cancer (569 rows), N(0, 10^2)
``breast-cancer-mb``   31    the same with mini-batches of 64 rows (an own batch per sample)
``german-credit``      25    Bayesian logistic regression, UCI German credit (1000 rows)
``german-credit-mb``   25    the same with mini-batches
``planar-robot-4``     10    10-link planar robot reaching one of 4 goals (a 4-link arm is ``num_links=4``)
=====================  ====  =====================================================================

The logistic-regression data: features divided by their standard deviation (no
centering) and a constant 1 prepended. Breast cancer ships with scikit-learn
(``load_breast_cancer``, identical to the UCI file); German credit needs
``german.data-numeric`` (``data_path``).

Example:
    >>> import torch
    >>> t = make_target("gmm20", seed=0)
    >>> lp, g = t.log_density_and_grad(torch.zeros(3, 20, dtype=torch.float64))
    >>> lp.shape, g.shape
    (torch.Size([3]), torch.Size([3, 20]))
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from ovis.registry import Registry
from .mixture import gaussian_log_densities

__all__ = ["Target", "CallableTarget", "GaussianMixtureTarget", "StudentTMixtureTarget", "LogisticRegression",
           "PlanarRobot", "TARGETS", "make_target", "as_target", "ENVIRONMENT_NAMES", "load_logistic_data"]

TARGETS: Registry = Registry("GMMVI target")


class Target:
    """Base class: an unnormalized log-density on ``R^D``.

    Arguments:
        num_dimensions: ``D``.
    """

    log_normalizer: Optional[float] = None

    def __init__(self, num_dimensions: int):
        self.num_dimensions = int(num_dimensions)

    def log_density(self, x: Tensor) -> Tensor:
        """``[N]`` for ``x [N, D]``."""
        raise NotImplementedError

    def log_density_and_grad(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(log p~(x) [N], grad_x log p~(x) [N, D])``."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            lp = self.log_density(x)
            (g,) = torch.autograd.grad(lp.sum(), x)
        return lp.detach(), g

    def __call__(self, x: Tensor) -> Tensor:
        return self.log_density(x)


class CallableTarget(Target):
    """Any callable ``x [N, D] -> [N]``, with an optional ``grad_fn`` (default: autograd)."""

    def __init__(self, fn: Callable[[Tensor], Tensor], num_dimensions: int,
                 grad_fn: Optional[Callable[[Tensor], Tensor]] = None, log_normalizer: Optional[float] = None):
        super().__init__(num_dimensions)
        self.fn, self.grad_fn, self.log_normalizer = fn, grad_fn, log_normalizer

    def log_density(self, x):
        return self.fn(x)

    def log_density_and_grad(self, x):
        if self.grad_fn is None:
            return super().log_density_and_grad(x)
        with torch.no_grad():
            return self.fn(x), self.grad_fn(x)


def as_target(target, num_dimensions: Optional[int] = None) -> Target:
    """``target`` itself if it is a :class:`Target` (or has ``log_density_and_grad``), else a :class:`CallableTarget`."""
    if hasattr(target, "log_density_and_grad") and hasattr(target, "log_density"):
        return target
    if not callable(target):
        raise TypeError(f"a GMMVI target must be a Target or a callable x -> log p(x), got {type(target).__name__}")
    if num_dimensions is None:
        raise ValueError("num_dimensions is needed to wrap a plain callable as a target")
    return CallableTarget(target, num_dimensions)


# ---------------------------------------------------------------------- mixtures
class GaussianMixtureTarget(Target):
    """A normalized Gaussian mixture (``log Z = 0``).

    Arguments:
        weights: ``[C]``; means: ``[C, D]``; covs: ``[C, D, D]``.
    """

    log_normalizer = 0.0

    def __init__(self, weights, means, covs, dtype=torch.float64):
        means = torch.as_tensor(means, dtype=dtype)
        super().__init__(means.shape[1])
        self.log_weights = torch.as_tensor(weights, dtype=dtype).log()
        self.means = means
        self.covs = torch.as_tensor(covs, dtype=dtype)
        self.dist = torch.distributions.MixtureSameFamily(
            torch.distributions.Categorical(logits=self.log_weights),
            torch.distributions.MultivariateNormal(self.means, covariance_matrix=self.covs))

    def log_density(self, x):
        return self.dist.log_prob(x.to(self.means.dtype))

    def log_density_and_grad(self, x):
        """Closed form: ``grad log p(x) = -sum_c p(c|x) Sigma_c^{-1} (x - mu_c)`` (no autograd)."""
        if not hasattr(self, "_chols"):
            self._chols = torch.linalg.cholesky(self.covs)
            self._precisions = torch.cholesky_inverse(self._chols)
        x = x.detach().to(self.means.dtype)
        comp = gaussian_log_densities(x, self.means, self._chols) + self.log_weights.unsqueeze(1)   # [C, N]
        lp = torch.logsumexp(comp, 0)
        resp = (comp - lp).exp()
        pd = (x.unsqueeze(0) - self.means.unsqueeze(1)) @ self._precisions                    # [C, N, D]
        return lp, -torch.einsum("cn,cnd->nd", resp, pd)

    def sample(self, n: int) -> Tensor:
        return self.dist.sample((n,))

    def marginal_log_density(self, v: Tensor, dim: int) -> Tensor:
        var = self.covs[:, dim, dim]
        lp = -0.5 * (v.unsqueeze(0) - self.means[:, dim:dim + 1]) ** 2 / var.unsqueeze(1) \
            - 0.5 * (var.log() + math.log(2 * math.pi)).unsqueeze(1)
        return torch.logsumexp(lp + self.log_weights.unsqueeze(1), 0)


@TARGETS.register("gmm20", help="20-D mixture of 10 Gaussians (log Z = 0)")
def make_gmm(num_dimensions: int = 20, num_components: int = 10, seed: int = 0) -> GaussianMixtureTarget:
    """The GMM experiment: means uniform in ``[-50, 50]^D``, covariances ``A^T A + I`` with
    ``A = 0.1 * N(0, D^2)`` entries (as the framework draws them), equal weights."""
    rng = np.random.default_rng(seed)
    D, C = int(num_dimensions), int(num_components)
    means = 100 * (rng.random((C, D)) - 0.5)
    A = 0.1 * rng.normal(0, D, (C, D, D))
    covs = np.transpose(A, (0, 2, 1)) @ A + np.eye(D)
    return GaussianMixtureTarget(np.ones(C) / C, means, covs)


class StudentTMixtureTarget(Target):
    """A normalized mixture of multivariate Student-t distributions.

    Arguments:
        weights: ``[C]``; means: ``[C, D]``; scales: ``[C, D, D]`` (scale matrices); df: degrees of freedom.
    """

    log_normalizer = 0.0

    def __init__(self, weights, means, scales, df: float = 2.0, dtype=torch.float64):
        means = torch.as_tensor(means, dtype=dtype)
        super().__init__(means.shape[1])
        self.log_weights = torch.as_tensor(weights, dtype=dtype).log()
        self.means, self.df = means, float(df)
        self.scales = torch.as_tensor(scales, dtype=dtype)
        self.chols = torch.linalg.cholesky(self.scales)

    def log_density(self, x):
        x = x.to(self.means.dtype)
        D, nu = self.num_dimensions, self.df
        diff = x.unsqueeze(0) - self.means.unsqueeze(1)                              # [C, N, D]
        z = torch.linalg.solve_triangular(self.chols, diff.transpose(1, 2), upper=False)
        maha = z.pow(2).sum(1)                                                       # [C, N]
        logdet = torch.diagonal(self.chols, dim1=-2, dim2=-1).log().sum(-1)
        const = math.lgamma((nu + D) / 2) - math.lgamma(nu / 2) - 0.5 * D * math.log(nu * math.pi)
        comp = const - logdet.unsqueeze(1) - 0.5 * (nu + D) * torch.log1p(maha / nu)
        return torch.logsumexp(comp + self.log_weights.unsqueeze(1), 0)

    def marginal_log_density(self, v: Tensor, dim: int) -> Tensor:
        s = self.scales[:, dim, dim].sqrt()
        t = torch.distributions.StudentT(self.df, self.means[:, dim:dim + 1], s.unsqueeze(1))
        return torch.logsumexp(t.log_prob(v.unsqueeze(0)) + self.log_weights.unsqueeze(1), 0)


@TARGETS.register("stm20", help="20-D mixture of 10 Student-t (df 2)")
def make_stm(num_dimensions: int = 20, harder_setting: bool = False, seed: int = 0) -> StudentTMixtureTarget:
    """The STM experiment: means uniform in ``[-s, s]^D`` (s = 20, or 25 with 20 components in the harder
    setting), scale matrices ``(B^T B + I)^{-1}`` with ``B = 0.1 D N(0, 1)`` entries, 2 degrees of freedom."""
    rng = np.random.default_rng(seed)
    D = int(num_dimensions)
    s, C = (25, 20) if harder_setting else (20, 10)
    means = rng.random((C, D)) * 2 * s - s
    B = 0.1 * D * rng.normal(0, 1, (C, D, D))
    scales = np.linalg.inv(np.transpose(B, (0, 2, 1)) @ B + np.eye(D))
    return StudentTMixtureTarget(np.ones(C) / C, means, scales, df=2.0)


# ---------------------------------------------------------------------- logistic regression
def load_logistic_data(name: str, data_path: Optional[Union[str, Path]] = None) -> Tuple[np.ndarray, np.ndarray]:
    """``(X [rows, 1 + features], y [rows])`` for ``"breast_cancer"`` or ``"german_credit"``.

    ``data_path`` is the framework's file (``breast_cancer.data``: id, label, 30 features;
    ``german.data-numeric``: 24 features, label in {1, 2}); breast cancer defaults to scikit-learn's copy.
    """
    if name == "breast_cancer":
        if data_path is None:
            from sklearn.datasets import load_breast_cancer
            d = load_breast_cancer()
            X, y = d.data.astype(np.float64), d.target.astype(np.float64)
        else:
            raw = np.loadtxt(str(data_path))
            X, y = raw[:, 2:], raw[:, 1]
    elif name == "german_credit":
        if data_path is None:
            raise ValueError("german_credit needs data_path, the UCI file german.data-numeric "
                             "(e.g. ../shared/data/gmmvi/german.data-numeric)")
        raw = np.loadtxt(str(data_path))
        X, y = raw[:, :-1], raw[:, -1] - 1
    else:
        raise ValueError(f"unknown logistic-regression data set {name!r}; valid: ['breast_cancer', 'german_credit']")
    X = X / X.std(0, keepdims=True)
    X = np.hstack((np.ones((X.shape[0], 1)), X))
    return X, y


class LogisticRegression(Target):
    """Bayesian logistic regression posterior ``prod_i p(y_i | x_i, w) N(w; 0, prior_std^2 I)``.

    Arguments:
        X: ``[rows, D]`` features (including the constant); y: ``[rows]`` labels in {0, 1}.
        prior_std: the prior standard deviation.
        batch_size: 0 for the full data set; otherwise each evaluation uses ``batch_size`` rows of a freshly
            shuffled data set, scaled to the data set size (an own batch per sample if ``use_own_batch_per_sample``).
    """

    def __init__(self, X, y, prior_std: float = 10.0, batch_size: int = 0, use_own_batch_per_sample: bool = True,
                 size_test_set: int = 0, dtype=torch.float64):
        X = torch.as_tensor(np.asarray(X), dtype=dtype)
        y = torch.as_tensor(np.asarray(y), dtype=dtype)
        if size_test_set > 0:
            X, y = X[:-size_test_set], y[:-size_test_set]
        super().__init__(X.shape[1])
        self.X, self.y, self.prior_std = X, y, float(prior_std)
        self.batch_size, self.use_own_batch_per_sample = int(batch_size), bool(use_own_batch_per_sample)
        self._sign = 2 * y - 1                                                       # {-1, +1}

    def log_prior(self, w: Tensor) -> Tensor:
        return (-0.5 * (w / self.prior_std) ** 2).sum(-1) - w.shape[-1] * (math.log(self.prior_std)
                                                                          + 0.5 * math.log(2 * math.pi))

    def log_density_full_batch(self, w: Tensor) -> Tensor:
        """``[N]``, the exact (full-data) unnormalized log-posterior."""
        w = w.to(self.X.dtype)
        logits = w @ self.X.T                                                        # [N, rows]
        return torch.nn.functional.logsigmoid(logits * self._sign).sum(-1) + self.log_prior(w)

    def log_density_and_grad(self, w):
        """Closed form on the full data set, ``X^T (y - sigmoid(X w)) - w / prior_std^2`` (no autograd);
        mini-batches use autograd."""
        if self.batch_size > 0:
            return super().log_density_and_grad(w)
        w = w.detach().to(self.X.dtype)
        signed = (w @ self.X.T) * self._sign                                         # [N, rows]
        lp = torch.nn.functional.logsigmoid(signed).sum(-1) + self.log_prior(w)
        grad = (torch.sigmoid(-signed) * self._sign) @ self.X - w / self.prior_std ** 2
        return lp, grad

    def log_density(self, w):
        if self.batch_size <= 0:
            return self.log_density_full_batch(w)
        w = w.to(self.X.dtype)
        rows = self.X.shape[0]
        perm = torch.randperm(rows)
        nb = rows // self.batch_size
        if self.use_own_batch_per_sample:
            b = torch.arange(w.shape[0]) % nb                                        # batch of each sample
            idx = perm[(b.unsqueeze(1) * self.batch_size + torch.arange(self.batch_size)).reshape(-1)]
            Xb = self.X[idx].view(w.shape[0], self.batch_size, -1)
            sb = self._sign[idx].view(w.shape[0], self.batch_size)
            logits = torch.einsum("nd,nbd->nb", w, Xb)
            ll = torch.nn.functional.logsigmoid(logits * sb).mean(-1)
        else:
            idx = perm[:self.batch_size]
            ll = torch.nn.functional.logsigmoid((w @ self.X[idx].T) * self._sign[idx]).mean(-1)
        return rows * ll + self.log_prior(w)


def _logistic(name: str, data_path, batch_size: int = 0, **kw) -> LogisticRegression:
    X, y = load_logistic_data(name, data_path)
    return LogisticRegression(X, y, prior_std=10.0, batch_size=batch_size, **kw)


@TARGETS.register("breast-cancer", help="31-D Bayesian logistic regression (UCI breast cancer)")
def make_breast_cancer(data_path: Optional[str] = None, seed: int = 0) -> LogisticRegression:
    return _logistic("breast_cancer", data_path)


@TARGETS.register("breast-cancer-mb", help="31-D Bayesian logistic regression, mini-batches")
def make_breast_cancer_mb(data_path: Optional[str] = None, batch_size: int = 64, size_test_set: int = 0,
                          use_own_batch_per_sample: bool = True, seed: int = 0) -> LogisticRegression:
    return _logistic("breast_cancer", data_path, batch_size, size_test_set=size_test_set,
                     use_own_batch_per_sample=use_own_batch_per_sample)


@TARGETS.register("german-credit", help="25-D Bayesian logistic regression (UCI German credit)")
def make_german_credit(data_path: Optional[str] = None, seed: int = 0) -> LogisticRegression:
    return _logistic("german_credit", data_path)


@TARGETS.register("german-credit-mb", help="25-D Bayesian logistic regression, mini-batches")
def make_german_credit_mb(data_path: Optional[str] = None, batch_size: int = 64, size_test_set: int = 0,
                          use_own_batch_per_sample: bool = True, seed: int = 0) -> LogisticRegression:
    return _logistic("german_credit", data_path, batch_size, size_test_set=size_test_set,
                     use_own_batch_per_sample=use_own_batch_per_sample)


# ---------------------------------------------------------------------- planar robot
class PlanarRobot(Target):
    """Joint angles of a planar arm of unit links whose end effector reaches one of the goals.

    ``log N(theta; 0, diag(1, prior_std^2, ...)) + max_g log N(fk(theta); goal_g, likelihood_std^2 I)``.

    Arguments:
        num_links: the dimension ``D``.
        goals: ``[G, 2]`` goal positions.
        prior_std: prior standard deviation of every joint but the first (which has 1).
        likelihood_std: standard deviation of the end-effector position.
    """

    def __init__(self, num_links: int = 10, goals: Sequence[Sequence[float]] = ((7.0, 0.0), (-7.0, 0.0),
                                                                                  (0.0, 7.0), (0.0, -7.0)),
                 prior_std: float = 0.2, likelihood_std: float = 0.01, dtype=torch.float64):
        super().__init__(num_links)
        self.goals = torch.as_tensor(goals, dtype=dtype)
        std = torch.full((num_links,), float(prior_std), dtype=dtype)
        std[0] = 1.0
        self.prior_stds, self.likelihood_std = std, float(likelihood_std)

    def forward_kinematics(self, theta: Tensor) -> Tensor:
        """``[N, 2]`` end-effector positions of unit links with relative angles ``theta [N, D]``."""
        a = torch.cumsum(theta, -1)
        return torch.stack((a.cos().sum(-1), a.sin().sum(-1)), -1)

    def log_density(self, theta):
        theta = theta.to(self.goals.dtype)
        prior = torch.distributions.Normal(torch.zeros_like(self.prior_stds), self.prior_stds)
        lp = prior.log_prob(theta).sum(-1)
        pos = self.forward_kinematics(theta)
        s = self.likelihood_std
        ll = -0.5 * ((pos.unsqueeze(1) - self.goals) ** 2).sum(-1) / s ** 2 - 2 * math.log(s) - math.log(2 * math.pi)
        return lp + ll.max(1).values


@TARGETS.register("planar-robot-4", help="10-link planar robot, 4 goals")
def make_planar_robot_4(num_links: int = 10, seed: int = 0) -> PlanarRobot:
    return PlanarRobot(num_links)


@TARGETS.register("planar-robot-1", help="10-link planar robot, 1 goal")
def make_planar_robot_1(num_links: int = 10, seed: int = 0) -> PlanarRobot:
    return PlanarRobot(num_links, goals=((7.0, 0.0),))


#: the framework's ``environment_name`` -> ovis target name
ENVIRONMENT_NAMES = {"breastCancer": "breast-cancer", "breastCancer_mb": "breast-cancer-mb",
                     "GermanCredit": "german-credit", "GermanCredit_mb": "german-credit-mb",
                     "GMM": "gmm20", "STM": "stm20", "PlanarRobot4": "planar-robot-4",
                     "PlanarRobot1": "planar-robot-1"}


def make_target(name: str, **options) -> Target:
    """Build a target by its ovis name or the framework's ``environment_name`` (``options``: its settings).

    The framework's ``environment_config`` keys are accepted; ``harder_setting``/``use_matlab_target``
    only where meaningful.
    """
    name = ENVIRONMENT_NAMES.get(name, name)
    options = dict(options)
    if name == "stm20" and options.pop("use_matlab_target", False):
        raise ValueError("use_matlab_target=True needs the framework's Matlab files of iBayes-GMM's target "
                         "(not shipped with PyPI gmmvi 1.1); use use_matlab_target=False (the target drawn "
                         "by make_stm)")
    return TARGETS.build(name, **options)
