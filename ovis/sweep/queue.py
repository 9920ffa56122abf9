"""The job queue of one experiment: a TinyDB file guarded by a file lock.

Layout of ``<root>/<exp>/``::

    queue.json          TinyDB: table "jobs" (one record per job), table "meta" (one record)
    queue.json.lock     the lock every read-modify-write holds (``filelock``)
    sweep.json          the sweep file the queue was built from (snapshot)
    snapshot/           the code the jobs run (see :mod:`ovis.sweep.snapshot`)
    <job id>/job.log    stdout and stderr of each job (run.py writes its run there too)

A job record::

    id, script, args, pass_run_flags, key        what to run (key: identity on --resume)
    state                                       queued | running | success | failed | aborted
    queued_at, attempts, claim, session         bookkeeping of claims
    host, pid, pid_start, device, worker        who runs it (pid: the process that heartbeats)
    job_pid, started_at, heartbeat              the subprocess and its liveness
    finished_at, duration, exit_code, error     the outcome (error: log tail or reason)
    history                                     earlier attempts (last 10), newest last

Every change happens in :meth:`JobQueue.transaction`: take the lock, read the
file once, change records in memory, write the file once, atomically
(:class:`~ovis.sweep.storage.AtomicJSONStorage`). Reads for display
(:meth:`JobQueue.jobs`) need no lock, since the file is always complete.

A ``running`` job whose worker pid is gone (same host) or whose heartbeat is
older than ``stale_after`` seconds has *vanished*; :meth:`JobQueue.reap_vanished`
marks it ``aborted``. Finishing or heartbeating needs the job's ``claim``
token, so a worker that lost its job (requeued meanwhile) cannot overwrite
the record of the next attempt.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import uuid
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import filelock
from tinydb import TinyDB
from tinydb.middlewares import CachingMiddleware
from tinydb.table import Document, Table

from .procs import HOST, pid_alive, process_start_time
from .spec import JobSpec
from .storage import AtomicJSONStorage, read_json_file

__all__ = ["JobQueue", "QueueLockedError", "STATES", "REQUEUE_LEVELS", "vanished_reason", "count_states",
           "QUEUE_NAME"]

QUEUE_NAME = "queue.json"
STATES = ("queued", "running", "success", "failed", "aborted")
#: --requeue_level -> states sent back to 'queued' ('running' at level 100 includes live jobs)
REQUEUE_LEVELS: Dict[int, Tuple[str, ...]] = {
    0: (),
    1: ("aborted",),
    2: ("aborted", "failed"),
    100: ("aborted", "failed", "running"),
}
_HISTORY = 10
_VANISHED = "vanished:"
_ATTEMPT_FIELDS = ("host", "pid", "pid_start", "device", "worker", "job_pid", "started_at", "heartbeat",
                   "finished_at", "duration", "exit_code", "error", "claim", "session")


class QueueLockedError(TimeoutError):
    """The queue lock could not be taken in time."""


class _Transaction(CachingMiddleware):
    """Reads the file once, keeps every write in memory until :meth:`flush`."""
    WRITE_CACHE_SIZE = sys.maxsize


def _format_id(doc_id: int) -> str:
    return f"{doc_id:05d}"


def vanished_reason(job: Mapping[str, Any], stale_after: float, now: Optional[float] = None,
                    host: str = HOST) -> Optional[str]:
    """Why a ``running`` job is no longer running, or ``None`` if it looks alive."""
    if job.get("state") != "running":
        return None
    now = time.time() if now is None else now
    pid = job.get("pid")
    if job.get("host") == host and pid and not pid_alive(pid, job.get("pid_start")):
        return f"{_VANISHED} worker pid {pid} on {host} is gone"
    beat = job.get("heartbeat") or job.get("started_at") or 0
    if now - beat > stale_after:
        return f"{_VANISHED} no heartbeat for {now - beat:.0f} s (worker pid {pid} on {job.get('host')})"
    return None


class JobQueue:
    """The queue of experiment directory ``exp_dir`` (``<root>/<exp>``).

    Arguments:
        exp_dir: the experiment directory; holds ``queue.json`` and its lock.
        lock_timeout: seconds to wait for the lock before :class:`QueueLockedError`.
        stale_after: seconds without heartbeat after which a running job has vanished.
    """

    def __init__(self, exp_dir: str, lock_timeout: float = 120.0, stale_after: float = 300.0):
        self.exp_dir = os.path.abspath(exp_dir)
        self.path = os.path.join(self.exp_dir, QUEUE_NAME)
        self.lock_path = self.path + ".lock"
        self.lock_timeout = lock_timeout
        self.stale_after = stale_after
        # threads of one process queue here, processes on the file lock (a nested transaction times out)
        self._thread_lock = threading.RLock()

    # ------------------------------------------------------------------ locking / IO
    def exists(self) -> bool:
        return os.path.exists(self.path)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Tuple[Table, Table]]:
        """``with queue.transaction() as (jobs, meta):`` -- locked, one read, one atomic write."""
        with self._thread_lock:
            os.makedirs(self.exp_dir, exist_ok=True)
            lock = filelock.FileLock(self.lock_path)
            try:
                lock.acquire(timeout=self.lock_timeout)
            except filelock.Timeout:
                raise QueueLockedError(
                    f"could not lock {self.lock_path} within {self.lock_timeout:g} s: another manager, worker "
                    f"or dbutils holds it. If none is running (e.g. it hangs, or it ran on another machine of "
                    f"a shared filesystem), remove the lock with `python dbutils.py --exp "
                    f"{os.path.basename(self.exp_dir)} --purge_lock` (or manager.py --purge_lock)") from None
            try:
                db = TinyDB(self.path, storage=_Transaction(AtomicJSONStorage))
                yield db.table("jobs", cache_size=0), db.table("meta", cache_size=0)
                db.storage.flush()  # only reached without exception: otherwise nothing is written
            finally:
                lock.release()

    def remove_stale_temporaries(self) -> List[str]:
        """Delete the ``.queue.json.*.tmp`` files that writers killed mid-write left behind; return
        their names. Taken under the queue lock, so no live writer's temporary file is removed
        (every write holds the lock from its temporary file to the rename)."""
        prefix, removed = f".{QUEUE_NAME}.", []
        with self.transaction():
            if not os.path.isdir(self.exp_dir):
                return removed
            for name in sorted(os.listdir(self.exp_dir)):
                if name.startswith(prefix) and name.endswith(".tmp"):
                    try:
                        os.unlink(os.path.join(self.exp_dir, name))
                        removed.append(name)
                    except FileNotFoundError:
                        pass
        return removed

    def purge_lock(self) -> bool:
        """Delete the lock file (only ever on explicit request); ``True`` if there was one."""
        try:
            os.unlink(self.lock_path)
            return True
        except FileNotFoundError:
            return False

    def read(self) -> Dict[str, Dict[str, Any]]:
        """The whole file without locking (``{}`` if there is none); raises on corruption."""
        return read_json_file(self.path) or {}

    def jobs(self) -> List[Dict[str, Any]]:
        """All job records (lock-free snapshot), in id order."""
        table = self.read().get("jobs", {})
        return [table[k] for k in sorted(table, key=int)]

    def meta(self) -> Dict[str, Any]:
        return dict(self.read().get("meta", {}).get("1", {}))

    def get(self, job_id: str) -> Optional[Dict[str, Any]]:
        """The record of ``job_id`` (``"42"`` or ``"00042"``), lock-free."""
        try:
            key = str(int(job_id))
        except ValueError:
            return None
        return self.read().get("jobs", {}).get(key)

    # ------------------------------------------------------------------ setup
    def set_meta(self, **fields: Any) -> None:
        with self.transaction() as (_, meta):
            if meta.contains(doc_id=1):
                meta.update(fields, doc_ids=[1])
            else:
                meta.insert(Document(fields, doc_id=1))

    def add_jobs(self, specs: Iterable[JobSpec], pass_run_flags: bool = True) -> List[str]:
        """Append the jobs not already in the queue (by :attr:`JobSpec.key`); return their ids."""
        with self.transaction() as (jobs, _):
            docs = jobs.all()
            known = {d["key"] for d in docs}
            next_id = max((d.doc_id for d in docs), default=0) + 1
            new = []
            now = time.time()
            for spec in specs:
                if spec.key in known:
                    continue
                known.add(spec.key)
                record = {"id": _format_id(next_id), "key": spec.key, "script": spec.script,
                          "args": list(spec.args), "pass_run_flags": pass_run_flags, "state": "queued",
                          "queued_at": now, "attempts": 0, "history": []}
                new.append(Document(record, doc_id=next_id))
                next_id += 1
            if new:
                jobs.insert_multiple(new)
            return [d["id"] for d in new]

    # ------------------------------------------------------------------ worker side
    def claim(self, device: str, worker: str = "", session: Optional[str] = None,
              max_jobs: Optional[int] = None, pid: Optional[int] = None) -> Optional[Dict[str, Any]]:
        """Atomically take the first queued job for the calling process; ``None`` if none is left.

        With ``session`` and ``max_jobs``, no more than ``max_jobs`` jobs are claimed per session.
        """
        pid = os.getpid() if pid is None else pid
        with self.transaction() as (jobs, _):
            docs = jobs.all()
            if session is not None and max_jobs is not None:
                if sum(1 for d in docs if d.get("session") == session) >= max_jobs:
                    return None
            queued = [d for d in docs if d["state"] == "queued"]
            if not queued:
                return None
            doc = min(queued, key=lambda d: d.doc_id)
            now = time.time()
            fields = {"state": "running", "claim": uuid.uuid4().hex, "session": session,
                      "attempts": doc.get("attempts", 0) + 1, "host": HOST, "pid": pid,
                      "pid_start": process_start_time(pid), "device": device, "worker": worker,
                      "job_pid": None, "started_at": now, "heartbeat": now, "finished_at": None,
                      "duration": None, "exit_code": None, "error": None}
            jobs.update(fields, doc_ids=[doc.doc_id])
            return {**doc, **fields}

    @staticmethod
    def _owned(jobs: Table, job_id: str, claim: str) -> Optional[Document]:
        """The job if ``claim`` still holds it: running, or reaped as vanished (and not requeued since)."""
        doc = jobs.get(doc_id=int(job_id))
        if doc is None or doc.get("claim") != claim:
            return None
        if doc["state"] == "running" or (doc["state"] == "aborted" and
                                          (doc.get("error") or "").startswith(_VANISHED)):
            return doc
        return None

    def heartbeat(self, job_id: str, claim: str, **fields: Any) -> bool:
        """Refresh the heartbeat (and ``fields``, e.g. ``job_pid``); ``False`` if the claim was lost.

        A job wrongly reaped as vanished while its worker was alive (e.g. suspended) is
        set back to ``running`` as long as nobody requeued it.
        """
        return bool(self.heartbeat_many([job_id], claim_of={job_id: claim}, **fields)[job_id])

    def heartbeat_many(self, job_ids: Sequence[str], claim_of: Mapping[str, str], **fields: Any) -> Dict[str, bool]:
        """:meth:`heartbeat` for several jobs in one transaction; ``{id: still owned}``."""
        out = {}
        with self.transaction() as (jobs, _):
            now = time.time()
            for job_id in job_ids:
                doc = self._owned(jobs, job_id, claim_of[job_id])
                out[job_id] = doc is not None
                if doc is not None:
                    jobs.update({**fields, "heartbeat": now, "state": "running", "error": None},
                                doc_ids=[doc.doc_id])
        return out

    def finish(self, job_id: str, claim: str, state: str, exit_code: Optional[int], duration: Optional[float],
               error: Optional[str] = None, **fields: Any) -> bool:
        """Record the outcome of an attempt; ``False`` (nothing written) if the claim was lost."""
        if state not in ("success", "failed", "aborted"):
            raise ValueError(f"finish state must be success, failed or aborted, got {state!r}")
        with self.transaction() as (jobs, _):
            doc = self._owned(jobs, job_id, claim)
            if doc is None:
                return False
            jobs.update({**fields, "state": state, "exit_code": exit_code, "duration": duration,
                         "finished_at": time.time(), "error": error}, doc_ids=[doc.doc_id])
            return True

    # ------------------------------------------------------------------ maintenance
    def reap_vanished(self, now: Optional[float] = None) -> List[str]:
        """Mark vanished running jobs ``aborted`` (error says why); return their ids."""
        if not any(vanished_reason(j, self.stale_after, now) for j in self.jobs()):
            return []  # common case: no lock, no write
        reaped = []
        with self.transaction() as (jobs, _):
            for doc in jobs.all():
                why = vanished_reason(doc, self.stale_after, now)
                if why:
                    jobs.update({"state": "aborted", "error": why, "finished_at": time.time()},
                                doc_ids=[doc.doc_id])
                    reaped.append(doc["id"])
        return reaped

    def requeue(self, level: int) -> List[str]:
        """Send jobs back to ``queued`` per :data:`REQUEUE_LEVELS` (vanished jobs are reaped first)."""
        if level not in REQUEUE_LEVELS:
            raise ValueError(f"requeue level must be one of {sorted(REQUEUE_LEVELS)} "
                             f"(0 nothing, 1 aborted/vanished, 2 also failed, 100 all not successful), got {level!r}")
        states = REQUEUE_LEVELS[level]
        if not states:
            return []
        self.reap_vanished()
        requeued = []
        with self.transaction() as (jobs, _):
            now = time.time()
            for doc in jobs.all():
                if doc["state"] not in states:
                    continue
                history = list(doc.get("history", []))
                if doc.get("claim"):  # it was attempted: keep what happened
                    attempt = {k: doc.get(k) for k in ("state",) + _ATTEMPT_FIELDS if doc.get(k) is not None}
                    history = (history + [attempt])[-_HISTORY:]
                jobs.update({**{k: None for k in _ATTEMPT_FIELDS}, "state": "queued", "queued_at": now,
                             "history": history}, doc_ids=[doc.doc_id])
                requeued.append(doc["id"])
        return requeued


def count_states(jobs: Iterable[Mapping[str, Any]]) -> Dict[str, int]:
    """``{state: number of jobs}`` over :data:`STATES` (all present, possibly 0)."""
    counts = dict.fromkeys(STATES, 0)
    for job in jobs:
        counts[job.get("state", "?")] = counts.get(job.get("state", "?"), 0) + 1
    return counts
