"""Names, colours and axis labels shared by every table and figure of a report.

Estimator ids (``ovis-gamma1``, ``vimco-arithmetic``, ...), read with the grammar of
:mod:`ovis.estimator_ids`, are turned into the names the paper uses, and each id gets one colour, computed from the id alone so that an estimator has the same
colour in every figure of every report. Metric names (``split:group/name``) get an axis label
with their unit.

Example:
    >>> from ovis.reporting.naming import estimator_label, metric_label
    >>> estimator_label("ovis-S10-exclusive")
    'OVIS-MC (S=10K)'
    >>> metric_label("test:loss/L_k")
    'test L_K (nats)'
"""
from __future__ import annotations

import colorsys
import hashlib
import math
import re
from typing import Any, Dict, Optional, Tuple, Mapping

from ..estimator_ids import ParsedId, parse_id

__all__ = [
    "estimator_label", "estimator_color", "estimator_sort_key",
    "metric_label", "key_label", "format_value", "group_label", "slug",
]

# Fixed ids: (paper name, colour, family rank used to order legends).
_FIXED: Dict[str, Tuple[str, str, int]] = {
    "reinforce": ("REINFORCE", "#7f7f7f", 0),
    "reinforce-baseline": ("REINFORCE (baseline)", "#4d4d4d", 0),
    "vimco-arithmetic": ("VIMCO (arithmetic)", "#ff7f0e", 1),
    "vimco-geometric": ("VIMCO (geometric)", "#8c564b", 1),
    "pathwise": ("Pathwise", "#9467bd", 4),
    "pathwise-vae": ("VAE (pathwise)", "#c5b0d5", 4),
    "pathwise-iwae": ("IWAE (pathwise)", "#9467bd", 4),
    "stl": ("STL", "#e377c2", 4),
    "dreg": ("DReG", "#d62728", 4),
    "wake-wake": ("RWS (wake-wake)", "#bcbd22", 5),
    "wake-sleep": ("RWS (wake-sleep)", "#7a7b00", 5),
}
_TVO_COLOR = "#17becf"
_S_LADDER = (0.1, 0.5, 1.0, 5.0, 10.0, 50.0, 100.0)  # usual y of ovis-S{y}: one shade each
_FALLBACK = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354")

_TVO_RULES = {"left": "left Riemann", "right": "right Riemann", "trapz": "trapezoid"}


def _parsed(eid: str) -> Optional[ParsedId]:
    """The id parsed by the grammar, or ``None`` if it is not a valid id."""
    try:
        return parse_id(eid)
    except ValueError:
        return None


def estimator_label(estimator_id: Any) -> str:
    """The paper's name for an estimator id; an unknown id is returned unchanged.

    ``ovis-S10-exclusive`` -> ``OVIS-MC (S=10K)`` (S = 10K auxiliary particles drawn in addition
    to the K particles, the paper's setting); ``ovis-S0.5`` -> ``OVIS-MC (S=0.5K, taken from K)``;
    ``ovis-gamma1`` -> ``OVIS-~ (γ=1)``; ``vimco-arithmetic`` -> ``VIMCO (arithmetic)``;
    ``tvo`` -> ``TVO`` and ``tvo-part5-left`` -> ``TVO (5 partitions, left Riemann)``.
    """
    eid = str(estimator_id).strip()
    if eid in _FIXED:
        return _FIXED[eid][0]
    parsed = _parsed(eid)
    if parsed is None:
        return eid
    o = parsed.options
    if parsed.family == "ovis-S":
        extra = "" if o["exclusive"] else ", taken from K"
        return f"OVIS-MC (S={o['auxiliary']:g}K{extra})"
    if parsed.family == "ovis-gamma":
        extra = f", {o['base']}" if o["base"] != "default" else ""
        return f"OVIS-~ (γ={o['gamma']:g}{extra})"
    if parsed.family == "tvo":
        parts = []
        for key, value in o.items():  # in the order of the id
            if key == "num_partition":
                parts.append(f"{value} partitions")
            elif key == "log_beta_min":
                parts.append(f"log β₁=-{-value:g}")
            elif key == "integration":
                parts.append(_TVO_RULES[value])
            else:
                parts.append(str(value))
        return "TVO" + (f" ({', '.join(parts)})" if parts else "")
    return eid


def _shade(hue: float, t: float) -> str:
    """A colour of fixed ``hue`` whose lightness goes from dark (t=0) to light (t=1)."""
    t = min(max(t, 0.0), 1.0)
    r, g, b = colorsys.hls_to_rgb(hue, 0.22 + 0.48 * t, 0.75)
    return "#{:02x}{:02x}{:02x}".format(round(255 * r), round(255 * g), round(255 * b))


def estimator_color(estimator_id: Any) -> str:
    """A colour (``'#rrggbb'``) that depends on the estimator id alone.

    Families keep one hue: OVIS-MC is blue (royal blue when the auxiliary particles are taken
    from the K), darker for more auxiliary particles (one shade per step of the ladder 0.1, 0.5, 1, 5,
    10, 50, 100, nearest in log scale); OVIS-~ is green,
    darker for larger γ; VIMCO orange/brown, REINFORCE grey, pathwise purple/red, RWS olive,
    TVO cyan. An unknown id gets a colour from a fixed palette chosen by a hash of the id
    (stable across processes).
    """
    eid = str(estimator_id).strip()
    if eid in _FIXED:
        return _FIXED[eid][1]
    parsed = _parsed(eid)
    family, o = (parsed.family, parsed.options) if parsed is not None else (None, {})
    if family == "ovis-S":  # S = yK: light (few auxiliary particles) to dark (many); blue, or indigo when taken from K
        y = max(o["auxiliary"], 1e-6)
        step = min(range(len(_S_LADDER)), key=lambda i: abs(math.log(_S_LADDER[i]) - math.log(y)))
        return _shade(0.57 if o["exclusive"] else 0.64, 1.0 - step / (len(_S_LADDER) - 1))
    if family == "ovis-gamma":  # gamma in [0, 1] -> light to dark green; the VIMCO-style bases shift the hue
        hue = {"default": 0.33, "arithmetic": 0.42, "geometric": 0.25}[o["base"]]
        return _shade(hue, 1.0 - o["gamma"])
    if family == "tvo":
        return _TVO_COLOR
    digest = hashlib.md5(eid.encode("utf-8")).digest()
    return _FALLBACK[digest[0] % len(_FALLBACK)]


def estimator_sort_key(estimator_id: Any) -> Tuple[int, float, str]:
    """Order estimators by family (REINFORCE, VIMCO, OVIS-MC, OVIS-~, pathwise, RWS, TVO), then
    by their numeric parameter, then by id."""
    eid = str(estimator_id).strip()
    if eid in _FIXED:
        return _FIXED[eid][2], 0.0, eid
    parsed = _parsed(eid)
    if parsed is not None and parsed.family == "ovis-S":
        return 2, parsed.options["auxiliary"], eid
    if parsed is not None and parsed.family == "ovis-gamma":
        return 3, parsed.options["gamma"], eid
    if parsed is not None and parsed.family == "tvo":
        return 6, 0.0, eid
    return 7, 0.0, eid


# group/name -> (label, unit); the split is prepended by metric_label.
_METRICS: Dict[str, Tuple[str, Optional[str]]] = {
    "loss/L_k": ("L_K", "nats"),
    "loss/elbo": ("ELBO", "nats"),
    "loss/kl": ("KL", "nats"),
    "loss/nll": ("NLL", "nats"),
    "loss/kl_q_p": ("KL(q‖p)", "nats"),
    "loss/ess": ("ESS", "particles"),
    "loss/loss": ("loss", "nats"),
    "grads/snr": ("gradient SNR", None),
    "grads/dsnr": ("gradient DSNR", None),
    "grads/variance": ("gradient variance", None),
    "grads/magnitude": ("gradient magnitude", None),
    "grads/direction": ("gradient direction (cosine)", None),
}

_AGGREGATIONS = {"max": "max", "min": "min", "last": "last", "mean": "mean over steps"}


def metric_label(metric: str, aggregation: Optional[str] = None,
                 particles: Optional[Mapping[str, int]] = None) -> str:
    """An axis label with units for ``split:group/name``, e.g. ``'test L_K (nats)'``.

    With ``aggregation`` (``max``, ``min``, ``last``, ``mean``) the label says how the training
    curve of each run was reduced, e.g. ``'test L_K (nats), max'``. With ``particles`` (split ->
    number of particles of its bound, from the runs' ``iw_test``/``iw_valid``) the bound says its
    K: ``metric_label("test:loss/L_k", particles={"test": 1000})`` is ``'test L_1000 (nats)'``.
    """
    split, _, key = metric.rpartition(":")
    group, _, stat = key.rpartition("/")
    default = (f"gradient SNR ({stat})", None) if group == "snr" else (key, None)
    name, unit = _METRICS.get(key, default)
    if key == "loss/L_k" and particles and split in particles:
        name = f"L_{particles[split]}"
    label = f"{split} {name}" if split else name
    if unit:
        label += f" ({unit})"
    if aggregation:
        label += f", {_AGGREGATIONS.get(aggregation, aggregation)}"
    return label


_KEYS = {"iw": "K", "mc": "M", "dataset": "data", "seed": "seed", "lr": "lr", "model": "model", "alpha": "α"}


def key_label(key: str) -> str:
    """Short name of a config field in a legend: ``iw`` -> ``K``, ``mc`` -> ``M``."""
    return _KEYS.get(key, key)


def format_value(value: Any) -> str:
    """A config value as text: ``16.0`` -> ``'16'``, ``0.001`` -> ``'0.001'``, NaN -> ``'?'``."""
    if value is None:
        return "?"
    if isinstance(value, float):
        if math.isnan(value):
            return "?"
        return f"{value:g}"
    return str(value)


def group_label(key_values: Dict[str, Any]) -> str:
    """A legend entry for a group of runs: the estimator's paper name then ``key=value`` pairs,
    e.g. ``{'estimator': 'ovis-gamma1', 'iw': 16}`` -> ``'OVIS-~ (γ=1), K=16'``."""
    parts = []
    if "estimator" in key_values:
        parts.append(estimator_label(key_values["estimator"]))
    parts += [f"{key_label(k)}={format_value(v)}" for k, v in key_values.items() if k != "estimator"]
    return ", ".join(parts) if parts else "all runs"


def slug(text: str) -> str:
    """A file-name-safe version of a metric or pivot spec: ``'max:test:loss/L_k'`` ->
    ``'max-test-loss-L_k'``."""
    return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", text).strip("-") or "metric"
