"""``manager``: build an experiment's job queue from its sweep file and run it.

    python manager.py --exp mini --processes 2          # experiments/mini.json -> runs/mini/
    python manager.py --exp mini --resume               # continue: new jobs + requeue aborted ones
    python manager.py --exp mini --backend ray --address auto

On start the manager snapshots the sweep file (``<root>/<exp>/sweep.json``)
and the code (``<root>/<exp>/snapshot/``) unless they exist, appends the jobs
of the sweep that are not in the queue yet, and runs them with local worker
processes or Ray tasks. Exit code: 0 if no job failed or was aborted, 1
otherwise, 130 if interrupted, 2 on a usage or queue error.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid
from typing import List, Optional

from ..runs import atomic_copy
from .backends import RunOptions
from .devices import worker_slots
from .display import Progress, summary_line
from .queue import REQUEUE_LEVELS, JobQueue, QueueLockedError, count_states, vanished_reason
from .snapshot import SNAPSHOT_NAME, snapshot_code
from .spec import SweepSpec, SweepSpecError, expand_jobs, load_spec, resolve_spec_path
from .storage import QueueCorruptError

__all__ = ["add_arguments", "main", "SPEC_NAME"]

SPEC_NAME = "sweep.json"


class ManagerError(RuntimeError):
    """A refusal of the manager (existing experiment, running jobs, ...)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``ovis manager`` / ``python manager.py``."""
    p = parser
    p.add_argument("--exp", required=True,
                   help="sweep name (reads <experiments>/<exp>.json, else the sweep shipped with ovis; "
                        "ovis sweeps lists them) or the path of a sweep .json file")
    p.add_argument("--experiments", default="experiments",
                   help="local folder of sweep files, looked up before the shipped ones (default: experiments)")
    p.add_argument("--root", default="runs", help="folder of all experiments; this one lives in <root>/<exp> "
                                                  "(default: runs)")
    p.add_argument("--data_root", default="data", help="data folder passed to the jobs (default: data)")
    g = p.add_argument_group("starting over or continuing")
    g.add_argument("--rf", action="store_true",
                   help="DELETE <root>/<exp> entirely before starting: the queue, its lock, the code snapshot, "
                        "and the log and run outputs of every job. Refused while jobs of the experiment are "
                        "running. No confirmation is asked")
    g.add_argument("--resume", action="store_true",
                   help="continue an existing experiment: append the jobs of the sweep that are not queued yet "
                        "and requeue per --requeue_level (without --resume or --rf an existing experiment is "
                        "an error)")
    g.add_argument("--requeue_level", type=int, default=1, choices=sorted(REQUEUE_LEVELS),
                   help="with --resume: 0 requeue nothing, 1 aborted and vanished jobs, 2 also failed ones, "
                        "100 everything not successful, even jobs that look alive (default: 1)")
    g.add_argument("--update_exp", action="store_true",
                   help="re-read the sweep file into <root>/<exp>/sweep.json (otherwise the copy taken at the "
                        "first start defines the jobs); new jobs are appended")
    g.add_argument("--update_lib", action="store_true",
                   help="refresh the code snapshot <root>/<exp>/snapshot from the working tree")
    g.add_argument("--purge_lock", action="store_true",
                   help="delete the queue's lock file first (only when no manager/worker/dbutils of this "
                        "experiment is alive, e.g. after a lock timeout)")
    g = p.add_argument_group("workers")
    g.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local worker processes, or Ray tasks (pip install ovis[ray]) (default: local)")
    g.add_argument("--address", default=None,
                   help="Ray cluster address (e.g. auto or ray://host:10001); default: start a local Ray")
    g.add_argument("--processes", type=int, default=1,
                   help="workers per device: per free GPU, or on the CPU when there is none; with Ray, "
                        "jobs per GPU (a CPU job takes one Ray CPU) (default: 1)")
    g.add_argument("--max_gpus", type=int, default=-1, help="use at most this many GPUs; -1 all, 0 CPU only")
    g.add_argument("--max_load", type=float, default=0.5,
                   help="skip GPUs busier than this utilisation fraction (default: 0.5)")
    g.add_argument("--max_memory", type=float, default=0.5,
                   help="skip GPUs with more than this fraction of memory in use (default: 0.5)")
    g.add_argument("--max_jobs", type=int, default=None, help="start at most this many jobs in this session")
    g = p.add_argument_group("robustness")
    g.add_argument("--log_every", type=float, default=60.0,
                   help="when stdout is not a terminal (a log file, a cluster job): print a progress line "
                        "every this many seconds (0: never; default: 60)")
    g.add_argument("--heartbeat", type=float, default=30.0, help="seconds between job heartbeats (default: 30)")
    g.add_argument("--stale_after", type=float, default=300.0,
                   help="seconds without heartbeat after which a running job has vanished (default: 300)")
    g.add_argument("--lock_timeout", type=float, default=120.0,
                   help="seconds to wait for the queue lock before giving up (default: 120)")
    g.add_argument("--kill_grace", type=float, default=10.0,
                   help="seconds between SIGTERM and SIGKILL when stopping a job (default: 10)")


def experiment_name(exp: str) -> str:
    return os.path.splitext(os.path.basename(exp))[0] if exp.endswith(".json") else exp


def _live_jobs(queue: JobQueue) -> List[dict]:
    try:
        jobs = queue.jobs()
    except QueueCorruptError:
        return []  # --rf is the way out of a corrupt file
    return [j for j in jobs if j["state"] == "running" and not vanished_reason(j, queue.stale_after)]


def remove_experiment(queue: JobQueue) -> None:
    """``--rf``: delete the experiment folder, unless some of its jobs are still running."""
    live = _live_jobs(queue)
    if live:
        who = ", ".join(f"{j['id']} ({j.get('host')} pid {j.get('pid')})" for j in live[:5])
        raise ManagerError(f"--rf refused: {len(live)} job(s) of {queue.exp_dir} are running: {who}. "
                           f"Stop their manager first.")
    if os.path.exists(queue.exp_dir):
        shutil.rmtree(queue.exp_dir)


def prepare(args: argparse.Namespace, queue: JobQueue, spec_source: str, exp: str) -> SweepSpec:
    """Everything before the workers start: folder, snapshots, meta, new jobs, requeue."""
    if args.purge_lock and queue.purge_lock():
        print(f"removed lock {queue.lock_path}")
    if args.rf:
        remove_experiment(queue)
    elif queue.exists() and not args.resume:
        counts = count_states(queue.jobs())
        raise ManagerError(f"experiment {exp!r} already exists at {queue.exp_dir} "
                           f"({', '.join(f'{v} {k}' for k, v in counts.items() if v)}); "
                           f"use --resume to continue it or --rf to delete it")
    queue.read()  # a corrupt queue stops us here, before anything is written
    if queue.exists():
        stale = queue.remove_stale_temporaries()
        if stale:
            print(f"removed {len(stale)} temporary queue file(s) left by killed writers", file=sys.stderr)
    os.makedirs(queue.exp_dir, exist_ok=True)
    spec_copy = os.path.join(queue.exp_dir, SPEC_NAME)
    if args.update_exp or not os.path.exists(spec_copy):
        spec = load_spec(spec_source)
        atomic_copy(spec_source, spec_copy)
    else:
        spec = load_spec(spec_copy)
        if os.path.exists(spec_source):
            with open(spec_source, "rb") as a, open(spec_copy, "rb") as b:
                if a.read() != b.read():
                    print(f"note: {spec_source} differs from the copy the experiment was started with; "
                          f"pass --update_exp to use it", file=sys.stderr)
    snapshot = os.path.join(queue.exp_dir, SNAPSHOT_NAME)
    if args.update_lib or not os.path.isdir(snapshot):
        snapshot_code(snapshot, project_dir=os.getcwd(), scripts=[spec.script])
    queue.set_meta(exp=exp, root=os.path.abspath(args.root), data_root=os.path.abspath(args.data_root),
                   project_dir=os.getcwd(), snapshot=snapshot, spec_source=os.path.abspath(spec_source),
                   description=spec.description, stale_after=args.stale_after, updated=time.time())
    new = queue.add_jobs(expand_jobs(spec), pass_run_flags=spec.pass_run_flags)
    reaped = queue.reap_vanished()
    requeued = queue.requeue(args.requeue_level) if args.resume else []
    notes = [f"{len(new)} new"] + ([f"{len(reaped)} vanished"] if reaped else []) + \
            ([f"{len(requeued)} requeued"] if requeued else [])
    print(f"{exp}: {len(queue.jobs())} jobs ({', '.join(notes)}) in {queue.exp_dir}")
    return spec


def main(args: argparse.Namespace) -> int:
    exp = experiment_name(args.exp)
    spec_source = resolve_spec_path(args.exp, args.experiments)
    try:  # a missing or invalid sweep file leaves no experiment folder behind
        if args.update_exp or not os.path.exists(os.path.join(args.root, exp, SPEC_NAME)):
            load_spec(spec_source)
    except SweepSpecError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    queue = JobQueue(os.path.join(args.root, exp), lock_timeout=args.lock_timeout, stale_after=args.stale_after)
    try:
        prepare(args, queue, spec_source, exp)
        opts = RunOptions(session=uuid.uuid4().hex, max_jobs=args.max_jobs, heartbeat=args.heartbeat,
                          kill_grace=args.kill_grace, lock_timeout=args.lock_timeout)
        progress = Progress(exp, count_states(queue.jobs()), log_every=args.log_every)
        last = [0.0]

        def tick() -> None:  # reading the queue costs a parse of the file: only for a visible bar, 1/s
            if progress.due() and time.monotonic() - last[0] >= 1.0:
                last[0] = time.monotonic()
                progress.update(count_states(queue.jobs()))

        try:
            if args.backend == "ray":
                from .backends.ray import run_ray
                interrupted = run_ray(queue, opts, address=args.address, processes=args.processes,
                                      max_gpus=args.max_gpus, on_tick=tick)
            else:
                from .backends.local import run_local
                slots = worker_slots(args.processes, args.max_gpus, args.max_load, args.max_memory)
                interrupted = run_local(queue, slots, opts, on_tick=tick)
        finally:
            last[0] = 0.0
            tick()  # the final counts on the bar
            progress.close()
    except (ManagerError, SweepSpecError, QueueCorruptError, QueueLockedError, FileNotFoundError,
            ImportError, ConnectionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    counts = count_states(queue.jobs())
    print(summary_line(exp, counts) + (" (interrupted)" if interrupted else ""))
    if counts["failed"] or counts["aborted"]:
        print(f"see the failures with: python dbutils.py --exp {exp} --root {args.root} --check")
    return 130 if interrupted else (1 if counts["failed"] or counts["aborted"] else 0)


def cli(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="manager.py", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return main(parser.parse_args(argv))
