"""Step-size adaptation for the components (design choice 5) and the weights (design choice 6).

Components (``[K]`` step sizes, one per component; with the trust-region
updater they are KL bounds):

* ``fixed`` (F): keep ``initial_stepsize``.
* ``decaying`` (D): ``initial / (1 + n_k^annealing_exponent)``, ``n_k`` the updates component ``k`` received.
* ``improvement-based`` (R): multiply by ``stepsize_inc_factor`` if the component's reward
  improved over the last iteration, else by ``stepsize_dec_factor``; clipped to ``[min, max]``.

Weights (one scalar):

* ``fixed`` (X), ``decaying`` (G, ``initial / (1 + t^annealing_exponent)``, ``t`` the weight updates so far),
* ``improvement-based`` (N): the same rule on the ELBO estimate
  ``sum_k w_k reward_k - sum_k w_k log w_k`` from the stored rewards.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .choices import COMPONENT_STEPSIZES, WEIGHT_STEPSIZES, Stateful
from .mixture import GaussianMixture

__all__ = ["FixedComponentStepsize", "DecayingComponentStepsize", "ImprovementBasedComponentStepsize",
           "FixedWeightStepsize", "DecayingWeightStepsize", "ImprovementBasedWeightStepsize"]


def _check_positive(**values) -> None:
    for name, v in values.items():
        if not isinstance(v, (int, float)) or not v > 0:
            raise ValueError(f"{name} must be a positive number, got {v!r}")


def _set_improvement_factors(obj, min_stepsize: float, max_stepsize: float, inc: float, dec: float) -> None:
    """Validate and store the bounds and factors of an improvement-based step size (R and N)."""
    _check_positive(min_stepsize=min_stepsize, max_stepsize=max_stepsize, stepsize_inc_factor=inc,
                    stepsize_dec_factor=dec)
    obj.min_stepsize, obj.max_stepsize = float(min_stepsize), float(max_stepsize)
    obj.inc, obj.dec = float(inc), float(dec)


# ---------------------------------------------------------------------- components
@COMPONENT_STEPSIZES.register("fixed", aliases=("F",), reserved=("model",))
class FixedComponentStepsize(Stateful):
    """Constant component step sizes (F)."""

    def __init__(self, model: GaussianMixture, initial_stepsize: float = 1e-5):
        _check_positive(initial_stepsize=initial_stepsize)
        self.model, self.initial_stepsize = model, float(initial_stepsize)

    def update_stepsize(self, current: Tensor) -> Tensor:
        """``[K]`` -> ``[K]``."""
        return current


@COMPONENT_STEPSIZES.register("decaying", aliases=("D",), reserved=("model",))
class DecayingComponentStepsize(FixedComponentStepsize):
    """Step sizes that decay with the number of updates a component received (D)."""

    def __init__(self, model: GaussianMixture, initial_stepsize: float = 1.0, annealing_exponent: float = 0.55):
        super().__init__(model, initial_stepsize)
        self.annealing_exponent = float(annealing_exponent)

    def update_stepsize(self, current: Tensor) -> Tensor:
        return self.initial_stepsize / (1.0 + self.model.num_received_updates.pow(self.annealing_exponent))


@COMPONENT_STEPSIZES.register("improvement-based", aliases=("R", "improvement_based"), reserved=("model",))
class ImprovementBasedComponentStepsize(FixedComponentStepsize):
    """Step sizes that grow while a component's reward improves and shrink otherwise (R)."""

    def __init__(self, model: GaussianMixture, initial_stepsize: float = 1.0, min_stepsize: float = 1e-3,
                 max_stepsize: float = 1.0, stepsize_inc_factor: float = 1.15, stepsize_dec_factor: float = 0.85):
        super().__init__(model, initial_stepsize)
        _set_improvement_factors(self, min_stepsize, max_stepsize, stepsize_inc_factor, stepsize_dec_factor)

    def update_stepsize(self, current: Tensor) -> Tensor:
        h = self.model.reward_history
        worse = h[:, -2] >= h[:, -1]
        return torch.where(worse, (self.dec * current).clamp(min=self.min_stepsize),
                           (self.inc * current).clamp(max=self.max_stepsize))


# ---------------------------------------------------------------------- weights
@WEIGHT_STEPSIZES.register("fixed", aliases=("X",), reserved=("model",))
class FixedWeightStepsize(Stateful):
    """A constant weight step size (X)."""

    _state = ("stepsize",)

    def __init__(self, model: GaussianMixture, initial_stepsize: float = 1.0):
        _check_positive(initial_stepsize=initial_stepsize)
        self.model = model
        self.initial_stepsize = float(initial_stepsize)
        self.stepsize = float(initial_stepsize)

    def update_stepsize(self) -> float:
        """The step size (KL bound for the trust-region weight updater) of this iteration."""
        return self.stepsize


@WEIGHT_STEPSIZES.register("decaying", aliases=("G",), reserved=("model",))
class DecayingWeightStepsize(FixedWeightStepsize):
    """A weight step size that decays with the number of weight updates (G).

    The framework's default file leaves ``annealing_exponent`` undefined ("TODO"); ovis uses 0.55,
    the component default.
    """

    _state = ("stepsize", "num_weight_updates")

    def __init__(self, model: GaussianMixture, initial_stepsize: float = 1.0, annealing_exponent: float = 0.55):
        super().__init__(model, initial_stepsize)
        self.annealing_exponent = float(annealing_exponent)
        self.num_weight_updates = 0

    def update_stepsize(self) -> float:
        self.stepsize = self.initial_stepsize / (1.0 + float(self.num_weight_updates) ** self.annealing_exponent)
        self.num_weight_updates += 1
        return self.stepsize


@WEIGHT_STEPSIZES.register("improvement-based", aliases=("N", "improvement_based"), reserved=("model",))
class ImprovementBasedWeightStepsize(FixedWeightStepsize):
    """A weight step size that grows while the ELBO estimate improves and shrinks otherwise (N)."""

    _state = ("stepsize", "elbo_history")

    def __init__(self, model: GaussianMixture, initial_stepsize: float = 1.0, min_stepsize: float = 1e-4,
                 max_stepsize: float = 1.0, stepsize_inc_factor: float = 1.15, stepsize_dec_factor: float = 0.85):
        super().__init__(model, initial_stepsize)
        _set_improvement_factors(self, min_stepsize, max_stepsize, stepsize_inc_factor, stepsize_dec_factor)
        self.elbo_history = [-3.4028234663852886e38]

    def update_stepsize(self) -> float:
        q = self.model
        w = q.weights
        elbo = float((w * q.reward_history[:, -1]).sum() - (w * q.log_weights).sum())
        self.elbo_history = [self.elbo_history[-1], elbo]
        if self.elbo_history[-1] > self.elbo_history[-2]:
            self.stepsize = min(self.inc * self.stepsize, self.max_stepsize)
        else:
            self.stepsize = max(self.dec * self.stepsize, self.min_stepsize)
        return self.stepsize
