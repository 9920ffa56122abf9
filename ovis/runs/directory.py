"""The run directory: config, status, metrics (JSON lines + TensorBoard), checkpoint.

See :mod:`ovis.runs.names` for the files. ``metrics.jsonl`` holds one object per split per
evaluation, ``{"step": 200, "split": "valid", "loss/L_k": -80.1, "grads/snr": 0.3, ...}``;
non-finite values are written as ``null`` (strict JSON). TensorBoard gets the same scalars,
tagged ``split:group/name`` (``valid:loss/L_k``).

Example:
    >>> import tempfile
    >>> from ovis.runs.directory import RunDirectory
    >>> rd = RunDirectory(tempfile.mkdtemp() + "/my-run")
    >>> rd.write_config({"lr": 1e-3})
    >>> rd.set_status("running", "step 0/100", step=0)
    >>> rd.log_metrics(step=100, split="valid", metrics={"loss": {"L_k": -90.25, "ess": float("nan")}})
    {'loss/L_k': -90.25, 'loss/ess': None}
    >>> list(rd.read_metrics())
    [{'step': 100, 'split': 'valid', 'loss/L_k': -90.25, 'loss/ess': None}]
    >>> rd.read_status()
    {'message': 'step 0/100', 'status': 'running', 'step': 0}
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Iterator, List, Mapping, Optional

from . import names
from .atomic import atomic_write, atomic_write_json, read_json

__all__ = ["RunDirectory", "flatten_metrics"]


def _scalar(value: Any) -> float:
    if hasattr(value, "detach"):  # a tensor: its mean (a [bs] diagnostic becomes its batch mean)
        value = value.detach().float().mean().item() if value.numel() else float("nan")
    return float(value)


def flatten_metrics(nested: Mapping[str, Any]) -> Dict[str, float]:
    """``{'loss': {'L_k': t}, 'grads': {'snr': t}}`` -> ``{'loss/L_k': float, 'grads/snr': float}``.

    Tensors are averaged (a ``[bs]`` diagnostic becomes its batch mean); deeper levels are joined
    with ``.``.

    Example:
        >>> flatten_metrics({"loss": {"L_k": -2.0}, "a": {"b": {"c": 1}}, "top": 2})
        {'loss/L_k': -2.0, 'a/b.c': 1.0, 'top': 2.0}
    """
    flat: Dict[str, float] = {}
    for group, values in nested.items():
        if isinstance(values, Mapping):
            for name, value in values.items():
                if isinstance(value, Mapping):
                    for key, v in flatten_metrics({name: value}).items():
                        flat[f"{group}/{key.replace('/', '.')}"] = v
                else:
                    flat[f"{group}/{name}"] = _scalar(value)
        else:
            flat[str(group)] = _scalar(values)
    return flat


class RunDirectory:
    """The files of one run in ``path``.

    Arguments:
        path: the run directory, ``<root>/<exp>/<id>``.
        create: make the directory if it does not exist (``False`` to only read a run).
    """

    def __init__(self, path: str, create: bool = True) -> None:
        self.path = str(path)
        if create:
            os.makedirs(self.path, exist_ok=True)
        self._writer = None

    def __repr__(self) -> str:
        return f"RunDirectory({self.path!r})"

    @property
    def name(self) -> str:
        """The run id (the directory's name)."""
        return os.path.basename(os.path.normpath(self.path))

    # ------------------------------------------------------------------ paths
    @property
    def config_path(self) -> str:
        return os.path.join(self.path, names.CONFIG)

    @property
    def status_path(self) -> str:
        return os.path.join(self.path, names.STATUS)

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.path, names.METRICS)

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.path, names.CHECKPOINT)

    def event_files(self) -> List[str]:
        """The TensorBoard event files, sorted."""
        return names.event_files(self.path)

    def has_config(self) -> bool:
        return os.path.exists(self.config_path)

    def has_metrics(self) -> bool:
        return os.path.exists(self.metrics_path)

    def has_checkpoint(self) -> bool:
        return os.path.exists(self.checkpoint_path)

    # ------------------------------------------------------------------ config and status
    def read_config(self) -> Optional[Dict[str, Any]]:
        """``config.json`` (``None`` if absent; :class:`ValueError` if it is not JSON)."""
        return read_json(self.config_path)

    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write_json(self.config_path, dict(config))

    def read_status(self) -> Optional[Dict[str, Any]]:
        """``status.json`` (``None`` if absent; :class:`ValueError` if it is not JSON)."""
        return read_json(self.status_path)

    def set_status(self, status: str, message: str = "", step: int = 0) -> None:
        """Write ``status.json``; ``status`` is one of :data:`ovis.runs.names.STATUSES`."""
        if status not in names.STATUSES:
            raise ValueError(f"status {status!r} is invalid; expected one of {list(names.STATUSES)}")
        atomic_write_json(self.status_path, {"status": status, "message": message, "step": int(step)})

    # ------------------------------------------------------------------ metrics
    def open_writer(self, purge_step: Optional[int] = None) -> None:
        """Open the TensorBoard writer; ``purge_step`` hides events at or after it left by an
        interrupted run."""
        from torch.utils.tensorboard import SummaryWriter  # slow import: only when a run writes

        self._writer = SummaryWriter(log_dir=self.path, purge_step=purge_step, flush_secs=30)

    def log_metrics(self, step: int, split: str, metrics: Mapping[str, Any]) -> Dict[str, Optional[float]]:
        """Append one line to ``metrics.jsonl`` (flushed to disk) and the scalars to TensorBoard
        (when the writer is open).

        Arguments:
            step: the optimization step.
            split: ``train``, ``valid``, ``test`` (or any name without ``:``).
            metrics: nested ``{group: {name: value}}`` or flat ``{'group/name': value}``; values
                are numbers or tensors (averaged).

        Returns:
            the flat record written (without ``step`` and ``split``; non-finite values as ``None``).
        """
        flat = flatten_metrics(metrics)
        record: Dict[str, Any] = {"step": int(step), "split": split}
        record.update({k: (v if math.isfinite(v) else None) for k, v in flat.items()})
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self._writer is not None:
            for key, value in flat.items():
                self._writer.add_scalar(f"{split}:{key}", value, global_step=int(step))
        return {k: record[k] for k in flat}

    def read_metrics(self) -> Iterator[Dict[str, Any]]:
        """The records of ``metrics.jsonl`` in order (none if absent); lines that are not a JSON
        object (e.g. the last line of an interrupted run) are skipped."""
        try:
            f = open(self.metrics_path, encoding="utf-8")
        except FileNotFoundError:
            return
        with f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def truncate_metrics(self, last_step: int) -> None:
        """Keep the lines of ``metrics.jsonl`` up to ``last_step`` (drop what an interrupted run
        wrote after its last checkpoint, and any partial last line)."""
        if not self.has_metrics():
            return
        kept = [json.dumps(r, allow_nan=False) + "\n" for r in self.read_metrics()
                if int(r.get("step", -1)) <= last_step]
        atomic_write(self.metrics_path, lambda f: f.writelines(kept))

    def clear_outputs(self) -> None:
        """Remove the metrics, events and checkpoint of a previous attempt (starting from scratch)."""
        for p in [self.metrics_path, self.checkpoint_path, *self.event_files()]:
            try:
                os.remove(p)
            except FileNotFoundError:
                pass
