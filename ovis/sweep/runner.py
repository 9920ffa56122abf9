"""One job as a subprocess: its command line, environment, log file and result.

Shared by the local worker and the Ray task, so both run a job the same way:
``python <snapshot>/<script> <args...> [--exp E --root R --data_root D --id ID]``
with ``PYTHONPATH`` pointing at the code snapshot first, stdout and stderr
appended to ``<root>/<exp>/<id>/job.log``, and the job stopped (SIGTERM to its
process group, SIGKILL after a grace period) when ``should_stop()`` turns true.
"""
from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Tuple

from .procs import HOST, spawn, terminate_group, wait_for

__all__ = ["JobResult", "outcome", "describe_exit", "job_command", "job_env", "job_dir", "log_path", "run_job", "read_tail", "LOG_NAME"]

LOG_NAME = "job.log"
TAIL_LINES = 40
TAIL_CHARS = 4000


@dataclass
class JobResult:
    """What came of one attempt at a job."""
    exit_code: Optional[int]
    duration: float
    tail: str
    stopped: bool          # we stopped it (signal, lost claim), so the outcome is 'aborted'
    pid: Optional[int] = None
    host: str = HOST


def describe_exit(exit_code: Optional[int]) -> str:
    """``-9`` -> ``'killed by SIGKILL (out of memory?)'``; ``1`` -> ``'exit code 1'``."""
    if exit_code is not None and exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return f"killed by {name}" + (" (out of memory?)" if -exit_code == signal.SIGKILL else "")
    return f"exit code {exit_code}"


def outcome(exit_code: Optional[int], stopped: bool, tail: str, stopped_by: str = "a signal to the worker"
            ) -> Tuple[str, Optional[str]]:
    """``(state, error)`` of a finished attempt, as the queue records it.

    Arguments:
        exit_code: the job's exit status (negative: the signal that ended it).
        stopped: we stopped it (a signal to the worker, a lost claim): ``aborted``.
        tail: the end of the job's log.
        stopped_by: who stopped it, for the message.

    Returns:
        ``('success', None)``; ``('aborted', ...)`` when we stopped it or when a signal from outside
        ended it (the kernel's SIGKILL when memory runs out, a cluster's SIGTERM): the message says
        ``killed by SIGKILL (out of memory?)`` and ``--requeue_level 1`` runs it again;
        ``('failed', tail or exit code)`` otherwise.

    Example:
        >>> from ovis.sweep.runner import outcome
        >>> outcome(-9, False, "step 10/100")
        ('aborted', 'killed by SIGKILL (out of memory?)\\nstep 10/100')
        >>> outcome(1, False, "")
        ('failed', 'exit code 1 (empty log)')
    """
    if stopped:
        return "aborted", f"stopped by {stopped_by}\n{tail}".rstrip()
    if exit_code == 0:
        return "success", None
    if exit_code is not None and exit_code < 0:
        return "aborted", f"{describe_exit(exit_code)}\n{tail}".rstrip()
    return "failed", tail or f"{describe_exit(exit_code)} (empty log)"


def job_dir(meta: Mapping, job_id: str) -> str:
    return os.path.join(meta["root"], meta["exp"], job_id)


def log_path(meta: Mapping, job_id: str) -> str:
    return os.path.join(job_dir(meta, job_id), LOG_NAME)


def job_command(job: Mapping, meta: Mapping, python: Optional[str] = None) -> List[str]:
    """The argument list that runs ``job`` (a queue record) of the experiment described by ``meta``."""
    script = job["script"]
    if not os.path.isabs(script):
        script = os.path.join(meta.get("snapshot") or meta["project_dir"], script)
    cmd = [python or sys.executable, script, *job["args"]]
    if job.get("pass_run_flags", True):
        cmd += ["--exp", meta["exp"], "--root", meta["root"], "--data_root", meta["data_root"], "--id", job["id"]]
    return cmd


def job_env(job: Mapping, meta: Mapping, claim: str, base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Environment of a job: the snapshot first on ``PYTHONPATH``, and who the job is."""
    env = dict(os.environ if base is None else base)
    paths = [meta.get("snapshot") or meta["project_dir"]]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(OVIS_EXP=meta["exp"], OVIS_JOB_ID=job["id"], OVIS_JOB_CLAIM=claim)
    return env


def read_tail(path: str, offset: int = 0, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last ``lines`` lines (at most ``chars`` characters) of ``path`` after byte ``offset``."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            start = max(offset, size - 4 * chars)
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    text = "\n".join(text.rstrip().splitlines()[-lines:])
    return text[-chars:]


def run_job(cmd: List[str], log_file: str, env: Mapping[str, str], cwd: Optional[str] = None,
            should_stop: Callable[[], bool] = lambda: False,
            on_start: Optional[Callable[[int], None]] = None,
            kill_grace: float = 10.0, poll: float = 0.2) -> JobResult:
    """Run ``cmd`` to completion (or until ``should_stop()``), its output appended to ``log_file``."""
    os.makedirs(os.path.dirname(log_file), exist_ok=True)
    t0 = time.time()
    with open(log_file, "ab") as log:
        offset = log.tell()
        header = f"=== {time.strftime('%Y-%m-%d %H:%M:%S')} on {HOST}: {' '.join(cmd)}\n"
        log.write(header.encode())
        log.flush()
        offset += len(header.encode())
        if should_stop():
            return JobResult(None, 0.0, "", stopped=True)
        proc = spawn(cmd, log, dict(env), cwd=cwd)
        stopped = False
        try:
            if on_start is not None:
                on_start(proc.pid)
            while not should_stop() and not wait_for(proc, poll):
                pass
        finally:  # also on KeyboardInterrupt / Ray task cancellation
            if proc.poll() is None:
                stopped = True
                terminate_group(proc, kill_grace)
        code = proc.wait()
    return JobResult(code, time.time() - t0, read_tail(log_file, offset), stopped=stopped, pid=proc.pid)
