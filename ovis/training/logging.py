"""The run directory: config, status, metrics (JSON lines + TensorBoard) and checkpoint paths.

::

    <root>/<exp>/<id>/
        config.json          every flag of the run
        status.json          {"status": "running"|"success"|"failed", "message": str, "step": int}
        metrics.jsonl        one object per split per evaluation:
                             {"step": 200, "split": "valid", "loss/L_k": -80.1, "grads/snr": 0.3, ...}
        events.out.tfevents.*  the same scalars, tags "split:group/name" (e.g. "valid:loss/L_k")
        checkpoint.pt        written at each evaluation (see :mod:`ovis.training.checkpoints`)

Non-finite values are written as ``null`` in ``metrics.jsonl`` (strict JSON). Other files in the
directory (e.g. the sweep worker's ``job.log``) are left alone.
"""
from __future__ import annotations

import glob
import json
import math
import os
from typing import Any, Dict, Mapping, Optional

import torch

from .checkpoints import atomic_write, atomic_write_json, read_json

__all__ = ["RunDirectory", "flatten_metrics", "STATUSES"]

STATUSES = ("running", "success", "failed")


def _scalar(value: Any) -> Optional[float]:
    if isinstance(value, torch.Tensor):
        value = value.detach().float().mean().item() if value.numel() else float("nan")
    value = float(value)
    return value


def flatten_metrics(nested: Mapping[str, Any]) -> Dict[str, float]:
    """``{'loss': {'L_k': t}, 'grads': {'snr': t}}`` -> ``{'loss/L_k': float, 'grads/snr': float}``.

    Tensors are averaged (a ``[bs]`` diagnostic becomes its batch mean); deeper levels are joined with
    ``.`` (``{'a': {'b': {'c': 1}}}`` -> ``'a/b.c'``).
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
    """Files of one run in ``path`` (created if needed).

    Example::

        rd = RunDirectory("runs/sandbox/my-run")
        rd.write_config({"lr": 1e-3})
        rd.set_status("running", step=0)
        rd.log_metrics(step=100, split="valid", metrics={"loss": {"L_k": -90.2}})
    """

    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(path, exist_ok=True)
        self._writer = None

    # ------------------------------------------------------------------ paths
    @property
    def config_path(self) -> str:
        return os.path.join(self.path, "config.json")

    @property
    def status_path(self) -> str:
        return os.path.join(self.path, "status.json")

    @property
    def metrics_path(self) -> str:
        return os.path.join(self.path, "metrics.jsonl")

    @property
    def checkpoint_path(self) -> str:
        return os.path.join(self.path, "checkpoint.pt")

    # ------------------------------------------------------------------ config and status
    def read_config(self) -> Optional[Dict[str, Any]]:
        return read_json(self.config_path)

    def write_config(self, config: Mapping[str, Any]) -> None:
        atomic_write_json(self.config_path, dict(config))

    def read_status(self) -> Optional[Dict[str, Any]]:
        return read_json(self.status_path)

    def set_status(self, status: str, message: str = "", step: int = 0) -> None:
        if status not in STATUSES:
            raise ValueError(f"status {status!r} is invalid; expected one of {list(STATUSES)}")
        atomic_write_json(self.status_path, {"status": status, "message": message, "step": int(step)})

    # ------------------------------------------------------------------ metrics
    def open_writer(self, purge_step: Optional[int] = None) -> None:
        """Open the TensorBoard writer; ``purge_step`` hides events at or after it left by an interrupted run."""
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(log_dir=self.path, purge_step=purge_step, flush_secs=30)

    def log_metrics(self, step: int, split: str, metrics: Mapping[str, Any]) -> Dict[str, Optional[float]]:
        """Append one line to ``metrics.jsonl`` (flushed to disk) and the scalars to TensorBoard.

        Args:
            step: the optimization step.
            split: ``train``, ``valid`` or ``test``.
            metrics: nested ``{group: {name: value}}`` or flat ``{'group/name': value}``.

        Returns:
            the flat record written (without ``step`` and ``split``).
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

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def truncate_metrics(self, last_step: int) -> None:
        """Keep the lines of ``metrics.jsonl`` up to ``last_step`` (drop what an interrupted run wrote
        after its last checkpoint, and any partial last line)."""
        if not os.path.exists(self.metrics_path):
            return
        kept = []
        with open(self.metrics_path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and int(record.get("step", -1)) <= last_step:
                    kept.append(json.dumps(record, allow_nan=False) + "\n")
        atomic_write(self.metrics_path, lambda f: f.writelines(kept))

    def clear_outputs(self) -> None:
        """Remove the metrics, events and checkpoint of a previous attempt (starting from scratch)."""
        paths = [self.metrics_path, self.checkpoint_path]
        paths += glob.glob(os.path.join(glob.escape(self.path), "events.out.tfevents.*"))
        for p in paths:
            try:
                os.remove(p)
            except FileNotFoundError:
                pass
