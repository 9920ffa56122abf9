"""Group runs by config fields and average over seeds: learning curves, pivot values, slopes.

The unit of aggregation is the *group*: the runs that share the values of ``keys`` (e.g.
``dataset, estimator, iw``), typically several seeds. Every function returns a tidy DataFrame
with the key columns followed by ``mean``, ``err`` (the standard deviation across runs, ddof=1,
or the standard error of the mean) and ``n`` (number of runs).

Example:
    >>> import tempfile
    >>> from ovis.runs import RunDirectory
    >>> from ovis.reporting.runs import read_experiment
    >>> root = tempfile.mkdtemp()
    >>> for seed, best in [(1, -90.0), (2, -88.0)]:   # two seeds of one configuration
    ...     run = RunDirectory(f"{root}/mini/seed{seed}")
    ...     run.write_config({"dataset": "digits", "estimator": "vimco-arithmetic", "iw": 16, "seed": seed})
    ...     run.set_status("success")
    ...     for step, value in [(0, -120.0), (100, best)]:
    ...         _ = run.log_metrics(step, "test", {"loss": {"L_k": value}})
    >>> experiment = read_experiment(f"{root}/mini")
    >>> from ovis.reporting.aggregate import parse_pivot, pivot_values
    >>> spec = parse_pivot("max:test:loss/L_k")
    >>> pivot_values(experiment, spec, keys=["dataset", "estimator", "iw"], error="std")
      dataset         estimator  iw  mean       err  n
    0  digits  vimco-arithmetic  16 -89.0  1.414214  2
"""
from __future__ import annotations

import difflib
import logging
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from .naming import estimator_sort_key
from .runs import Experiment

__all__ = ["PivotSpec", "AGGREGATIONS", "ERRORS", "parse_metric", "parse_pivot", "resolve_keys",
           "check_metrics", "mixed_fields", "sort_groups", "run_curves", "curves", "run_values", "pivot_values",
           "loglog_slope", "group_ids", "group_records"]

logger = logging.getLogger("ovis.reporting")

AGGREGATIONS = ("max", "min", "last", "mean")
_ALIASES = {"avg": "mean", "final": "last"}
ERRORS = ("std", "sem")
_RESERVED = ("run_id", "step", "metric", "value", "mean", "err", "n", "bin")


def parse_metric(name: str) -> str:
    """Check a metric name ``split:group/name`` (e.g. ``test:loss/L_k``) and return it stripped.

    Raises:
        ValueError: the name does not read ``split:group/name``.
    """
    name = name.strip()
    split, sep, key = name.partition(":")
    if not sep or not split or not key or ":" in key:
        raise ValueError(f"metric {name!r} is not of the form 'split:group/name' "
                         f"(e.g. 'test:loss/L_k', 'train:grads/snr')")
    return name


@dataclass(frozen=True)
class PivotSpec:
    """A metric reduced to one number per run: ``aggregation`` over the training steps of
    ``metric`` (``max:test:loss/L_k`` is the best test L_K reached by a run)."""

    aggregation: str
    metric: str

    @property
    def name(self) -> str:
        return f"{self.aggregation}:{self.metric}"

    def __str__(self) -> str:
        return self.name


def parse_pivot(spec: str) -> PivotSpec:
    """Parse ``agg:split:group/name`` (agg one of max, min, last, mean; ``avg`` is ``mean``).
    Without an aggregation (``test:loss/L_k``) the last value is used.

    Raises:
        ValueError: unknown aggregation or malformed metric name.
    """
    spec = spec.strip()
    parts = spec.split(":")
    if len(parts) == 3:
        agg = _ALIASES.get(parts[0], parts[0])
        if agg not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {parts[0]!r} in pivot metric {spec!r}; "
                             f"expected one of {', '.join(AGGREGATIONS)} (e.g. 'max:test:loss/L_k')")
        return PivotSpec(agg, parse_metric(":".join(parts[1:])))
    if len(parts) == 2:
        return PivotSpec("last", parse_metric(spec))
    raise ValueError(f"pivot metric {spec!r} is not of the form 'agg:split:group/name' "
                     f"(e.g. 'max:test:loss/L_k'; agg one of {', '.join(AGGREGATIONS)})")


def resolve_keys(exp: Experiment, keys: Sequence[str]) -> List[str]:
    """The keys found in at least one run's config; a key found in none is dropped with a note
    that lists the config fields."""
    kept = []
    for key in keys:
        if key in _RESERVED:
            message = f"key {key!r} clashes with a column of the report tables ({', '.join(_RESERVED)}); ignored"
            exp.notes.append(message)
            logger.warning(message)
        elif key in kept:
            continue
        elif key in exp.configs.columns:
            kept.append(key)
        else:
            fields = ", ".join(sorted(exp.configs.columns)) or "none"
            message = f"key {key!r} is in no run's config.json; ignored. Config fields: {fields}"
            exp.notes.append(message)
            logger.warning(message)
    return kept


def check_metrics(exp: Experiment, metrics: Sequence[str]) -> List[str]:
    """The metrics present in at least one run; each missing one gets a note naming the closest
    available metrics."""
    available = set(exp.metrics["metric"].unique())
    present = []
    for metric in metrics:
        if metric in available:
            present.append(metric)
            continue
        close = difflib.get_close_matches(metric, sorted(available), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else \
            f"available: {', '.join(sorted(available)[:12])}{' ...' if len(available) > 12 else ''}"
        message = f"metric {metric!r} was logged by no selected run; skipped ({hint})"
        exp.notes.append(message)
        logger.warning(message)
    return present


def mixed_fields(exp: Experiment, keys: Sequence[str]) -> List[str]:
    """Config fields, other than ``seed`` and per-run fields (ids, paths), that take several values
    within a group defined by ``keys``: those groups average runs that are not replicates."""
    cfg = exp.configs
    if len(cfg) < 2:
        return []
    candidates = [c for c in cfg.columns if c not in keys and c != "seed"
                  and cfg[c].astype(str).nunique() < len(cfg)]
    if not candidates:
        return []
    as_text = cfg[candidates].astype(str)
    if keys:
        varying = as_text.groupby([cfg[k].astype(str) for k in keys]).nunique().max()
    else:
        varying = as_text.nunique()
    return sorted(varying[varying > 1].index.tolist())


def _value_order(key: str, value: Any) -> Tuple:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (3,)
    if key == "estimator":
        return (0, estimator_sort_key(value))
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return (1, float(value))
    return (2, str(value))


def _ranks(values: pd.Series, key: str) -> np.ndarray:
    """Rank of each value in the report order of ``key`` (see :func:`sort_groups`)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    order = sorted(range(len(uniques)), key=lambda i: _value_order(key, uniques[i]))
    rank = np.empty(len(uniques), dtype=np.int64)
    rank[order] = np.arange(len(uniques))
    return rank[codes]


def sort_groups(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Rows ordered by ``keys`` (then ``step`` if present): estimators by family, numbers
    numerically, missing values last."""
    if df.empty or not keys:
        return df.reset_index(drop=True)
    cols = list(keys) + [c for c in ("step",) if c in df.columns]
    order = np.lexsort([_ranks(df[c], c) for c in reversed(cols)])
    return df.iloc[order].reset_index(drop=True)


def group_ids(df: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """An integer per row naming its group of ``keys`` (0, 1, ... in order of first appearance;
    missing values form their own group)."""
    if not keys:
        return np.zeros(len(df), dtype=np.int64)
    codes = np.stack([pd.factorize(df[k], use_na_sentinel=False)[0] for k in keys], axis=1)
    _, first, inverse = np.unique(codes, axis=0, return_index=True, return_inverse=True)
    relabel = np.empty(len(first), dtype=np.int64)
    relabel[np.argsort(first, kind="stable")] = np.arange(len(first))
    return relabel[inverse.reshape(-1)]


def _with_keys(exp: Experiment, frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Join the config values of ``keys`` onto a frame with a ``run_id`` column."""
    return frame.join(exp.configs[list(keys)], on="run_id")


def _summarise(frame: pd.DataFrame, by: List[str], error: str) -> pd.DataFrame:
    """mean, err (std ddof=1 or sem) and n of ``value`` within each group of ``by``."""
    if error not in ERRORS:
        raise ValueError(f"unknown error {error!r}; expected one of {', '.join(ERRORS)}")
    grouped = frame.groupby(by, dropna=False, sort=False)["value"]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    out["err"] = out["std"] if error == "std" else out["std"] / np.sqrt(out["n"])
    return out.drop(columns="std")


def run_curves(exp: Experiment, metric: str, keys: Sequence[str], *, downsample: int = 0) -> pd.DataFrame:
    """The curve of ``metric`` for every run, with the group keys joined.

    Arguments:
        metric: ``split:group/name``.
        keys: config fields defining a group.
        downsample: when a group has more than this many distinct steps, its steps are binned
            into ``downsample`` equal-width bins (each run averaged within a bin, the bin's step
            being the mean step of the group's runs in it, rounded, so that runs stay aligned);
            0 keeps every step.

    Returns:
        columns ``run_id, *keys, step, value``; empty if no run logged ``metric``.
    """
    data = exp.metrics[exp.metrics["metric"] == metric]
    columns = ["run_id", *keys, "step", "value"]
    if data.empty:
        return pd.DataFrame(columns=columns)
    if downsample and downsample > 0:
        gid = pd.Series(group_ids(_with_keys(exp, data, keys), keys), index=data.index)
        steps = data["step"].astype(float)
        by_group = steps.groupby(gid)
        lo, hi = by_group.transform("min"), by_group.transform("max")
        binned = by_group.transform("nunique") > downsample
        width = ((hi - lo) / downsample).where(lambda w: w > 0, 1.0)
        index = np.floor((steps - lo) / width).clip(0, downsample - 1)
        data = data.assign(bin=np.where(binned, index, steps), _g=gid)
        data = (data.groupby(["run_id", "bin"], sort=False)
                .agg(step=("step", "mean"), value=("value", "mean"), _g=("_g", "first"))
                .reset_index())
        # runs of a group share the bin's mean step, so that they stay aligned
        data["step"] = data.groupby(["_g", "bin"])["step"].transform("mean").round().astype("int64")
    data = _with_keys(exp, data, keys)
    return data[columns].sort_values(["run_id", "step"]).reset_index(drop=True)


def curves(exp: Experiment, metric: str, keys: Sequence[str], *, downsample: int = 0,
           error: str = "std") -> pd.DataFrame:
    """Learning curves of ``metric`` averaged over the runs of each group (see
    :func:`run_curves` for ``downsample``); at each step, the runs that logged it are averaged.

    Returns:
        columns ``*keys, step, mean, err, n`` (err: std with ddof=1, or sem), sorted; empty if
        no run logged ``metric``.
    """
    data = run_curves(exp, metric, keys, downsample=downsample)
    if data.empty:
        return pd.DataFrame(columns=[*keys, "step", "mean", "err", "n"])
    out = _summarise(data, [*keys, "step"], error)
    return sort_groups(out, keys)[[*keys, "step", "mean", "err", "n"]]


def run_values(exp: Experiment, spec: PivotSpec) -> pd.Series:
    """One number per run: ``spec.aggregation`` of ``spec.metric`` over the run's steps
    (``last`` is the value at the largest step). Index ``run_id``; runs without the metric are
    absent."""
    data = exp.metrics[exp.metrics["metric"] == spec.metric].sort_values(["run_id", "step"])
    grouped = data.groupby("run_id")["value"]
    values = grouped.agg(spec.aggregation)
    values.name = spec.name
    return values


def pivot_values(exp: Experiment, spec: PivotSpec, keys: Sequence[str], *,
                 error: str = "std") -> pd.DataFrame:
    """The pivot metric of each run, averaged over the runs of each group.

    Returns:
        columns ``*keys, mean, err, n``, sorted; empty if no run logged the metric.
    """
    values = run_values(exp, spec)
    if values.empty:
        return pd.DataFrame(columns=[*keys, "mean", "err", "n"])
    frame = _with_keys(exp, values.reset_index(name="value"), keys)
    if keys:
        out = _summarise(frame, list(keys), error)
    else:
        out = _summarise(frame.assign(_all=0), ["_all"], error).drop(columns="_all")
    return sort_groups(out, keys)[[*keys, "mean", "err", "n"]]


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> Optional[Tuple[float, float]]:
    """Least-squares fit of ``log y = slope * log x + intercept`` (natural logs).

    Points with non-positive or non-finite x or y are ignored. Returns ``(slope, intercept)``,
    or ``None`` with fewer than two distinct x left. For SNR against K, the slope is the
    exponent of the scaling ``SNR ~ K^slope``: 0.5 means the SNR grows as sqrt(K), -0.5 that it
    decays as 1/sqrt(K) (as the pathwise IWAE gradient of the inference network does,
    Rainforth et al. 2018, arXiv:1802.04537).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    if np.unique(x).size < 2:
        return None
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return float(slope), float(intercept)


def group_records(df: pd.DataFrame, keys: Sequence[str]) -> List[Tuple[Dict[str, Any], pd.DataFrame]]:
    """Split a sorted aggregate frame into ``(key_values, rows)`` pairs, in row order."""
    if not keys or df.empty:
        return [({}, df)] if not keys else []
    ids = group_ids(df, keys)
    order = np.argsort(ids, kind="stable")
    bounds = np.flatnonzero(np.diff(ids[order])) + 1
    out = []
    for rows in np.split(order, bounds):
        part = df.iloc[rows]
        out.append(({k: part[k].iloc[0] for k in keys}, part))
    return out
