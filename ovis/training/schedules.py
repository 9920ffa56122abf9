"""Schedules as pure functions of the step: the Renyi alpha warm-up and learning-rate milestones.

The alpha of the training bound is recomputed from the step at every call, so it needs no state
in the checkpoint and is the same after a resume.
"""
from __future__ import annotations

import math
from typing import List

__all__ = ["alpha_schedule", "lr_milestones", "WARMUP_MODES"]

WARMUP_MODES = ("linear", "log")


def alpha_schedule(step: int, alpha_init: float, alpha_final: float = 0.0, warmup: int = 0,
                   mode: str = "log", offset: int = 0) -> float:
    """Renyi alpha at ``step``: ``alpha_init`` until ``offset``, then to ``alpha_final`` over ``warmup`` steps.

    With ``t = clip((step - offset) / warmup, 0, 1)``:

    * ``linear``: ``alpha = alpha_init + t (alpha_final - alpha_init)``;
    * ``log``: ``log(1 - alpha)`` is linear in ``t``, so alpha leaves values close to 1 slowly
      (``alpha_init = 0.99`` spends as many steps between 0.99 and 0.9 as between 0.9 and 0).

    ``warmup = 0``: ``alpha_final`` at every step. Both values must be < 1.

    Example:
        >>> round(alpha_schedule(500, alpha_init=0.9, warmup=1000, mode="linear"), 6)
        0.45
    """
    if mode not in WARMUP_MODES:
        raise ValueError(f"warmup mode {mode!r} is invalid; expected one of {list(WARMUP_MODES)}")
    for name, value in (("alpha_init", alpha_init), ("alpha", alpha_final)):
        if not value < 1:
            raise ValueError(f"{name}={value} is invalid: the Renyi bound needs alpha < 1")
    if warmup <= 0:
        return float(alpha_final)
    t = min(1.0, max(0.0, (step - offset) / warmup))
    if mode == "linear":
        return float(alpha_init + t * (alpha_final - alpha_init))
    log_gap = (1 - t) * math.log1p(-alpha_init) + t * math.log1p(-alpha_final)
    return float(-math.expm1(log_gap))


def lr_milestones(nsteps: int, reductions: int) -> List[int]:
    """Steps at which the learning rate is halved: ``reductions`` points evenly spaced in ``(0, nsteps)``."""
    if reductions <= 0 or nsteps <= 0:
        return []
    return sorted({max(1, round(nsteps * i / (reductions + 1))) for i in range(1, reductions + 1)})
