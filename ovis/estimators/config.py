"""Estimator ids -> ``(EstimatorClass, config)``, parsed with regular expressions (never eval).

Valid ids::

    pathwise, pathwise-vae, pathwise-iwae, stl, dreg
    reinforce, reinforce-baseline
    vimco-arithmetic, vimco-geometric
    ovis-S{y}, ovis-S{y}-exclusive                       (S = y*K auxiliary particles)
    ovis-gamma{g}, ovis-gamma{g}-arithmetic, ovis-gamma{g}-geometric
    wake-wake, wake-sleep
    tvo[-part{n}][-beta{b}][-config1|-config2][-left|-right|-trapz]   (modifiers in any order)

Example::

    Estimator, config = parse_estimator_id("ovis-gamma1")
    estimator = Estimator(mc=1, iw=16, **config)
"""
from __future__ import annotations

import re
from typing import Any, Dict, Tuple, Type

from .base import GradientEstimator
from .ovis import OvisAsymptotic, OvisMonteCarlo
from .pathwise import DoublyReparameterized, Pathwise, PathwiseIWAE, PathwiseVAE, StickingTheLanding
from .reinforce import Reinforce
from .tvo import ThermoVariationalObjective
from .vimco import Vimco
from .wakesleep import WakeSleep, WakeWake

__all__ = ["parse_estimator_id", "VALID_FORMS"]

_NUM = r"(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)"

VALID_FORMS = (
    "pathwise", "pathwise-vae", "pathwise-iwae", "stl", "dreg",
    "reinforce", "reinforce-baseline",
    "vimco-arithmetic", "vimco-geometric",
    "ovis-S{y}", "ovis-S{y}-exclusive",
    "ovis-gamma{g}", "ovis-gamma{g}-arithmetic", "ovis-gamma{g}-geometric",
    "wake-wake", "wake-sleep",
    "tvo[-part{n}][-beta{b}][-config1|-config2][-left|-right|-trapz]",
)

_FIXED: Dict[str, Tuple[Type[GradientEstimator], Dict[str, Any]]] = {
    "pathwise": (Pathwise, {}),
    "pathwise-vae": (PathwiseVAE, {}),
    "pathwise-iwae": (PathwiseIWAE, {}),
    "stl": (StickingTheLanding, {}),
    "dreg": (DoublyReparameterized, {}),
    "reinforce": (Reinforce, {}),
    "reinforce-baseline": (Reinforce, {"baseline": True}),
    "vimco-arithmetic": (Vimco, {"arithmetic": True}),
    "vimco-geometric": (Vimco, {"arithmetic": False}),
    "wake-wake": (WakeWake, {}),
    "wake-sleep": (WakeSleep, {}),
}


def _error(estimator_id: str, why: str = "") -> ValueError:
    return ValueError(f"unknown estimator id {estimator_id!r}{': ' + why if why else ''}. Valid forms: "
                      + ", ".join(VALID_FORMS))


def _parse_tvo(estimator_id: str) -> Dict[str, Any]:
    config: Dict[str, Any] = {}
    for part in estimator_id.split("-")[1:]:
        m = re.fullmatch(r"part(\d+)", part)
        if m:
            if "num_partition" in config:
                raise _error(estimator_id, "'-part' given twice")
            config["num_partition"] = int(m.group(1))
            if config["num_partition"] < 1:
                raise _error(estimator_id, "-part{n} needs n >= 1")
            continue
        m = re.fullmatch(r"beta" + _NUM, part)
        if m:
            if "log_beta_min" in config:
                raise _error(estimator_id, "'-beta' given twice")
            config["log_beta_min"] = -float(m.group(1))
            continue
        if part in ("config1", "config2"):
            if "partition_name" in config:
                raise _error(estimator_id, "two partition configs given")
            config["partition_name"] = part
            continue
        if part in ("left", "right", "trapz"):
            if "integration" in config:
                raise _error(estimator_id, "two integration rules given")
            config["integration"] = part
            continue
        raise _error(estimator_id, f"unknown TVO modifier {part!r}")
    return config


def parse_estimator_id(estimator_id: str) -> Tuple[Type[GradientEstimator], Dict[str, Any]]:
    """Map an estimator id to its class and configuration.

    Arguments:
        estimator_id: e.g. ``"ovis-gamma1"``, ``"ovis-S10-exclusive"``, ``"vimco-arithmetic"``,
            ``"tvo-part2-config1"``.

    Returns:
        ``(EstimatorClass, config)``: build with ``EstimatorClass(mc=..., iw=..., **config)``.

    Raises:
        ValueError: unknown id; the message lists the valid forms.
    """
    if not isinstance(estimator_id, str):
        raise TypeError(f"estimator id must be a string, got {type(estimator_id).__name__}")
    eid = estimator_id.strip()
    if eid in _FIXED:
        cls, config = _FIXED[eid]
        return cls, dict(config)
    m = re.fullmatch(r"ovis-S" + _NUM + r"(-exclusive)?", eid)
    if m:
        y = float(m.group(1))
        if y <= 0:
            raise _error(estimator_id, "ovis-S{y} needs y > 0")
        return OvisMonteCarlo, {"auxiliary": y, "exclusive": m.group(2) is not None}
    m = re.fullmatch(r"ovis-gamma" + _NUM + r"(-arithmetic|-geometric)?", eid)
    if m:
        base = m.group(2)[1:] if m.group(2) else "default"
        return OvisAsymptotic, {"gamma": float(m.group(1)), "base": base}
    if eid == "tvo" or eid.startswith("tvo-"):
        return ThermoVariationalObjective, _parse_tvo(eid)
    raise _error(estimator_id)
