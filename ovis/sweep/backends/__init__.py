"""Backends that drain a :class:`~ovis.sweep.queue.JobQueue`.

- :mod:`~ovis.sweep.backends.local`: worker processes on this machine, one per slot.
- :mod:`~ovis.sweep.backends.ray`: Ray tasks on a cluster; this process (the head)
  claims jobs and records their outcome, the tasks only run the subprocess.

Both take a :class:`RunOptions` and return ``True`` if they were interrupted.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["RunOptions"]


@dataclass(frozen=True)
class RunOptions:
    """How a backend runs the jobs of one manager session.

    Arguments:
        session: token identifying this manager session (``max_jobs`` counts its claims).
        max_jobs: stop claiming after this many jobs in this session (``None``: no limit).
        heartbeat: seconds between heartbeats of running jobs.
        kill_grace: seconds between SIGTERM and SIGKILL when stopping a job.
        lock_timeout: seconds a worker waits for the queue lock.
        poll: seconds between checks of the workers / tasks and display refreshes.
    """
    session: str
    max_jobs: Optional[int] = None
    heartbeat: float = 30.0
    kill_grace: float = 10.0
    lock_timeout: float = 120.0
    poll: float = 0.5
