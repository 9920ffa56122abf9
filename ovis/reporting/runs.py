"""Read the run directories of an experiment into pandas DataFrames.

A run directory (written through :mod:`ovis.runs`, whose names and readers are used here) holds::

    <root>/<exp>/<run_id>/config.json         all run.py flags
    <root>/<exp>/<run_id>/metrics.jsonl       one JSON object per evaluation:
                                              {"step": 100, "split": "test", "loss/L_k": -90.1, ...}
    <root>/<exp>/<run_id>/status.json         {"status": "running"|"success"|"failed", ...}
    <root>/<exp>/<run_id>/events.out.tfevents.*   TensorBoard scalars tagged "split:group/name"

Metrics are read from ``metrics.jsonl``; the TensorBoard events are the fallback when it is
missing or holds no usable line. Metric names are ``split:group/name`` (``test:loss/L_k``).

Which runs are read:

* ``status: success`` and runs without ``status.json``: read.
* ``status: running``: read, with a note (their curves stop early, their pivot values are
  provisional); skipped with ``only_finished=True``.
* ``status: failed``, runs without ``config.json`` and runs without any metric: skipped, with a
  note naming the run and why.

Notes go to the ``ovis.reporting`` logger and are kept in :attr:`Experiment.notes`.
"""
from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..runs import RunDirectory, find_run_directories

__all__ = ["Experiment", "read_experiment", "read_metrics_jsonl", "read_metrics_tensorboard",
           "match_filters", "METRIC_COLUMNS"]

logger = logging.getLogger("ovis.reporting")

METRIC_COLUMNS = ["run_id", "step", "metric", "value"]

# keep columns named like dates ("timestamp", "*_time") as numbers; pandas 3 does with dtype=False
# and deprecates convert_dates
_NO_DATES = {} if int(pd.__version__.split(".")[0]) >= 3 else {"convert_dates": False}


@dataclass
class Experiment:
    """The runs of one experiment, as DataFrames.

    Attributes:
        name: experiment name (the directory name).
        path: the experiment directory.
        runs: one row per kept run, index ``run_id``; columns ``status``, ``message``,
            ``last_step`` (largest step with a metric) and ``source`` (``jsonl`` or
            ``tensorboard``).
        configs: one row per kept run, index ``run_id``; one column per run.py flag (nested
            dicts flattened with ``.``).
        metrics: long format, columns ``run_id, step, metric, value``; ``metric`` is
            ``split:group/name``.
        notes: what was skipped or is provisional, one line each.
    """

    name: str
    path: Path
    runs: pd.DataFrame
    configs: pd.DataFrame
    metrics: pd.DataFrame
    notes: List[str] = field(default_factory=list)

    @property
    def metric_names(self) -> List[str]:
        """All metric names present, sorted."""
        return sorted(self.metrics["metric"].unique().tolist())


def _note(notes: List[str], message: str) -> None:
    notes.append(message)
    logger.warning(message)


def _object(data: Any, path: str) -> Dict[str, Any]:
    if not isinstance(data, dict):
        raise ValueError(f"{path} holds a {type(data).__name__}, expected a JSON object")
    return data


def _flatten(config: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    for k, v in config.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            flat.update(_flatten(v, name + "."))
        elif isinstance(v, (list, tuple)):
            flat[name] = ",".join(str(x) for x in v)
        else:
            flat[name] = v
    return flat


def _empty_metrics() -> pd.DataFrame:
    return pd.DataFrame({"run_id": pd.Series(dtype=object), "step": pd.Series(dtype="int64"),
                         "metric": pd.Series(dtype=object), "value": pd.Series(dtype="float64")})


def read_metrics_jsonl(path: Path, notes: Optional[List[str]] = None) -> pd.DataFrame:
    """Read ``metrics.jsonl`` into long format ``step, metric, value``.

    Each line is ``{"step": int, "split": str, "group/name": number, ...}``; nested objects
    (``{"loss": {"L_k": ...}}``) are flattened to ``group/name``. A key that already reads
    ``split:group/name`` is kept as is. Non-numeric and non-finite values are dropped. A line that
    is not valid JSON (e.g. the last line of a run being written) is skipped with a note.
    """
    notes = [] if notes is None else notes
    try:  # fast path: pandas' JSON-lines reader
        frame = pd.read_json(path, lines=True, dtype=False, **_NO_DATES)
    except ValueError:  # a malformed line: parse line by line to keep the others
        frame = pd.DataFrame.from_records(_read_lines(path, notes))
    if frame.empty:
        return _empty_metrics().drop(columns="run_id")
    nested = [c for c in frame.columns if frame[c].dtype == object
              and frame[c].map(lambda v: isinstance(v, dict)).any()]
    if nested:
        frame = pd.json_normalize(frame.to_dict("records"), sep="/")
    return _long_format(frame)


def _read_lines(path: Path, notes: List[str]) -> List[Dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                _note(notes, f"{path}: line {i} is not valid JSON; skipped")
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def _long_format(frame: pd.DataFrame) -> pd.DataFrame:
    """One column per ``group/name`` (plus ``step``, ``split``) -> rows ``step, metric, value``."""
    if "step" not in frame.columns:
        return _empty_metrics().drop(columns="run_id")
    step = pd.to_numeric(frame["step"], errors="coerce")
    split = frame["split"] if "split" in frame.columns else pd.Series(None, index=frame.index, dtype=object)
    prefix = split.astype(object).where(split.map(lambda v: isinstance(v, str) and v != "")) + ":"
    pieces = []
    for key in frame.columns:
        if key in ("step", "split") or frame[key].dtype == bool:
            continue
        column = frame[key]
        if column.dtype == object:  # drop booleans and text hiding among numbers
            column = column.where(column.map(lambda v: not isinstance(v, bool)))
        value = pd.to_numeric(column, errors="coerce").astype(float)
        if ":" in key:
            name = pd.Series(key, index=frame.index, dtype=object)
        else:
            name = prefix + key
        pieces.append(pd.DataFrame({"step": step, "metric": name, "value": value}))
    if not pieces:
        return _empty_metrics().drop(columns="run_id")
    out = pd.concat(pieces, ignore_index=True)
    out = out[np.isfinite(out["value"]) & out["step"].notna() & out["metric"].notna()]
    return out.astype({"step": "int64", "metric": object, "value": "float64"}).reset_index(drop=True)


def read_metrics_tensorboard(run_dir: Path) -> pd.DataFrame:
    """Read the TensorBoard scalars of a run directory into long format ``step, metric, value``
    (tags are the metric names, ``split:group/name``)."""
    from tensorboard.backend.event_processing import event_accumulator  # slow import: lazy

    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    rows = [(int(e.step), tag, float(e.value))
            for tag in acc.Tags().get(event_accumulator.SCALARS, [])
            for e in acc.Scalars(tag) if math.isfinite(e.value)]
    if not rows:
        return _empty_metrics().drop(columns="run_id")
    return pd.DataFrame(rows, columns=["step", "metric", "value"])


def _as_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _filter_matches(pattern: str, run_id: str, config: Dict[str, Any]) -> bool:
    """``pattern`` is a substring of the run id or of a flag value; ``field=value`` asks for that
    flag to equal ``value`` (as text: ``iw=16`` matches 16 and 16.0, not 160)."""
    if "=" in pattern:
        key, _, value = pattern.partition("=")
        return key.strip() in config and _as_text(config[key.strip()]) == value.strip()
    return pattern in run_id or any(pattern in _as_text(v) for v in config.values())


def match_filters(run_id: str, config: Dict[str, Any], include: Sequence[Sequence[str]] = (),
                  exclude: Sequence[str] = ()) -> bool:
    """Whether a run passes the ``--include`` / ``--exclude`` filters.

    Arguments:
        include: groups of patterns; a run must match at least one pattern of every group
            (``--include a,b --include c`` means (a or b) and c).
        exclude: a run matching any of these patterns is dropped.

    A pattern is a substring of the run id or of any flag value, or ``field=value`` for a flag
    equal to ``value``.
    """
    for group in include:
        if group and not any(_filter_matches(p, run_id, config) for p in group):
            return False
    return not any(_filter_matches(p, run_id, config) for p in exclude)


def read_experiment(path: Path | str, *, include: Sequence[Sequence[str]] = (),
                    exclude: Sequence[str] = (), only_finished: bool = False,
                    select: Optional[Callable[[str, Dict[str, Any]], bool]] = None) -> Experiment:
    """Read every run directory directly under ``path``.

    Arguments:
        path: the experiment directory (``<root>/<exp>``).
        include, exclude: run filters, see :func:`match_filters`.
        only_finished: skip runs whose status is ``running``.
        select: ``(run_id, flattened config) -> bool``; a run for which it is False is left out
            (as by the filters).

    Returns:
        an :class:`Experiment`; its DataFrames are empty when no run is kept.

    Raises:
        FileNotFoundError: ``path`` is not a directory.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"experiment directory {str(path)!r} does not exist")
    notes: List[str] = []
    runs, configs, frames = [], [], []
    filtered = 0
    for run_path in find_run_directories(str(path)):
        run = RunDirectory(run_path, create=False)
        run_id = run.name
        if not run.has_config():
            if run.has_metrics() or run.event_files():
                _note(notes, f"run {run_id}: no config.json; skipped")
            continue
        try:
            config = _flatten(_object(run.read_config(), run.config_path))
        except (ValueError, OSError) as e:
            _note(notes, f"run {run_id}: unreadable config.json ({e}); skipped")
            continue
        if not match_filters(run_id, config, include, exclude) or (select is not None and not select(run_id, config)):
            filtered += 1
            continue
        status: Dict[str, Any] = {"status": "unknown", "message": "", "step": None}
        try:
            status.update(_object(run.read_status() or {}, run.status_path))
        except (ValueError, OSError) as e:
            _note(notes, f"run {run_id}: unreadable status.json ({e}); read as status 'unknown'")
        state = str(status.get("status"))
        if state == "failed":
            msg = str(status.get("message") or "").strip().splitlines()
            _note(notes, f"run {run_id}: failed ({msg[-1] if msg else 'no message'}); skipped")
            continue
        if state == "running" and only_finished:
            _note(notes, f"run {run_id}: still running (step {status.get('step')}); skipped "
                         f"(--only_finished)")
            continue
        metrics, source = None, "jsonl"
        if run.has_metrics():
            metrics = read_metrics_jsonl(Path(run.metrics_path), notes)
        if (metrics is None or metrics.empty) and run.event_files():
            metrics, source = read_metrics_tensorboard(Path(run.path)), "tensorboard"
        if metrics is None or metrics.empty:
            _note(notes, f"run {run_id}: no metrics (neither metrics.jsonl nor TensorBoard events "
                         f"with scalars); skipped")
            continue
        if state == "running":
            _note(notes, f"run {run_id}: still running (last logged step {int(metrics['step'].max())}); "
                         f"included, its values are provisional (use --only_finished to skip it)")
        # a resumed run may log a step twice: keep the last value
        metrics = metrics.drop_duplicates(["step", "metric"], keep="last").assign(run_id=run_id)
        frames.append(metrics[METRIC_COLUMNS])
        configs.append({"run_id": run_id, **config})
        runs.append({"run_id": run_id, "status": state, "message": str(status.get("message") or ""),
                     "last_step": int(metrics["step"].max()), "source": source})
    if filtered:
        logger.info("%d run(s) left out by --include/--exclude", filtered)
    run_cols = ["run_id", "status", "message", "last_step", "source"]
    return Experiment(
        name=path.name, path=path,
        runs=pd.DataFrame(runs, columns=run_cols).set_index("run_id"),
        configs=(pd.DataFrame(configs) if configs else pd.DataFrame({"run_id": []})).set_index("run_id"),
        metrics=pd.concat(frames, ignore_index=True) if frames else _empty_metrics(),
        notes=notes,
    )
