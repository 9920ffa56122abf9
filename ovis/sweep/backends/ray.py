"""Ray backend: the jobs of the queue run as Ray tasks, one CPU (or GPU share) each.

The manager is the head: it alone touches the queue. It claims a job only
when a task slot is free (so ``running`` means running), records the head's
host and pid with it (the process that vouches for it, so a killed head
leaves vanished jobs, exactly as a killed local worker does), heartbeats all
jobs in flight from one thread, and records each outcome. A task only runs
the subprocess (:func:`ovis.sweep.runner.run_job`) and returns its exit code
and log tail.

Requirements on a multi-node cluster: every node has the Python environment
with ``ovis`` installed and sees ``<root>`` at the same path (shared
filesystem), since the jobs run the code snapshot and write their logs and
runs there.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional

from ..procs import HOST, stop_on_signals
from ..queue import JobQueue, QueueLockedError
from ..runner import job_command, job_env, log_path, outcome, run_job
from . import RunOptions

__all__ = ["run_ray", "import_ray", "run_task"]


def import_ray():
    """``import ray``, or an error that says how to install it."""
    try:
        import ray
    except ImportError as err:
        raise ImportError(f"the Ray backend needs ray ({err}); install it with `pip install ovis[ray]` "
                          f"(or `pip install ray`), or use --backend local") from None
    return ray


def run_task(job: Mapping[str, Any], meta: Mapping[str, Any], claim: str, kill_grace: float) -> Dict[str, Any]:
    """Body of a Ray task: run one job on the node that executes it, return the result as a dict."""
    cmd = job_command(job, meta, python=sys.executable)
    env = job_env(job, meta, claim)
    cuda = os.environ.get("CUDA_VISIBLE_DEVICES")
    result = run_job(cmd, log_path(meta, job["id"]), env, cwd=meta.get("project_dir"), kill_grace=kill_grace)
    return {"exit_code": result.exit_code, "duration": result.duration, "tail": result.tail,
            "stopped": result.stopped, "node": result.host, "job_pid": result.pid,
            "node_device": f"cuda:{cuda}" if cuda else "cpu"}


def _record(queue: JobQueue, job: Mapping[str, Any], out: Optional[Dict[str, Any]], error: Optional[str],
            aborted: bool) -> None:
    if out is None:
        state = "aborted" if aborted else "failed"
        queue.finish(job["id"], job["claim"], state, None, time.time() - job["started_at"], error)
        return
    extra = {"node": out["node"], "job_pid": out["job_pid"], "node_device": out["node_device"]}
    state, err = outcome(out["exit_code"], bool(out["stopped"] or aborted), out["tail"],
                         stopped_by="ray (task cancelled)")
    queue.finish(job["id"], job["claim"], state, out["exit_code"], out["duration"], err, **extra)


def run_ray(queue: JobQueue, opts: RunOptions, address: Optional[str] = None, processes: int = 1,
            max_gpus: int = -1, on_tick: Callable[[], None] = lambda: None,
            stop: Optional[threading.Event] = None) -> bool:
    """Drain ``queue`` with Ray tasks; returns ``True`` if interrupted.

    Uses the Ray instance already initialised in this process if any, else
    ``ray.init(address)`` (``None``: start a local instance) and shuts it down after.
    A GPU job gets ``1 / processes`` of a GPU; a CPU job one CPU.
    """
    ray = import_ray()
    stop = stop or threading.Event()
    owns_ray = not ray.is_initialized()
    if owns_ray:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except Exception as err:  # bad address, cluster down, version mismatch...
            raise ConnectionError(f"could not start or reach Ray (--address {address}): {err}") from None
    try:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        if max_gpus >= 0:
            gpus = min(gpus, max_gpus)
        if gpus:
            options, slots, device = {"num_gpus": 1.0 / processes, "num_cpus": 0}, gpus * processes, "ray:gpu"
        else:
            options, slots, device = {"num_cpus": 1}, max(1, int(resources.get("CPU", 1))), "ray:cpu"
        task = ray.remote(run_task).options(max_retries=0, **options)
        inflight: Dict[Any, Dict[str, Any]] = {}
        lock = threading.Lock()
        beat_done = threading.Event()

        def heartbeat() -> None:
            while not beat_done.wait(opts.heartbeat):
                with lock:
                    jobs = list(inflight.values())
                if jobs:
                    try:
                        queue.heartbeat_many([j["id"] for j in jobs], {j["id"]: j["claim"] for j in jobs})
                    except (QueueLockedError, OSError) as err:
                        print(f"[ray head] heartbeat failed: {err}", file=sys.stderr)

        beater = threading.Thread(target=heartbeat, daemon=True, name="ray-heartbeat")
        beater.start()
        with stop_on_signals(stop):
            meta = queue.meta()
            claims_open = True
            while not stop.is_set():
                while claims_open and len(inflight) < slots and not stop.is_set():
                    job = queue.claim(device, worker=f"ray-head@{HOST}", session=opts.session,
                                      max_jobs=opts.max_jobs)
                    if job is None:
                        claims_open = False
                        break
                    ref = task.remote(job, meta, job["claim"], opts.kill_grace)
                    with lock:
                        inflight[ref] = job
                if not inflight:
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=opts.poll)
                for ref in ready:
                    with lock:
                        job = inflight.pop(ref)
                    try:
                        _record(queue, job, ray.get(ref), None, aborted=False)
                    except Exception as err:  # task or worker crashed
                        _record(queue, job, None, f"ray task error: {err}"[-4000:], aborted=False)
                claims_open = claims_open or bool(ready)
                on_tick()
            interrupted = stop.is_set()
            if inflight:
                for ref in inflight:
                    ray.cancel(ref)  # KeyboardInterrupt in the task: run_job stops the subprocess
                ready, pending = ray.wait(list(inflight), num_returns=len(inflight),
                                          timeout=opts.kill_grace + 5.0)
                for ref in pending:
                    ray.cancel(ref, force=True)
                for ref, job in list(inflight.items()):
                    try:
                        out = ray.get(ref, timeout=10.0)
                        _record(queue, job, out, None, aborted=True)
                    except Exception as err:
                        _record(queue, job, None, f"aborted: ray task cancelled ({type(err).__name__})",
                                aborted=True)
                inflight.clear()
        beat_done.set()
        beater.join()
    finally:
        if owns_ray:
            ray.shutdown()
    on_tick()
    return interrupted
