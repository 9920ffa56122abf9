"""Processes: who we are, whether a recorded process still lives, how to start and stop one.

A job record names the process that vouches for it (host, pid and the pid's
start time, so a recycled pid is not mistaken for the original). Children
are started from an argument list (never through a shell) in their own
session, so a terminal's Ctrl-C reaches the workers, which then stop their
jobs on purpose; and, on Linux, through :mod:`ovis.sweep._guard` so they die
if their parent is killed.
"""
from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import Dict, List, Optional, Sequence

__all__ = ["HOST", "process_start_time", "pid_alive", "guarded", "spawn", "wait_for", "terminate_group",
           "stop_on_signals"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

HOST = socket.gethostname()
_GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_guard.py")


def _proc_stat(pid: int) -> Optional[List[str]]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may contain spaces
    return raw[raw.rfind(")") + 2:].split()


def process_start_time(pid: int) -> Optional[str]:
    """Start time of ``pid`` in clock ticks since boot (Linux), else ``None``."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def pid_alive(pid: int, start_time: Optional[str] = None) -> bool:
    """Whether process ``pid`` (started at ``start_time``, if known) exists and is not a zombie."""
    if pid <= 0:
        return False
    if os.path.isdir("/proc/self"):
        fields = _proc_stat(pid)
        if fields is None or fields[0] in ("Z", "X"):
            return False
        return start_time is None or fields[19] == start_time
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def guarded(argv: Sequence[str]) -> List[str]:
    """``argv`` wrapped so that the process is SIGKILL-ed when its parent dies (Linux only)."""
    if sys.platform.startswith("linux"):
        return [sys.executable, "-S", _GUARD, str(os.getpid()), "--", *argv]
    return list(argv)


def spawn(argv: Sequence[str], log_file, env: Dict[str, str], cwd: Optional[str] = None) -> subprocess.Popen:
    """Start ``argv`` (a list; ``argv[0]`` an absolute executable path) in a new session.

    ``log_file`` receives stdout and stderr (an open binary file or ``None`` to inherit).
    """
    return subprocess.Popen(guarded(argv), stdin=subprocess.DEVNULL, stdout=log_file,
                            stderr=subprocess.STDOUT if log_file is not None else None,
                            env=env, cwd=cwd, start_new_session=True, close_fds=True)


def wait_for(proc: subprocess.Popen, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``proc`` to exit; ``True`` if it did.

    Wakes up as soon as the process exits (a pidfd on Linux >= 5.3; elsewhere
    polling at 10 ms), instead of the up-to-50 ms steps of ``Popen.wait(timeout)``.
    """
    if proc.poll() is not None:
        return True
    pidfd = None
    if hasattr(os, "pidfd_open"):
        try:
            pidfd = os.pidfd_open(proc.pid)
        except OSError:
            pidfd = None
    if pidfd is not None:
        try:
            select.select([pidfd], [], [], timeout)
        finally:
            os.close(pidfd)
        return proc.poll() is not None
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def terminate_group(proc: subprocess.Popen, grace: float) -> int:
    """SIGTERM the process group of ``proc``, SIGKILL it after ``grace`` seconds; return the exit code."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 30.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.monotonic() + wait
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    code = proc.poll()
    if code is None:
        code = proc.wait()
    try:  # children of the job that outlived it
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    return code


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event):
    """Within the block, SIGINT/SIGTERM/SIGHUP only set ``stop`` (handlers restored after).

    No exception is raised mid-way, so a queue transaction is never cut short.
    Outside the main thread (where handlers cannot be installed) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda signum, frame: stop.set())
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
