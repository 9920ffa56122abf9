"""The estimator-id grammar, in one place: ``"ovis-S10-exclusive"`` -> family and options.

Valid ids::

    pathwise, pathwise-vae, pathwise-iwae, stl, dreg
    reinforce, reinforce-baseline
    vimco-arithmetic, vimco-geometric
    ovis-S{y}, ovis-S{y}-exclusive                       (S = y*K auxiliary particles, y > 0)
    ovis-gamma{g}, ovis-gamma{g}-arithmetic, ovis-gamma{g}-geometric
    wake-wake, wake-sleep
    tvo[-part{n}][-beta{b}][-config1|-config2][-left|-right|-trapz]   (modifiers in any order)

Numbers are decimal (``10``, ``0.5``, ``.5``, ``1e-2``) and must be finite: ``ovis-gamma1e400``
is an error, not ``gamma=inf``. The grammar is parsed with regular expressions (never
``eval``) and imports neither torch nor the estimators, so the reports use it for display
names; :mod:`ovis.estimators.config` maps a parsed id to its class.

Example:
    >>> from ovis.estimator_ids import parse_id
    >>> parse_id("ovis-S10-exclusive")
    ParsedId(family='ovis-S', options={'auxiliary': 10.0, 'exclusive': True})
    >>> parse_id("tvo-part5-left")
    ParsedId(family='tvo', options={'num_partition': 5, 'integration': 'left'})
    >>> parse_id("vimco-arithmetic")
    ParsedId(family='vimco-arithmetic', options={})
    >>> parse_id("ovis-gamma1e400")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ovis.estimator_ids.EstimatorIdError: unknown estimator id 'ovis-gamma1e400': the number '1e400' is not finite...
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Optional

__all__ = ["parse_id", "parametric_family", "ParsedId", "EstimatorIdError", "FIXED_IDS", "PARAMETRIC_FAMILIES", "VALID_FORMS",
           "ID_PATTERN"]

#: the built-in ids without parameters (each is its own family)
FIXED_IDS = ("pathwise", "pathwise-vae", "pathwise-iwae", "stl", "dreg", "reinforce", "reinforce-baseline",
             "vimco-arithmetic", "vimco-geometric", "wake-wake", "wake-sleep")
#: the families whose ids carry parameters
PARAMETRIC_FAMILIES = ("ovis-S", "ovis-gamma", "tvo")

VALID_FORMS = (
    "pathwise", "pathwise-vae", "pathwise-iwae", "stl", "dreg",
    "reinforce", "reinforce-baseline",
    "vimco-arithmetic", "vimco-geometric",
    "ovis-S{y}", "ovis-S{y}-exclusive",
    "ovis-gamma{g}", "ovis-gamma{g}-arithmetic", "ovis-gamma{g}-geometric",
    "wake-wake", "wake-sleep",
    "tvo[-part{n}][-beta{b}][-config1|-config2][-left|-right|-trapz]",
)

#: what a new fixed id may look like (lower-case words joined by ``-``)
ID_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")

_NUM = r"(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)"
_INT64_MAX = 2 ** 63 - 1


class EstimatorIdError(ValueError):
    """An id the grammar does not accept; the message names it, says why and lists the valid forms."""


@dataclass(frozen=True)
class ParsedId:
    """A parsed estimator id.

    Arguments:
        family: the fixed id itself, or one of :data:`PARAMETRIC_FAMILIES`.
        options: the estimator options the id sets (e.g. ``{'gamma': 1.0, 'base': 'default'}``),
            in the order they appear in the id.
    """

    family: str
    options: Dict[str, Any] = field(default_factory=dict)


def _error(estimator_id: str, why: str = "", extra: Iterable[str] = ()) -> EstimatorIdError:
    forms = list(VALID_FORMS) + [e for e in extra if e not in VALID_FORMS]
    return EstimatorIdError(f"unknown estimator id {estimator_id!r}{': ' + why if why else ''}. Valid forms: "
                            + ", ".join(forms))


def _number(text: str, estimator_id: str, extra: Iterable[str]) -> float:
    value = float(text)  # the regular expression admits only decimal literals
    if not math.isfinite(value):
        raise _error(estimator_id, f"the number {text!r} is not finite (too large for a float)", extra)
    return value


def _integer(text: str, estimator_id: str, extra: Iterable[str]) -> int:
    value = int(text)
    if value > _INT64_MAX:
        raise _error(estimator_id, f"the integer {text!r} is too large (at most {_INT64_MAX})", extra)
    return value


def _parse_tvo(eid: str, extra: Iterable[str]) -> Dict[str, Any]:
    options: Dict[str, Any] = {}
    for part in eid.split("-")[1:]:
        m = re.fullmatch(r"part(\d+)", part)
        if m:
            if "num_partition" in options:
                raise _error(eid, "'-part' given twice", extra)
            options["num_partition"] = _integer(m.group(1), eid, extra)
            if options["num_partition"] < 1:
                raise _error(eid, "-part{n} needs n >= 1", extra)
            continue
        m = re.fullmatch(r"beta" + _NUM, part)
        if m:
            if "log_beta_min" in options:
                raise _error(eid, "'-beta' given twice", extra)
            options["log_beta_min"] = -_number(m.group(1), eid, extra)
            continue
        if part in ("config1", "config2"):
            if "partition_name" in options:
                raise _error(eid, "two partition configs given", extra)
            options["partition_name"] = part
            continue
        if part in ("left", "right", "trapz"):
            if "integration" in options:
                raise _error(eid, "two integration rules given", extra)
            options["integration"] = part
            continue
        raise _error(eid, f"unknown TVO modifier {part!r}", extra)
    return options


def parse_id(estimator_id: str, extra_fixed: Iterable[str] = ()) -> ParsedId:
    """Parse an estimator id (surrounding white space is ignored).

    Arguments:
        estimator_id: e.g. ``"ovis-gamma1"``, ``"ovis-S10-exclusive"``, ``"tvo-part2-config1"``.
        extra_fixed: further fixed ids to accept (those registered with
            :func:`ovis.estimators.config.register_estimator`); listed in the error message.

    Returns:
        the :class:`ParsedId`; for a fixed id, ``family`` is the id and ``options`` is empty.

    Raises:
        TypeError: ``estimator_id`` is not a string.
        EstimatorIdError: (a :class:`ValueError`) unknown id, a number that is not finite or
            overflows, a repeated or unknown modifier; the message lists the valid forms.
    """
    if not isinstance(estimator_id, str):
        raise TypeError(f"estimator id must be a string, got {type(estimator_id).__name__}")
    extra = tuple(extra_fixed)
    eid = estimator_id.strip()
    if eid in FIXED_IDS or eid in extra:
        return ParsedId(eid)
    m = re.fullmatch(r"ovis-S" + _NUM + r"(-exclusive)?", eid)
    if m:
        y = _number(m.group(1), estimator_id, extra)
        if y <= 0:
            raise _error(estimator_id, "ovis-S{y} needs y > 0", extra)
        return ParsedId("ovis-S", {"auxiliary": y, "exclusive": m.group(2) is not None})
    m = re.fullmatch(r"ovis-gamma" + _NUM + r"(-arithmetic|-geometric)?", eid)
    if m:
        gamma = _number(m.group(1), estimator_id, extra)
        return ParsedId("ovis-gamma", {"gamma": gamma, "base": m.group(2)[1:] if m.group(2) else "default"})
    if eid == "tvo" or eid.startswith("tvo-"):
        return ParsedId("tvo", _parse_tvo(eid, extra))
    raise _error(estimator_id, "", extra)


def parametric_family(estimator_id: str) -> Optional[str]:
    """The parametric family an id belongs to by its prefix (``ovis-S``, ``ovis-gamma``, ``tvo``),
    else ``None``; a new fixed id must not start like one of them.

    Example:
        >>> parametric_family("ovis-gamma0.5"), parametric_family("tvo"), parametric_family("my-id")
        ('ovis-gamma', 'tvo', None)
    """
    if estimator_id == "tvo" or estimator_id.startswith("tvo-"):
        return "tvo"
    for family in ("ovis-S", "ovis-gamma"):
        if estimator_id.startswith(family):
            return family
    return None
