"""Local backend: one worker process per slot, supervised by the manager.

Each worker is ``python -m ovis.sweep.worker`` in its own session (started
through the death-signal guard, so it dies with the manager), pinned to its
device by the slot's environment. The manager loop refreshes the display,
reaps vanished jobs, and restarts a worker that died unexpectedly (killed,
crashed) unless it keeps dying within seconds of its start. A worker that
exits 0 found the queue empty (or the session's ``max_jobs`` reached).

On SIGINT/SIGTERM/SIGHUP the manager sends SIGTERM to its workers, which
mark their jobs ``aborted``; a worker still alive after the grace period is
killed and its job reaped as vanished.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, List, Optional

from ..devices import Slot
from ..procs import HOST, spawn, stop_on_signals
from ..queue import JobQueue
from . import RunOptions

__all__ = ["run_local"]

_FAST_DEATH = 5.0       # a worker dying this soon after its start counts towards a crash loop
_MAX_FAST_DEATHS = 3


@dataclass
class _WorkerProcess:
    index: int
    slot: Slot
    proc: Optional[subprocess.Popen] = None
    started: float = 0.0
    fast_deaths: int = 0
    finished: bool = False


def _worker_argv(queue: JobQueue, w: _WorkerProcess, opts: RunOptions) -> List[str]:
    argv = [sys.executable, "-m", "ovis.sweep.worker", "--root", os.path.dirname(queue.exp_dir),
            "--exp", os.path.basename(queue.exp_dir), "--device", w.slot.device,
            "--name", f"{HOST}/{w.slot.device}/{w.index}", "--session", opts.session,
            "--heartbeat", str(opts.heartbeat), "--kill_grace", str(opts.kill_grace),
            "--lock_timeout", str(opts.lock_timeout)]
    if opts.max_jobs is not None:
        argv += ["--max_jobs", str(opts.max_jobs)]
    return argv


def run_local(queue: JobQueue, slots: List[Slot], opts: RunOptions,
              on_tick: Callable[[], None] = lambda: None, stop: Optional[threading.Event] = None) -> bool:
    """Drain ``queue`` with one worker per slot; ``on_tick`` refreshes the display.

    Returns ``True`` if interrupted (signal or ``stop`` set), ``False`` when the workers are done.
    """
    stop = stop or threading.Event()
    workers = [_WorkerProcess(i, slot) for i, slot in enumerate(slots)]

    def start(w: _WorkerProcess) -> None:
        env = {**os.environ, **w.slot.env}
        w.proc = spawn(_worker_argv(queue, w, opts), None, env)
        w.started = time.monotonic()

    with stop_on_signals(stop):
        for w in workers:
            start(w)
        last_reap = time.monotonic()
        while not stop.is_set():
            for w in workers:
                if w.finished or w.proc is None or w.proc.poll() is None:
                    continue
                code = w.proc.returncode
                if code in (0, 130):  # drained, or asked to stop by someone
                    w.finished = True
                    continue
                queue.reap_vanished()
                w.fast_deaths = w.fast_deaths + 1 if time.monotonic() - w.started < _FAST_DEATH else 0
                if w.fast_deaths >= _MAX_FAST_DEATHS:
                    print(f"worker {w.index} ({w.slot.device}) died {w.fast_deaths} times right after starting "
                          f"(last exit code {code}); not restarting it", file=sys.stderr)
                    w.finished = True
                else:
                    start(w)
            if all(w.finished for w in workers):
                break
            if time.monotonic() - last_reap > max(opts.heartbeat, 2.0):
                queue.reap_vanished()
                last_reap = time.monotonic()
            on_tick()
            stop.wait(opts.poll)

        interrupted = stop.is_set()
        alive = [w.proc for w in workers if w.proc is not None and w.proc.poll() is None]
        for proc in alive:
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + opts.kill_grace + 5.0
        for proc in alive:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    queue.reap_vanished()
    on_tick()
    return interrupted
