"""Estimator ids -> ``(EstimatorClass, config)``; new estimators get an id with :func:`register_estimator`.

The grammar of the ids (``ovis-S{y}``, ``ovis-gamma{g}``, ``tvo-part{n}``, ...) lives in
:mod:`ovis.estimator_ids` (no torch, shared with the reports); this module maps each parsed id
to its class, through the registry :data:`ESTIMATORS` of the fixed ids and a table of the
parametric families. Valid ids::

    pathwise, pathwise-vae, pathwise-iwae, stl, dreg
    reinforce, reinforce-baseline
    vimco-arithmetic, vimco-geometric
    ovis-S{y}, ovis-S{y}-exclusive                       (S = y*K auxiliary particles)
    ovis-gamma{g}, ovis-gamma{g}-arithmetic, ovis-gamma{g}-geometric
    wake-wake, wake-sleep
    tvo[-part{n}][-beta{b}][-config1|-config2][-left|-right|-trapz]   (modifiers in any order)

plus the ids added with :func:`register_estimator`.

Example:
    >>> from ovis.estimators.config import parse_estimator_id
    >>> Estimator, config = parse_estimator_id("ovis-gamma1")
    >>> Estimator.__name__, config
    ('OvisAsymptotic', {'gamma': 1.0, 'base': 'default'})
    >>> estimator = Estimator(mc=1, iw=16, **config)
    >>> parse_estimator_id("ovis-S1e400-exclusive")   # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    ovis.estimator_ids.EstimatorIdError: unknown estimator id 'ovis-S1e400-exclusive': the number '1e400' is not finite...
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Tuple, Type, TypeVar

from ..estimator_ids import FIXED_IDS, ID_PATTERN, VALID_FORMS, parametric_family, parse_id
from ..registry import Registry
from .base import GradientEstimator
from .ovis import OvisAsymptotic, OvisMonteCarlo
from .pathwise import DoublyReparameterized, Pathwise, PathwiseIWAE, PathwiseVAE, StickingTheLanding
from .reinforce import Reinforce
from .tvo import ThermoVariationalObjective
from .vimco import Vimco
from .wakesleep import WakeSleep, WakeWake

__all__ = ["parse_estimator_id", "register_estimator", "ESTIMATORS", "VALID_FORMS"]

E = TypeVar("E", bound=Type[GradientEstimator])

#: fixed id -> estimator class (the preset options of each id are kept alongside)
ESTIMATORS: Registry = Registry("estimator")
_PRESETS: Dict[str, Dict[str, Any]] = {}

#: parametric family of :mod:`ovis.estimator_ids` -> class
_FAMILIES: Dict[str, Type[GradientEstimator]] = {
    "ovis-S": OvisMonteCarlo,
    "ovis-gamma": OvisAsymptotic,
    "tvo": ThermoVariationalObjective,
}


def register_estimator(estimator_id: str, **preset: Any) -> Callable[[E], E]:
    """Class decorator: give a :class:`~ovis.estimators.base.GradientEstimator` subclass the fixed
    id ``estimator_id``, so that :func:`parse_estimator_id` (and ``run.py --estimator``, once the
    module defining it is imported) builds it.

    Arguments:
        estimator_id: lower-case words joined by ``-`` (``"my-estimator"``); not an id already
            taken and not starting like a parametric family (``ovis-S``, ``ovis-gamma``, ``tvo``).
        **preset: options the id sets (as ``reinforce-baseline`` sets ``baseline=True``); each
            must be one of the class's ``options`` or a keyword argument of its constructor.

    Raises:
        ValueError: a malformed or taken id, a class that is not an estimator, an unknown preset option.

    Example:
        >>> from ovis.estimators.config import parse_estimator_id, register_estimator
        >>> from ovis.estimators.pathwise import PathwiseIWAE
        >>> @register_estimator("doctest-iwae")
        ... class DoctestIWAE(PathwiseIWAE):
        ...     '''IWAE under another name.'''
        >>> parse_estimator_id("doctest-iwae")
        (<class 'ovis.estimators.config.DoctestIWAE'>, {})
    """
    if not isinstance(estimator_id, str) or not ID_PATTERN.fullmatch(estimator_id):
        raise ValueError(f"estimator id {estimator_id!r} is invalid; expected lower-case words joined by '-' "
                         f"(e.g. 'my-estimator')")
    family = parametric_family(estimator_id)
    if family is not None:
        raise ValueError(f"estimator id {estimator_id!r} is invalid: it starts like the family {family!r} of "
                         f"{VALID_FORMS}; choose another name")
    if estimator_id in ESTIMATORS:
        raise ValueError(f"estimator id {estimator_id!r} is already registered (to "
                         f"{ESTIMATORS.get(estimator_id).builder.__name__}); choose another name")

    def decorator(cls: E) -> E:
        if not (isinstance(cls, type) and issubclass(cls, GradientEstimator)):
            raise ValueError(f"register_estimator({estimator_id!r}) decorates {cls!r}; expected a subclass of "
                             f"GradientEstimator")
        valid = set(cls.options) | {name for name, p in inspect.signature(cls.__init__).parameters.items()
                                    if name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        unknown = sorted(set(preset) - valid)
        if unknown:
            raise ValueError(f"preset option(s) {unknown} of estimator id {estimator_id!r} are unknown to "
                             f"{cls.__name__}; valid options are {sorted(valid)}")
        ESTIMATORS.add(estimator_id, cls)
        _PRESETS[estimator_id] = dict(preset)
        return cls

    return decorator


for _eid, (_cls, _preset) in {
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
}.items():
    register_estimator(_eid, **_preset)(_cls)
assert set(ESTIMATORS.names()) == set(FIXED_IDS), "the fixed ids of ovis.estimator_ids and of ESTIMATORS differ"


def parse_estimator_id(estimator_id: str) -> Tuple[Type[GradientEstimator], Dict[str, Any]]:
    """Map an estimator id to its class and configuration.

    Arguments:
        estimator_id: e.g. ``"ovis-gamma1"``, ``"ovis-S10-exclusive"``, ``"vimco-arithmetic"``,
            ``"tvo-part2-config1"``, or an id added with :func:`register_estimator`.

    Returns:
        ``(EstimatorClass, config)``: build with ``EstimatorClass(mc=..., iw=..., **config)``.

    Raises:
        TypeError: ``estimator_id`` is not a string.
        ValueError: unknown id, or a number in it that is not finite; the message lists the valid forms.
    """
    parsed = parse_id(estimator_id, extra_fixed=ESTIMATORS.names())
    if parsed.family in _FAMILIES:
        return _FAMILIES[parsed.family], dict(parsed.options)
    return ESTIMATORS.get(parsed.family).builder, dict(_PRESETS[parsed.family])
