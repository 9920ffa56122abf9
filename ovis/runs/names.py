"""The names of the files of a run directory, and how to find the run directories.

::

    <root>/<exp>/<id>/
        config.json              CONFIG      the run's configuration (every flag)
        status.json              STATUS      {"status": "running"|"success"|"failed", "message": str, "step": int}
        metrics.jsonl            METRICS     one JSON object per split per evaluation
        events.out.tfevents.*    EVENTS      TensorBoard scalars, tags "split:group/name"
        checkpoint.pt            CHECKPOINT  everything needed to resume

Other files (e.g. the sweep worker's ``job.log``) may sit next to them and are left alone.

Example:
    >>> import os, tempfile
    >>> from ovis.runs.names import CONFIG, find_run_directories
    >>> exp = tempfile.mkdtemp()
    >>> for run in ("b", "a", "empty"):
    ...     os.makedirs(os.path.join(exp, run))
    >>> for run in ("a", "b"):
    ...     open(os.path.join(exp, run, CONFIG), "w").close()
    >>> [os.path.basename(p) for p in find_run_directories(exp)]
    ['a', 'b', 'empty']
"""
from __future__ import annotations

import glob
import os
from typing import List

__all__ = ["CONFIG", "STATUS", "METRICS", "EVENTS", "CHECKPOINT", "STATUSES", "event_files",
           "find_run_directories"]

CONFIG = "config.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"
#: glob pattern of the TensorBoard event files
EVENTS = "events.out.tfevents.*"
CHECKPOINT = "checkpoint.pt"
#: the values of ``status.json``'s ``"status"``
STATUSES = ("running", "success", "failed")


def event_files(run_path: str) -> List[str]:
    """The TensorBoard event files of a run directory, sorted."""
    return sorted(glob.glob(os.path.join(glob.escape(run_path), EVENTS)))


def find_run_directories(exp_path: str) -> List[str]:
    """The sub-directories of an experiment directory, sorted by name (each may hold a run;
    check :data:`CONFIG` to know)."""
    return sorted(os.path.join(exp_path, name) for name in os.listdir(exp_path)
                  if os.path.isdir(os.path.join(exp_path, name)))
