import os
import sys
import time

import pytest

from ovis.sweep.runner import job_command, job_env, log_path, read_tail, run_job

META = {"exp": "mini", "root": "/r", "data_root": "/d", "project_dir": "/p", "snapshot": "/r/mini/snapshot"}


@pytest.mark.parametrize("job,meta,expected", [
    ({"id": "00007", "script": "run.py", "args": ["--iw", "5"]}, META,
     ["PY", "/r/mini/snapshot/run.py", "--iw", "5", "--exp", "mini", "--root", "/r", "--data_root", "/d",
      "--id", "00007"]),
    ({"id": "00007", "script": "run.py", "args": ["--iw", "5"], "pass_run_flags": False}, META,
     ["PY", "/r/mini/snapshot/run.py", "--iw", "5"]),
    ({"id": "1", "script": "/abs/x.py", "args": [], "pass_run_flags": False}, META, ["PY", "/abs/x.py"]),
    ({"id": "1", "script": "x.py", "args": ["a b"], "pass_run_flags": False}, {**META, "snapshot": None},
     ["PY", "/p/x.py", "a b"]),
])
def test_job_command(job, meta, expected):
    assert job_command(job, meta, python="PY") == expected


def test_job_env_puts_the_snapshot_first():
    env = job_env({"id": "00003"}, META, "tok", base={"PYTHONPATH": "/mine", "HOME": "/h"})
    assert env["PYTHONPATH"] == os.pathsep.join(["/r/mini/snapshot", "/mine"]) and env["HOME"] == "/h"
    assert (env["OVIS_JOB_ID"], env["OVIS_JOB_CLAIM"], env["OVIS_EXP"]) == ("00003", "tok", "mini")
    assert job_env({"id": "1"}, META, "t", base={})["PYTHONPATH"] == "/r/mini/snapshot"
    assert log_path(META, "00003") == "/r/mini/00003/job.log"


def test_read_tail(tmp_path):
    path = tmp_path / "log"
    path.write_text("old\n" + "".join(f"line {i}\n" for i in range(100)))
    assert read_tail(str(path), lines=3) == "line 97\nline 98\nline 99"
    assert read_tail(str(path), offset=len("old\nline 0\n"), lines=1000).startswith("line 1\n")
    assert read_tail(str(path), chars=10) == "98\nline 99"
    assert read_tail(str(tmp_path / "missing")) == ""


def test_run_job_appends_output_and_returns_exit_code(tmp_path):
    log = str(tmp_path / "j" / "job.log")
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(4)"
    for _ in range(2):
        result = run_job([sys.executable, "-c", code], log, dict(os.environ))
        assert (result.exit_code, result.stopped) == (4, False) and result.tail == "out\nerr"
    text = open(log).read()
    assert text.count("=== ") == 2 and text.count("out\nerr\n") == 2


def test_should_stop_terminates_the_job_and_its_children(tmp_path):
    log = str(tmp_path / "job.log")
    code = ("import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
            "time.sleep(60)']); print(p.pid, flush=True); time.sleep(60)")
    t0 = time.time()
    result = run_job([sys.executable, "-c", code], log, dict(os.environ),
                     should_stop=lambda: time.time() - t0 > 1.0, kill_grace=2)
    assert result.stopped and result.exit_code == -15 and time.time() - t0 < 10
    grandchild = int(result.tail.split()[-1])
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{grandchild}") or open(f"/proc/{grandchild}/stat").read().split()[2] == "Z"


def test_stop_before_start_runs_nothing(tmp_path):
    result = run_job([sys.executable, "-c", "raise SystemExit(1)"], str(tmp_path / "l"), {},
                     should_stop=lambda: True)
    assert result.stopped and result.exit_code is None and result.pid is None
