import os
import signal
import subprocess
import sys
import time

from ovis.sweep.spec import JobSpec
from ovis.sweep.worker import Worker


def start_worker(project, exp, *extra):
    return subprocess.Popen([sys.executable, "-m", "ovis.sweep.worker", "--root", project.root, "--exp", exp,
                             "--heartbeat", "0.5", "--kill_grace", "2", *extra], cwd=project.path,
                            stderr=subprocess.PIPE, text=True)


def test_stress_four_workers_drain_300_jobs_each_exactly_once(project):
    queue = project.make_queue("stress", [JobSpec("job.py", ("--x", str(i))) for i in range(300)])
    workers = [start_worker(project, "stress", "--name", f"w{i}") for i in range(4)]
    for w in workers:
        _, err = w.communicate(timeout=150)
        assert w.returncode == 0, err
    jobs = queue.jobs()
    assert len(jobs) == 300
    assert {j["state"] for j in jobs} == {"success"}
    assert all(j["attempts"] == 1 and j["exit_code"] == 0 for j in jobs)
    for job in jobs:
        assert project.marker("stress", job["id"]) == [f"start {job['claim']}", f"end {job['claim']}"]
    assert len({j["worker"] for j in jobs}) == 4  # all four took part
    log = open(os.path.join(project.root, "stress", "00007", "job.log")).read()
    assert "job 00007 x 6" in log and "--id 00007" in log


def test_failure_records_exit_code_and_log_tail(project):
    queue = project.make_queue("fail", [JobSpec("job.py", ("--fail", "3", "--x", "q"))])
    assert Worker(queue, heartbeat=0.2).run() == 0
    job = queue.jobs()[0]
    assert job["state"] == "failed" and job["exit_code"] == 3
    assert job["error"].splitlines()[-1] == "ValueError: boom q" and "job 00001 x q" in job["error"]
    assert "===" not in job["error"]  # the attempt header is not part of the tail


def test_sigterm_aborts_the_running_job_and_stops_it(project):
    queue = project.make_queue("sig", [JobSpec("job.py", ("--sleep", "60")), JobSpec("job.py", ())])
    worker = start_worker(project, "sig")
    deadline = time.time() + 20
    while not (queue.jobs()[0].get("job_pid") and project.marker("sig", "00001")):
        assert time.time() < deadline
        time.sleep(0.05)
    job_pid = queue.jobs()[0]["job_pid"]
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=20) == 130
    first, second = queue.jobs()
    assert first["state"] == "aborted" and "stopped by a signal" in first["error"]
    assert second["state"] == "queued"  # nothing new is claimed once stopping
    assert not os.path.exists(f"/proc/{job_pid}") or open(f"/proc/{job_pid}/stat").read().split()[2] == "Z"
    assert project.marker("sig", "00001") == [f"start {first['claim']}"]


def test_a_job_requeued_elsewhere_is_stopped_and_its_result_dropped(project):
    queue = project.make_queue("lost", [JobSpec("job.py", ("--sleep", "60"))])
    worker = start_worker(project, "lost")
    deadline = time.time() + 20
    while not queue.jobs()[0].get("job_pid"):
        assert time.time() < deadline
        time.sleep(0.05)
    claim = queue.jobs()[0]["claim"]
    assert queue.requeue(100) == ["00001"]  # a user forces everything back to the queue
    # the worker's heartbeat notices, stops the job, drops its result, then claims the job afresh
    while queue.jobs()[0].get("claim") in (None, claim):
        assert time.time() < deadline
        time.sleep(0.05)
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=20)
    job = queue.jobs()[0]
    assert job["state"] == "aborted" and job["attempts"] == 2 and job["history"][0]["claim"] == claim


def test_a_job_that_cannot_start_fails_with_the_reason(project):
    queue = project.make_queue("nostart", [JobSpec("job.py", ())])
    with queue.transaction() as (_, meta):
        meta.update({"project_dir": os.path.join(project.path, "missing-dir")})  # cwd of the job
    assert Worker(queue, heartbeat=5).run() == 0
    job = queue.jobs()[0]
    assert job["state"] == "failed" and job["error"].startswith("could not start the job:")


def test_a_job_killed_from_outside_is_recorded_as_killed_and_requeued_at_level_1(project):
    """The kernel's OOM killer sends SIGKILL to the job: 'aborted', 'killed by SIGKILL (out of memory?)'."""
    import threading

    queue = project.make_queue("oom", [JobSpec("job.py", ("--sleep", "60"))])
    worker = Worker(queue, heartbeat=0.2)
    thread = threading.Thread(target=worker.run)
    thread.start()
    deadline = time.time() + 60
    while not (queue.jobs()[0].get("job_pid") and project.marker("oom", "00001")):
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(queue.jobs()[0]["job_pid"], signal.SIGKILL)
    thread.join(timeout=60)
    job = queue.jobs()[0]
    assert job["state"] == "aborted" and job["exit_code"] == -9
    assert job["error"].splitlines()[0] == "killed by SIGKILL (out of memory?)"
    assert queue.requeue(1) == ["00001"] and queue.jobs()[0]["state"] == "queued"


def test_outcome_of_each_ending():
    from ovis.sweep.runner import describe_exit, outcome

    assert outcome(0, False, "log") == ("success", None)
    assert outcome(3, False, "ValueError: boom") == ("failed", "ValueError: boom")
    assert outcome(3, False, "") == ("failed", "exit code 3 (empty log)")
    assert outcome(-15, False, "") == ("aborted", "killed by SIGTERM")
    assert outcome(-9, True, "tail") == ("aborted", "stopped by a signal to the worker\ntail")
    assert describe_exit(-9) == "killed by SIGKILL (out of memory?)" and describe_exit(-200) == "killed by signal 200"
