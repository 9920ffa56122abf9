"""Crash-safe experiment queue: sweep files -> a TinyDB job queue -> workers.

- :mod:`~ovis.sweep.spec`: sweep files (``experiments/<exp>.json``) -> jobs.
- :mod:`~ovis.sweep.storage`: TinyDB storage with atomic writes, strict reads.
- :mod:`~ovis.sweep.queue`: the queue of one experiment (claims, heartbeats, requeue).
- :mod:`~ovis.sweep.runner`: one job as a subprocess with its log.
- :mod:`~ovis.sweep.worker`: claim, run, record, repeat.
- :mod:`~ovis.sweep.backends`: local worker processes, or Ray tasks.
- :mod:`~ovis.sweep.manager`, :mod:`~ovis.sweep.dbutils`: the two commands.

Usage (shell)::

    python manager.py --exp mini --processes 2
    python dbutils.py --exp mini --check
"""
from .queue import STATES, JobQueue, QueueLockedError
from .spec import JobSpec, SweepSpec, SweepSpecError, expand_jobs, load_spec
from .storage import AtomicJSONStorage, QueueCorruptError

__all__ = ["JobQueue", "QueueLockedError", "STATES", "JobSpec", "SweepSpec", "SweepSpecError", "expand_jobs",
           "load_spec", "AtomicJSONStorage", "QueueCorruptError"]
