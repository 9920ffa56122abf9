"""Fixtures for the sweep tests: a throw-away project with a stand-in job script.

The stand-in ``job.py`` accepts the run flags (``--exp --root --data_root
--id``), appends ``start <claim>`` to its marker file ``<root>/<exp>/<id>/marker.txt``,
sleeps, then either fails (``--fail CODE``) or appends ``end <claim>``. The claim
token comes from the environment the worker gives each attempt, so the marker
tells which attempt of a job ran and finished.
"""
import json
import os
import subprocess
import sys

import pytest

from ovis.sweep.queue import JobQueue

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

JOB_SCRIPT = '''\
import argparse, os, random, sys, time
p = argparse.ArgumentParser()
for flag in ("--id", "--root", "--exp", "--data_root", "--x"):
    p.add_argument(flag, default="")
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--rand_sleep", type=float, nargs=2, default=None)
p.add_argument("--fail", type=int, default=0)
a = p.parse_args()
marker = os.path.join(a.root, a.exp, a.id, "marker.txt")
os.makedirs(os.path.dirname(marker), exist_ok=True)
claim = os.environ.get("OVIS_JOB_CLAIM", "-")
with open(marker, "a") as f:
    f.write(f"start {claim}\\n")
time.sleep(random.uniform(*a.rand_sleep) if a.rand_sleep else a.sleep)
print("job", a.id, "x", a.x, flush=True)
if a.fail:
    print("ValueError: boom", a.x, file=sys.stderr)
    sys.exit(a.fail)
with open(marker, "a") as f:
    f.write(f"end {claim}\\n")
'''


class Project:
    """A temporary project folder: ``job.py``, ``experiments/``, ``runs/``."""

    def __init__(self, path):
        self.path = str(path)
        self.root = os.path.join(self.path, "runs")
        os.makedirs(os.path.join(self.path, "experiments"))
        with open(os.path.join(self.path, "job.py"), "w") as f:
            f.write(JOB_SCRIPT)

    def spec(self, name, **spec):
        spec.setdefault("description", f"test sweep {name}")
        spec.setdefault("script", "job.py")
        with open(os.path.join(self.path, "experiments", name + ".json"), "w") as f:
            json.dump(spec, f)
        return name

    def queue(self, exp, **kw):
        return JobQueue(os.path.join(self.root, exp), **kw)

    def make_queue(self, exp, specs, **kw):
        """A queue filled through the API (no manager, no code snapshot)."""
        queue = self.queue(exp, **kw)
        queue.set_meta(exp=exp, root=self.root, data_root=os.path.join(self.path, "data"),
                       project_dir=self.path, snapshot=None, stale_after=60)
        queue.add_jobs(specs)
        return queue

    def command(self, tool, *args):
        return [sys.executable, os.path.join(REPO, tool + ".py"), *map(str, args)]

    def run(self, tool, *args, timeout=120, **kw):
        """Run manager/dbutils to completion; returns the CompletedProcess (text output)."""
        return subprocess.run(self.command(tool, *args), cwd=self.path, capture_output=True, text=True,
                              timeout=timeout, **kw)

    def popen(self, tool, *args, **kw):
        return subprocess.Popen(self.command(tool, *args), cwd=self.path, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, **kw)

    def marker(self, exp, job_id):
        try:
            with open(os.path.join(self.root, exp, job_id, "marker.txt")) as f:
                return f.read().split("\n")[:-1]
        except FileNotFoundError:
            return []

    def processes(self):
        """pids of live processes whose command line mentions this project (no zombies)."""
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().decode(errors="replace")
                with open(f"/proc/{pid}/stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if self.path in cmd and state != "Z" and int(pid) != os.getpid():
                found.append(int(pid))
        return found


@pytest.fixture
def project(tmp_path):
    proj = Project(tmp_path)
    yield proj
    for pid in proj.processes():  # never leave a stand-in job behind
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def assert_ran_once(project, exp, job):
    """The successful attempt of ``job`` was its last run and nothing ran beside it."""
    lines = project.marker(exp, job["id"])
    start = f"start {job['claim']}"
    assert start in lines, (job["id"], lines)
    assert lines[lines.index(start) + 1:] == [f"end {job['claim']}"], (job["id"], lines)
