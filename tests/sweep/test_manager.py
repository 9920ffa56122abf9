import json
import os
import random
import signal
import threading
import time

from .conftest import assert_ran_once

FAST = ("--max_gpus", "0", "--heartbeat", "0.5", "--kill_grace", "2")


def test_runs_a_sweep_and_reports_failures(project):
    exp = project.spec("ok", args=["--sleep 0", "--fail 3"], parameters={"x": ["a", "b"]})
    out = project.run("manager", "--exp", exp, "--processes", "2", *FAST)
    assert out.returncode == 1, out.stderr
    assert "ok: 4 jobs (4 new)" in out.stdout
    assert "ok: 4 jobs | 2 success | 2 failed | 0 aborted | 0 running | 0 queued" in out.stdout
    assert "dbutils.py --exp ok" in out.stdout
    assert out.stderr == ""  # no progress bar when not on a terminal
    jobs = project.queue(exp).jobs()
    assert [j["state"] for j in jobs] == ["success", "success", "failed", "failed"]
    assert all(j["device"] == "cpu" for j in jobs)
    exp_dir = os.path.join(project.root, exp)
    assert {"queue.json", "queue.json.lock", "sweep.json", "snapshot", "00001"} <= set(os.listdir(exp_dir))
    meta = project.queue(exp).meta()
    assert meta["data_root"] == os.path.join(project.path, "data") and meta["root"] == project.root


def test_existing_experiment_needs_resume_or_rf(project):
    exp = project.spec("again", args=["--x 1"])
    assert project.run("manager", "--exp", exp, *FAST).returncode == 0
    out = project.run("manager", "--exp", exp, *FAST)
    assert out.returncode == 2
    assert "already exists" in out.stderr and "--resume" in out.stderr and "--rf" in out.stderr
    out = project.run("manager", "--exp", exp, "--resume", *FAST)
    assert out.returncode == 0 and "again: 1 jobs (0 new)" in out.stdout
    marker = os.path.join(project.root, exp, "00001", "marker.txt")
    assert os.path.exists(marker)
    assert project.run("manager", "--exp", exp, "--rf", *FAST).returncode == 0
    assert len(project.marker(exp, "00001")) == 2  # a fresh run: the old outputs were deleted


def test_rf_is_refused_while_jobs_run(project):
    exp = project.spec("busy", args=["--sleep 60"])
    manager = project.popen("manager", "--exp", exp, *FAST)
    queue = project.queue(exp)
    deadline = time.time() + 30
    while not (queue.exists() and queue.jobs() and queue.jobs()[0]["state"] == "running"):
        assert time.time() < deadline
        time.sleep(0.05)
    out = project.run("manager", "--exp", exp, "--rf", *FAST)
    assert out.returncode == 2 and "--rf refused: 1 job(s)" in out.stderr
    manager.send_signal(signal.SIGINT)
    assert manager.wait(timeout=30) == 130
    assert queue.jobs()[0]["state"] == "aborted"


def test_resume_appends_new_jobs_with_update_exp_and_requeues(project):
    exp = project.spec("grow", args=["--fail 1", "--x 1"])
    assert project.run("manager", "--exp", exp, *FAST).returncode == 1
    project.spec("grow", args=["--fail 1", "--x 1", "--x 2"])
    out = project.run("manager", "--exp", exp, "--resume", "--requeue_level", "0", *FAST)
    assert "differs from the copy" in out.stderr and "--update_exp" in out.stderr
    assert len(project.queue(exp).jobs()) == 2
    out = project.run("manager", "--exp", exp, "--resume", "--update_exp", "--requeue_level", "2", *FAST)
    assert "grow: 3 jobs (1 new, 1 requeued)" in out.stdout
    jobs = project.queue(exp).jobs()
    assert [j["state"] for j in jobs] == ["failed", "success", "success"] and jobs[0]["attempts"] == 2


def test_jobs_run_the_code_snapshot(project):
    exp = project.spec("snap", args=["--x 1"], parameters={"sleep": [0, 0.01]})
    assert project.run("manager", "--exp", exp, "--max_jobs", "1", *FAST).returncode == 0
    assert [j["state"] for j in project.queue(exp).jobs()] == ["success", "queued"]
    snapshot = os.path.join(project.root, exp, "snapshot")
    assert os.path.isfile(os.path.join(snapshot, "job.py"))
    assert os.path.isfile(os.path.join(snapshot, "ovis", "sweep", "queue.py"))
    assert not any("__pycache__" in d for d, _, _ in os.walk(os.path.join(snapshot, "ovis")))
    with open(os.path.join(project.path, "job.py"), "a") as f:
        f.write("print('edited after the snapshot')\n")
    assert project.run("manager", "--exp", exp, "--resume", *FAST).returncode == 0
    log = open(os.path.join(project.root, exp, "00002", "job.log")).read()
    assert "edited" not in log and os.path.join(snapshot, "job.py") in log
    with project.queue(exp).transaction() as (jobs, _):
        jobs.update({"state": "queued"})
    assert project.run("manager", "--exp", exp, "--resume", "--update_lib", *FAST).returncode == 0
    assert "edited after the snapshot" in open(os.path.join(project.root, exp, "00002", "job.log")).read()


def test_corrupt_queue_stops_the_manager_and_stays_untouched(project):
    exp = project.spec("corrupt", args=["--x 1"])
    assert project.run("manager", "--exp", exp, *FAST).returncode == 0
    path = os.path.join(project.root, exp, "queue.json")
    content = open(path, "rb").read()[:-7]
    open(path, "wb").write(content)
    for flags in (["--resume"], ["--resume", "--requeue_level", "100", "--update_exp", "--update_lib"]):
        out = project.run("manager", "--exp", exp, *flags, *FAST)
        assert out.returncode == 2 and "not valid JSON" in out.stderr and path in out.stderr
        assert open(path, "rb").read() == content
    out = project.run("dbutils", "--exp", exp, "--check")
    assert out.returncode == 2 and "not valid JSON" in out.stderr
    assert project.run("manager", "--exp", exp, "--rf", *FAST).returncode == 0  # the way out


def test_held_lock_needs_purge_lock(project):
    import subprocess
    import sys
    exp = project.spec("locked", args=["--x 1"])
    assert project.run("manager", "--exp", exp, "--max_jobs", "0", *FAST).returncode == 0
    lock = os.path.join(project.root, exp, "queue.json.lock")
    holder = subprocess.Popen([sys.executable, "-c", "import filelock, sys, time; l = filelock.FileLock(sys.argv[1]);"
                               " l.acquire(); print('held', flush=True); time.sleep(60)", lock],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        out = project.run("manager", "--exp", exp, "--resume", "--lock_timeout", "0.5", *FAST)
        assert out.returncode == 2 and "could not lock" in out.stderr and "--purge_lock" in out.stderr
        assert os.path.exists(lock)
        out = project.run("manager", "--exp", exp, "--resume", "--lock_timeout", "0.5", "--purge_lock", *FAST)
        assert out.returncode == 0 and "removed lock" in out.stdout
        assert project.queue(exp).jobs()[0]["state"] == "success"
    finally:
        holder.kill()
        holder.wait()


def test_faults_sigkill_workers_and_manager_ten_times(project):
    n = 100
    exp = project.spec("faults", args=["--rand_sleep 0.05 0.3"], parameters={"x": list(range(n))})
    queue = project.queue(exp)
    flags = ("--exp", exp, "--processes", "2", *FAST)
    path = queue.path
    polls, bad, success_claim = [0], [], {}
    done = threading.Event()

    def poll():  # the file must parse at every moment; remember the claim that first reached success
        while not done.is_set():
            try:
                raw = open(path, "rb").read()
            except FileNotFoundError:
                continue
            try:
                data = json.loads(raw)
            except ValueError as err:
                bad.append((len(raw), str(err)))
                continue
            polls[0] += 1
            for job in data.get("jobs", {}).values():
                if job["state"] == "success":
                    success_claim.setdefault(job["id"], job["claim"])
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    rng = random.Random(5)
    manager = project.popen("manager", *flags)
    kills, starts = [], 1
    while len(kills) < 10:
        time.sleep(rng.uniform(0.3, 0.9))
        if manager.poll() is not None:
            manager = project.popen("manager", *flags, "--resume")
            starts += 1
            continue
        # kill only while jobs run: on a loaded machine a manager may need longer than the pause to
        # start its workers, and kills that all land before any job started hit no job at all
        deadline, workers = time.time() + 60, []
        while not workers and time.time() < deadline and manager.poll() is None:
            workers = [j["pid"] for j in queue.jobs() if j["state"] == "running"] if queue.exists() else []
            if not workers:
                time.sleep(0.05)
        if manager.poll() is not None:
            continue
        if rng.random() < 0.4 or not workers:
            manager.kill()
            manager.wait()
            kills.append("manager")
            manager = project.popen("manager", *flags, "--resume")
            starts += 1
        else:
            try:
                os.kill(rng.choice(workers), signal.SIGKILL)
                kills.append("worker")
            except ProcessLookupError:
                pass
    for _ in range(10):  # let it finish; restart while jobs are left
        manager.wait(timeout=120)
        if all(j["state"] == "success" for j in queue.jobs()):
            break
        manager = project.popen("manager", *flags, "--resume")
        starts += 1
    done.set()
    poller.join()
    jobs = queue.jobs()
    assert len(jobs) == n and [j["state"] for j in jobs] == ["success"] * n
    assert bad == [] and polls[0] > 50
    for job in jobs:
        assert_ran_once(project, exp, job)  # the recorded success was the job's last run
        assert success_claim[job["id"]] == job["claim"]  # and never ran again once successful
    assert sum(j["attempts"] > 1 for j in jobs) >= 1  # the kills did hit jobs
    assert project.processes() == []  # no orphan worker or job survived its parent
    print(f"kills: {kills}; manager starts: {starts}; polls: {polls[0]}; "
          f"rerun jobs: {sum(j['attempts'] > 1 for j in jobs)}")


def test_resume_removes_stale_queue_temporaries_and_logs_progress_lines(project):
    exp = project.spec("tmpfiles", args=["--sleep 1.5"], parameters={"x": ["a", "b"]})
    assert project.run("manager", "--exp", exp, *FAST).returncode == 0
    stale = os.path.join(project.root, exp, ".queue.json.dead1234.tmp")
    with open(stale, "w") as f:
        f.write('{"jobs": {"1": ')
    project.spec("tmpfiles", args=["--sleep 1.5", "--sleep 1.6"], parameters={"x": ["a", "b"]})
    out = project.run("manager", "--exp", exp, "--resume", "--update_exp", "--log_every", "0.5", *FAST)
    assert out.returncode == 0, out.stderr
    assert not os.path.exists(stale)
    assert "removed 1 temporary queue file(s) left by killed writers" in out.stderr
    lines = [line for line in out.stdout.splitlines() if line.endswith("elapsed")]
    assert lines and lines[0].startswith("tmpfiles: 4 jobs | ")  # a progress line without a terminal
