"""Run directories: config, JSON-lines metrics, TensorBoard events, checkpoint, status, and
the atomic file writes the whole package uses.

A leaf of the package: it needs only the standard library and torch, and imports nothing else
of ``ovis``, so training, the sweep queue, the reports, data downloads and any new loop (GMMVI)
can all use it.

===========================  ==========================================================
:mod:`ovis.runs.names`       the file names of a run directory; finding run directories
:mod:`ovis.runs.atomic`      :func:`atomic_write` (the one write-then-rename), JSON files
:mod:`ovis.runs.directory`   :class:`RunDirectory`: read and write a run's files
:mod:`ovis.runs.checkpoint`  checkpoints with the random states
:mod:`ovis.runs.lifecycle`   :class:`Run`: begin, resume, log, save, succeed or fail
===========================  ==========================================================

Example:
    >>> import tempfile
    >>> from ovis.runs import Run, RunDirectory
    >>> run = Run(tempfile.mkdtemp() + "/exp/run-1", {"seed": 0})
    >>> run.begin()
    True
    >>> RunDirectory(run.path, create=False).read_status()["status"]
    'running'
"""
from .atomic import atomic_copy, atomic_replace, atomic_write, atomic_write_json, read_json
from .checkpoint import CHECKPOINT_VERSION, get_rng_states, load_checkpoint, save_checkpoint, set_rng_states
from .directory import RunDirectory, flatten_metrics
from .lifecycle import Run, RunConflict, Terminated, config_differences, failure, summary, terminate_on_sigterm
from .names import CHECKPOINT, CONFIG, EVENTS, METRICS, STATUS, STATUSES, event_files, find_run_directories

__all__ = [
    "atomic_write", "atomic_write_json", "atomic_copy", "atomic_replace", "read_json",
    "save_checkpoint", "load_checkpoint", "get_rng_states", "set_rng_states", "CHECKPOINT_VERSION",
    "RunDirectory", "flatten_metrics",
    "Run", "RunConflict", "Terminated", "terminate_on_sigterm", "failure", "config_differences", "summary",
    "CONFIG", "STATUS", "METRICS", "EVENTS", "CHECKPOINT", "STATUSES", "event_files", "find_run_directories",
]
