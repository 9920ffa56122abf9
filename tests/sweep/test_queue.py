import os
import subprocess
import sys
import threading
import time

import pytest

from ovis.sweep.procs import HOST, process_start_time
from ovis.sweep.queue import REQUEUE_LEVELS, JobQueue, QueueLockedError, count_states, vanished_reason
from ovis.sweep.spec import JobSpec


def specs(n, script="job.py"):
    return [JobSpec(script, ("--x", str(i))) for i in range(n)]


@pytest.fixture
def queue(tmp_path):
    q = JobQueue(str(tmp_path / "exp"), lock_timeout=5, stale_after=60)
    q.add_jobs(specs(6))
    return q


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def set_state(queue, job_id, **fields):
    with queue.transaction() as (jobs, _):
        jobs.update(fields, doc_ids=[int(job_id)])


def test_add_jobs_appends_only_new_ones(queue):
    assert [j["id"] for j in queue.jobs()] == ["00001", "00002", "00003", "00004", "00005", "00006"]
    assert queue.add_jobs(specs(8)) == ["00007", "00008"]
    assert queue.add_jobs(specs(8)) == []
    assert all(j["state"] == "queued" and j["attempts"] == 0 for j in queue.jobs())
    assert queue.get("7")["args"] == ["--x", "6"] and queue.get("00007") == queue.get("7")
    assert queue.get("nope") is None


def test_claims_are_in_order_and_record_the_worker(queue):
    job = queue.claim("cuda:1", worker="w")
    stored = queue.get(job["id"])
    assert job["id"] == "00001" and stored == job
    assert stored["state"] == "running" and stored["device"] == "cuda:1" and stored["worker"] == "w"
    assert stored["host"] == HOST and stored["pid"] == os.getpid()
    assert stored["pid_start"] == process_start_time(os.getpid())
    assert stored["attempts"] == 1 and stored["heartbeat"] >= stored["started_at"]
    assert [queue.claim("cpu")["id"] for _ in range(5)] == ["00002", "00003", "00004", "00005", "00006"]
    assert queue.claim("cpu") is None


def test_max_jobs_per_session(queue):
    got = [queue.claim("cpu", session="s1", max_jobs=2) for _ in range(3)]
    assert [g is not None for g in got] == [True, True, False]
    assert queue.claim("cpu", session="s2", max_jobs=1) is not None


def test_threads_never_claim_the_same_job(tmp_path):
    q = JobQueue(str(tmp_path / "exp"), lock_timeout=30)
    q.add_jobs(specs(60))
    claimed = []

    def drain():
        while True:
            job = q.claim("cpu")
            if job is None:
                return
            claimed.append(job["id"])
    threads = [threading.Thread(target=drain) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(claimed) == [j["id"] for j in q.jobs()]


def test_finish_and_heartbeat_need_the_claim(queue):
    job = queue.claim("cpu")
    assert not queue.finish(job["id"], "someone-else", "success", 0, 1.0)
    assert not queue.heartbeat(job["id"], "someone-else")
    assert queue.get(job["id"])["state"] == "running"
    assert queue.heartbeat(job["id"], job["claim"], job_pid=123)
    assert queue.get(job["id"])["job_pid"] == 123
    assert queue.finish(job["id"], job["claim"], "failed", 2, 1.5, "boom")
    stored = queue.get(job["id"])
    assert (stored["state"], stored["exit_code"], stored["duration"], stored["error"]) == ("failed", 2, 1.5, "boom")
    assert not queue.finish(job["id"], job["claim"], "success", 0, 1.0)  # already finished
    with pytest.raises(ValueError, match="success, failed or aborted"):
        queue.finish(job["id"], job["claim"], "done", 0, 1.0)


def test_vanished_detection(queue):
    now = time.time()
    mine = {"state": "running", "host": HOST, "pid": os.getpid(), "pid_start": process_start_time(os.getpid()),
            "heartbeat": now}
    assert vanished_reason(mine, 60, now) is None
    assert "is gone" in vanished_reason({**mine, "pid": dead_pid()}, 60, now)
    assert "is gone" in vanished_reason({**mine, "pid_start": "1"}, 60, now)  # pid recycled
    assert "no heartbeat for 61 s" in vanished_reason({**mine, "heartbeat": now - 61}, 60, now)
    other_host = {**mine, "host": "elsewhere", "pid": dead_pid()}
    assert vanished_reason(other_host, 60, now) is None
    assert "no heartbeat" in vanished_reason({**other_host, "heartbeat": now - 100}, 60, now)
    assert vanished_reason({**mine, "state": "queued", "pid": dead_pid()}, 60, now) is None


def test_reap_marks_vanished_jobs_aborted_and_a_live_worker_can_take_its_job_back(queue):
    a, b = queue.claim("cpu"), queue.claim("cpu")
    set_state(queue, a["id"], pid=dead_pid())
    set_state(queue, b["id"], heartbeat=time.time() - 1000)
    assert queue.reap_vanished() == [a["id"], b["id"]]
    assert queue.get(a["id"])["state"] == "aborted" and "vanished" in queue.get(a["id"])["error"]
    assert queue.reap_vanished() == []
    assert queue.heartbeat(b["id"], b["claim"])  # b's worker was only slow: the job is running again
    assert queue.get(b["id"])["state"] == "running" and queue.get(b["id"])["error"] is None


def test_requeued_job_cannot_be_finished_by_its_old_worker(queue):
    job = queue.claim("cpu")
    set_state(queue, job["id"], pid=dead_pid())
    assert queue.requeue(1) == [job["id"]]
    assert not queue.heartbeat(job["id"], job["claim"])
    assert not queue.finish(job["id"], job["claim"], "success", 0, 1.0)
    again = queue.claim("cpu")
    assert again["id"] == job["id"] and again["attempts"] == 2 and again["claim"] != job["claim"]
    history = queue.get(job["id"])["history"]
    assert len(history) == 1 and history[0]["state"] == "aborted" and history[0]["claim"] == job["claim"]


@pytest.mark.parametrize("level,expected", [
    (0, set()),
    (1, {"aborted", "vanished"}),
    (2, {"aborted", "vanished", "failed"}),
    (100, {"aborted", "vanished", "failed", "running"}),
])
def test_requeue_levels(queue, level, expected):
    # one job per situation: queued, running (alive), vanished, success, failed, aborted
    situations = ["running", "vanished", "success", "failed", "aborted", "queued"]
    for job_id, what in zip(["00001", "00002", "00003", "00004", "00005", "00006"], situations):
        if what == "queued":
            continue
        job = queue.claim("cpu")
        assert job["id"] == job_id
        if what == "vanished":
            set_state(queue, job_id, pid=dead_pid())
        elif what != "running":
            queue.finish(job_id, job["claim"], what, 0 if what == "success" else 1, 1.0, None)
    requeued = set(queue.requeue(level))
    assert requeued == {f"0000{i + 1}" for i, s in enumerate(situations) if s in expected}
    for i, what in enumerate(situations):
        state = queue.get(f"0000{i + 1}")["state"]
        if what in expected or what == "queued":
            assert state == "queued"
        elif what == "vanished":  # reaped by any level above 0; level 0 touches nothing
            assert state == ("running" if level == 0 else "aborted")
        else:
            assert state == what


def test_unknown_requeue_level(queue):
    with pytest.raises(ValueError, match=r"one of \[0, 1, 2, 100\].*got 3"):
        queue.requeue(3)
    assert sorted(REQUEUE_LEVELS) == [0, 1, 2, 100]


def test_count_states(queue):
    queue.claim("cpu")
    assert count_states(queue.jobs()) == {"queued": 5, "running": 1, "success": 0, "failed": 0, "aborted": 0}


def test_a_held_lock_times_out_clearly_and_is_purged_only_on_request(tmp_path):
    q = JobQueue(str(tmp_path / "exp"), lock_timeout=0.3)
    q.add_jobs(specs(2))
    before = open(q.path, "rb").read()
    assert os.path.exists(q.lock_path)  # the lock file stays after use
    holder = subprocess.Popen([sys.executable, "-c",
                               "import filelock, sys, time; l = filelock.FileLock(sys.argv[1]); l.acquire(); "
                               "print('held', flush=True); time.sleep(60)", q.lock_path],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(QueueLockedError) as err:
            q.claim("cpu")
        assert q.lock_path in str(err.value) and "--purge_lock" in str(err.value)
        with pytest.raises(QueueLockedError):
            q.claim("cpu")
        assert os.path.exists(q.lock_path) and open(q.path, "rb").read() == before
        assert len(q.jobs()) == 2  # reading needs no lock
        assert q.purge_lock() and not q.purge_lock()
        assert q.claim("cpu")["id"] == "00001"
    finally:
        holder.kill()
        holder.wait()


def test_a_deliberately_aborted_job_stays_aborted(queue):
    job = queue.claim("cpu")
    assert queue.finish(job["id"], job["claim"], "aborted", None, 1.0, "stopped by a signal")
    assert not queue.heartbeat(job["id"], job["claim"])  # a late heartbeat does not revive it
    assert not queue.finish(job["id"], job["claim"], "success", 0, 1.0)
    assert queue.get(job["id"])["state"] == "aborted"


def test_stale_temporary_files_of_killed_writers_are_removed(tmp_path):
    from ovis.sweep.queue import JobQueue

    queue = JobQueue(str(tmp_path / "exp"))
    queue.add_jobs([JobSpec("job.py", ())])
    stale = [tmp_path / "exp" / ".queue.json.abc123.tmp", tmp_path / "exp" / ".queue.json.x.tmp"]
    for path in stale:
        path.write_text('{"jobs": {')  # half-written
    other = tmp_path / "exp" / ".status.json.q.tmp"
    other.write_text("")
    assert queue.remove_stale_temporaries() == sorted(p.name for p in stale)
    assert not any(p.exists() for p in stale) and other.exists() and len(queue.jobs()) == 1
    assert queue.remove_stale_temporaries() == []
