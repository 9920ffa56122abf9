import os
import signal
import sys
import threading
import time

from ovis.sweep.backends import RunOptions
from ovis.sweep.backends import local
from ovis.sweep.devices import Slot
from ovis.sweep.spec import JobSpec


def test_a_killed_worker_is_replaced_and_its_job_reaped(project):
    queue = project.make_queue("respawn", [JobSpec("job.py", ("--sleep", "0.3", "--x", str(i))) for i in range(6)])
    opts = RunOptions(session="s", heartbeat=0.5, kill_grace=2, poll=0.1)

    def kill_first_worker():
        while not queue.jobs()[0].get("state") == "running":
            time.sleep(0.02)
        os.kill(queue.jobs()[0]["pid"], signal.SIGKILL)
    killer = threading.Thread(target=kill_first_worker)
    killer.start()
    assert local.run_local(queue, [Slot("cpu", {})], opts) is False
    killer.join()
    jobs = queue.jobs()
    assert jobs[0]["state"] == "aborted" and "is gone" in jobs[0]["error"]
    assert [j["state"] for j in jobs[1:]] == ["success"] * 5
    assert jobs[0]["pid"] != jobs[1]["pid"]  # a new worker took over


def test_a_worker_that_keeps_dying_at_start_is_given_up(project, monkeypatch, capsys):
    queue = project.make_queue("crash", [JobSpec("job.py", ())])
    monkeypatch.setattr(local, "_worker_argv", lambda *a: [sys.executable, "-c", "import sys; sys.exit(5)"])
    opts = RunOptions(session="s", heartbeat=0.5, poll=0.05)
    assert local.run_local(queue, [Slot("cpu", {})], opts) is False
    assert "died 3 times right after starting (last exit code 5)" in capsys.readouterr().err
    assert queue.jobs()[0]["state"] == "queued"


def test_stop_event_stops_workers_and_marks_jobs_aborted(project):
    queue = project.make_queue("stop", [JobSpec("job.py", ("--sleep", "60"))])
    stop = threading.Event()
    threading.Timer(1.5, stop.set).start()
    opts = RunOptions(session="s", heartbeat=0.5, kill_grace=2, poll=0.1)
    assert local.run_local(queue, [Slot("cpu", {}), Slot("cpu", {})], opts, stop=stop) is True
    job = queue.jobs()[0]
    assert job["state"] == "aborted" and "stopped by a signal" in job["error"]
