"""A worker: claim a job, run it, record the outcome, repeat until the queue is empty.

Run by the local backend as ``python -m ovis.sweep.worker --root R --exp E
--device cpu`` (one process per slot). While a job runs, a background thread
refreshes its heartbeat. SIGINT, SIGTERM and SIGHUP stop the current job
(SIGTERM to its process group, SIGKILL after ``--kill_grace`` s), mark it
``aborted`` and exit. If the job's claim is lost (requeued by someone else)
the job is stopped and nothing is recorded.

Exit codes: 0 queue drained or ``--max_jobs`` reached, 130 stopped by a
signal, 3 queue error (lock timeout, corrupt file).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Optional

from .procs import stop_on_signals
from .queue import JobQueue, QueueLockedError
from .runner import JobResult, job_command, job_env, log_path, outcome, run_job
from .storage import QueueCorruptError

__all__ = ["Worker", "main"]


class _Heartbeat(threading.Thread):
    """Refreshes one job's heartbeat every ``interval`` s until stopped; notes a lost claim.

    The first beat also records the subprocess pid (``job_pid``) once it is known.
    """

    def __init__(self, queue: JobQueue, job_id: str, claim: str, interval: float):
        super().__init__(daemon=True, name=f"heartbeat-{job_id}")
        self.queue, self.job_id, self.claim, self.interval = queue, job_id, claim, interval
        self.job_pid: Optional[int] = None
        self.done = threading.Event()
        self.lost = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            try:
                if not self.queue.heartbeat(self.job_id, self.claim, job_pid=self.job_pid):
                    self.lost.set()
                    return
            except (QueueLockedError, QueueCorruptError, OSError) as err:  # try again next beat
                print(f"[worker {os.getpid()}] heartbeat of job {self.job_id} failed: {err}", file=sys.stderr)


class Worker:
    """Drains ``queue`` on ``device``.

    Arguments:
        queue: the experiment's :class:`JobQueue`.
        device: recorded in each job (``cpu``, ``cuda:0``, ...); the caller sets ``CUDA_VISIBLE_DEVICES``.
        name: recorded as the job's ``worker``.
        session: the manager session, to enforce ``max_jobs`` across its workers.
        max_jobs: at most this many claims per session (``None``: no limit).
        heartbeat: seconds between heartbeats.
        kill_grace: seconds between SIGTERM and SIGKILL when a job is stopped.
    """

    def __init__(self, queue: JobQueue, device: str = "cpu", name: str = "", session: Optional[str] = None,
                 max_jobs: Optional[int] = None, heartbeat: float = 30.0, kill_grace: float = 10.0):
        self.queue, self.device, self.name = queue, device, name or f"worker-{os.getpid()}"
        self.session, self.max_jobs = session, max_jobs
        self.heartbeat, self.kill_grace = heartbeat, kill_grace
        self.stop = threading.Event()

    def run_one(self) -> bool:
        """Claim and run one job; ``False`` when there was nothing (left) to claim."""
        if self.stop.is_set():
            return False
        job = self.queue.claim(self.device, worker=self.name, session=self.session, max_jobs=self.max_jobs)
        if job is None:
            return False
        meta = self.queue.meta()
        claim = job["claim"]
        beat = _Heartbeat(self.queue, job["id"], claim, self.heartbeat)
        beat.start()
        try:
            result = run_job(job_command(job, meta), log_path(meta, job["id"]), job_env(job, meta, claim),
                             cwd=meta.get("project_dir"),
                             should_stop=lambda: self.stop.is_set() or beat.lost.is_set(),
                             on_start=lambda pid: setattr(beat, "job_pid", pid),
                             kill_grace=self.kill_grace)
        except OSError as err:  # could not write the log or start the process
            result = JobResult(None, 0.0, f"could not start the job: {err}", stopped=False)
        finally:
            beat.done.set()
            beat.join()
        if beat.lost.is_set():
            print(f"[{self.name}] job {job['id']} was requeued elsewhere; its result is dropped", file=sys.stderr)
            return True
        state, error = outcome(result.exit_code, result.stopped, result.tail)
        self.queue.finish(job["id"], claim, state, result.exit_code, result.duration, error, job_pid=result.pid)
        return True

    def run(self) -> int:
        while self.run_one():
            pass
        return 130 if self.stop.is_set() else 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", default="runs", help="directory of all experiments (default: runs)")
    parser.add_argument("--exp", required=True, help="experiment name: the queue is <root>/<exp>/queue.json")
    parser.add_argument("--device", default="cpu", help="device recorded with each job (default: cpu)")
    parser.add_argument("--name", default="", help="worker name recorded with each job")
    parser.add_argument("--session", default=None, help="manager session token (for --max_jobs)")
    parser.add_argument("--max_jobs", type=int, default=None, help="claims allowed per session")
    parser.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats (default 30)")
    parser.add_argument("--lock_timeout", type=float, default=120.0, help="seconds to wait for the queue lock")
    parser.add_argument("--kill_grace", type=float, default=10.0, help="seconds from SIGTERM to SIGKILL of a job")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ovis.sweep.worker", description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    queue = JobQueue(os.path.join(args.root, args.exp), lock_timeout=args.lock_timeout)
    worker = Worker(queue, device=args.device, name=args.name, session=args.session, max_jobs=args.max_jobs,
                    heartbeat=args.heartbeat, kill_grace=args.kill_grace)
    try:
        with stop_on_signals(worker.stop):  # the job loop notices within a fraction of a second
            return worker.run()
    except (QueueLockedError, QueueCorruptError) as err:
        print(f"[{worker.name}] {err}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
