"""``dbutils``: inspect and repair an experiment's job queue.

    python dbutils.py --exp mini --check                 # states, failures and their messages
    python dbutils.py --exp mini --show 3                # one job: record, command, log tail
    python dbutils.py --exp mini --requeue --requeue_level 2
    python dbutils.py --exp mini --purge_lock            # after a lock timeout, nobody alive

``--check`` and ``--show`` only read the file (no lock), so they work while a
manager runs. Running jobs that look vanished are shown as such but only
changed by ``--requeue`` (or a manager).
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from typing import List, Mapping, Optional, TextIO

from .queue import REQUEUE_LEVELS, STATES, JobQueue, QueueLockedError, count_states, vanished_reason
from .runner import job_command, log_path, read_tail
from .storage import QueueCorruptError

__all__ = ["add_arguments", "main", "check_report"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ovis dbutils`` / ``python dbutils.py``."""
    p = parser
    p.add_argument("--exp", required=True, help="experiment name (the queue is <root>/<exp>/queue.json)")
    p.add_argument("--root", default="runs", help="folder of all experiments (default: runs)")
    p.add_argument("--check", action="store_true", help="print the jobs per state and every failed or aborted "
                                                       "job with its message")
    p.add_argument("--show", metavar="ID", default=None, help="print one job: record, command and log tail")
    p.add_argument("--requeue", action="store_true", help="requeue jobs per --requeue_level")
    p.add_argument("--requeue_level", type=int, default=1, choices=sorted(REQUEUE_LEVELS),
                   help="0 nothing, 1 aborted and vanished, 2 also failed, 100 everything not successful "
                        "(even jobs that look alive) (default: 1)")
    p.add_argument("--purge_lock", action="store_true", help="delete the queue's lock file; only when no "
                                                            "manager, worker or dbutils of it is alive")
    p.add_argument("--lock_timeout", type=float, default=120.0, help="seconds to wait for the queue lock")


def _message(job: Mapping) -> str:
    lines = [ln.strip() for ln in (job.get("error") or "").splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def check_report(queue: JobQueue, stream: Optional[TextIO] = None, width: int = 60) -> None:
    """The ``--check`` table: counts per state, then the failed, aborted and vanished jobs."""
    stream = stream or sys.stdout
    jobs = queue.jobs()
    stale = queue.meta().get("stale_after", queue.stale_after)
    counts = count_states(jobs)
    vanished = {j["id"]: vanished_reason(j, stale) for j in jobs if vanished_reason(j, stale)}
    print(f"experiment {os.path.basename(queue.exp_dir)} ({queue.path})", file=stream)
    print(f"  {'state':<9} {'jobs':>6}", file=stream)
    for state in list(STATES) + [s for s in counts if s not in STATES]:
        extra = f"   ({len(vanished)} vanished)" if state == "running" and vanished else ""
        print(f"  {state:<9} {counts[state]:>6}{extra}", file=stream)
    print(f"  {'total':<9} {len(jobs):>6}", file=stream)
    bad = [j for j in jobs if j["state"] in ("failed", "aborted") or j["id"] in vanished]
    if not bad:
        return
    print("\nfailed / aborted / vanished jobs:", file=stream)
    width = max(4, min(width, max(len(shlex.join(j["args"])) for j in bad)))
    print(f"  {'id':<6} {'state':<8} {'exit':>5}  {'args':<{width}}  message", file=stream)
    for j in bad:
        state = "vanished" if j["id"] in vanished else j["state"]
        msg = vanished[j["id"]] if j["id"] in vanished else _message(j)
        code = "" if j.get("exit_code") is None else str(j["exit_code"])
        print(f"  {j['id']:<6} {state:<8} {code:>5}  {_short(shlex.join(j['args']), width):<{width}}  {msg}",
              file=stream)


def show_job(queue: JobQueue, job_id: str, stream: Optional[TextIO] = None) -> bool:
    """``--show ID``: the record, the command it runs and the end of its log."""
    stream = stream or sys.stdout
    job = queue.get(job_id)
    if job is None:
        ids = [j["id"] for j in queue.jobs()]
        print(f"no job {job_id!r} in {queue.path} (ids {ids[0]}..{ids[-1]})" if ids else
              f"no job {job_id!r}: {queue.path} has no jobs", file=sys.stderr)
        return False
    meta = queue.meta()
    record = dict(job)
    for key in ("queued_at", "started_at", "heartbeat", "finished_at"):
        if record.get(key):
            record[key] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record[key]))
    print(json.dumps(record, indent=2), file=stream)
    if meta:
        print("\ncommand: " + shlex.join(job_command(job, meta, python="python")), file=stream)
        log = log_path(meta, job["id"])
        print(f"log: {log}", file=stream)
        tail = read_tail(log, lines=20)
        if tail:
            print("\n" + tail, file=stream)
    return True


def main(args: argparse.Namespace) -> int:
    queue = JobQueue(os.path.join(args.root, args.exp), lock_timeout=args.lock_timeout)
    if not (args.check or args.show or args.requeue or args.purge_lock):
        print("nothing to do: give --check, --show ID, --requeue or --purge_lock", file=sys.stderr)
        return 2
    try:
        if args.purge_lock:
            print(f"removed lock {queue.lock_path}" if queue.purge_lock() else f"no lock file at {queue.lock_path}")
        if (args.check or args.show or args.requeue) and not queue.exists():
            print(f"error: no queue at {queue.path} (start the experiment with manager.py --exp {args.exp})",
                  file=sys.stderr)
            return 2
        if args.requeue:
            queue.stale_after = queue.meta().get("stale_after", queue.stale_after)
            ids = queue.requeue(args.requeue_level)
            print(f"requeued {len(ids)} job(s)" + (f": {', '.join(ids[:20])}" + (" ..." if len(ids) > 20 else "")
                                                    if ids else ""))
        if args.show and not show_job(queue, args.show):
            return 1
        if args.check:
            check_report(queue)
    except (QueueCorruptError, QueueLockedError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def cli(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="dbutils.py", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return main(parser.parse_args(argv))
