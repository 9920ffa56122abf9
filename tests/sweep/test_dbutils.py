import os
import subprocess
import sys

import pytest

from ovis.cli import main
from ovis.sweep.spec import JobSpec
from ovis.sweep.worker import Worker


@pytest.fixture
def finished(project):
    """Experiment 'chk': 2 successes, 2 failures (exit 3) and a vanished job."""
    specs = [JobSpec("job.py", (a, b, "--sleep", s)) for a, b in (("--x", "ok"), ("--fail", "3")) for s in ("0", "0.0")]
    queue = project.make_queue("chk", specs + [JobSpec("job.py", ("--x", "v"))])
    Worker(queue, heartbeat=5, max_jobs=4, session="s").run()
    job = queue.claim("cpu")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with queue.transaction() as (jobs, _):
        jobs.update({"pid": dead.pid}, doc_ids=[int(job["id"])])
    return "chk"


def dbutils(project, capsys, *args):
    code = main(["dbutils", "--root", project.root, *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_check_prints_states_and_failures(project, finished, capsys):
    code, out, err = dbutils(project, capsys, "--exp", finished, "--check")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"experiment chk ({os.path.join(project.root, 'chk', 'queue.json')})"
    table = {ln.split()[0]: ln.split()[1:] for ln in lines[2:8]}
    assert table["queued"] == ["0"] and table["success"] == ["2"] and table["failed"] == ["2"]
    assert table["running"] == ["1", "(1", "vanished)"] and table["total"] == ["5"]
    assert "failed / aborted / vanished jobs:" in out
    rows = [ln.split() for ln in lines if ln.startswith("  0000")]
    assert [(r[0], r[1]) for r in rows] == [("00003", "failed"), ("00004", "failed"), ("00005", "vanished")]
    assert rows[0][2] == "3" and " ".join(rows[0]).endswith("ValueError: boom")
    assert "--fail 3 --sleep 0" in out and "worker pid" in out and "is gone" in out


def test_check_of_a_clean_queue_has_no_failure_table(project, capsys):
    project.make_queue("clean", [JobSpec("job.py", ())])
    code, out, _ = dbutils(project, capsys, "--exp", "clean", "--check")
    assert code == 0 and "queued         1" in out and "failed / aborted" not in out


def test_show_prints_record_command_and_log(project, finished, capsys):
    code, out, _ = dbutils(project, capsys, "--exp", finished, "--show", "3")
    assert code == 0
    assert '"id": "00003"' in out and '"state": "failed"' in out
    assert "command: python " + os.path.join(project.path, "job.py") + " --fail 3" in out
    assert "--id 00003" in out and "ValueError: boom" in out
    code, _, err = dbutils(project, capsys, "--exp", finished, "--show", "99")
    assert code == 1 and "no job '99'" in err and "00001..00005" in err


@pytest.mark.parametrize("level,requeued", [(0, 0), (1, 1), (2, 3), (100, 3)])
def test_requeue_levels(project, finished, capsys, level, requeued):
    code, out, _ = dbutils(project, capsys, "--exp", finished, "--requeue", "--requeue_level", str(level))
    assert code == 0 and f"requeued {requeued} job(s)" in out
    states = [j["state"] for j in project.queue(finished).jobs()]
    assert states.count("queued") == requeued and states.count("success") == 2


def test_purge_lock_and_usage_errors(project, finished, capsys):
    lock = os.path.join(project.root, finished, "queue.json.lock")
    assert os.path.exists(lock)
    code, out, _ = dbutils(project, capsys, "--exp", finished, "--purge_lock")
    assert code == 0 and "removed lock" in out and not os.path.exists(lock)
    assert "no lock file" in dbutils(project, capsys, "--exp", finished, "--purge_lock")[1]
    code, _, err = dbutils(project, capsys, "--exp", finished)
    assert code == 2 and "nothing to do" in err
    code, _, err = dbutils(project, capsys, "--exp", "nope", "--check")
    assert code == 2 and "no queue at" in err


def test_the_entry_script_runs(project):
    out = project.run("dbutils", "--exp", "nope", "--root", project.root, "--check")
    assert out.returncode == 2 and "no queue at" in out.stderr
    out = project.run("dbutils", "--help")
    assert out.returncode == 0 and out.stdout.startswith("usage: dbutils.py") and "--requeue_level" in out.stdout
