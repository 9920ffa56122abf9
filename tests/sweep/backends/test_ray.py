import os
import sys

import pytest

from ovis.cli import main
from ovis.sweep.backends.ray import import_ray


def end_state(queue):
    return {tuple(j["args"]): (j["state"], j["exit_code"]) for j in queue.jobs()}


def test_ray_backend_drains_a_sweep_like_the_local_backend(project, monkeypatch, capsys):
    ray = pytest.importorskip("ray")
    spec = dict(args=["--sleep 0", "--fail 3"], parameters={"x": list(range(10))})
    local, remote = project.spec("local", **spec), project.spec("remote", **spec)
    out = project.run("manager", "--exp", local, "--processes", "2", "--max_gpus", "0")
    assert out.returncode == 1, out.stderr
    monkeypatch.chdir(project.path)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        code = main(["manager", "--exp", remote, "--root", project.root, "--backend", "ray", "--heartbeat", "0.5"])
    finally:
        ray.shutdown()
    assert code == 1, capsys.readouterr().err
    assert "remote: 20 jobs | 10 success | 10 failed" in capsys.readouterr().out
    assert end_state(project.queue(remote)) == end_state(project.queue(local))
    for job in project.queue(remote).jobs():
        assert job["device"] == "ray:cpu" and job["worker"].startswith("ray-head@") and job["node"]
        assert job["pid"] == os.getpid() and job["attempts"] == 1  # the head vouches for its jobs
        if job["state"] == "success":
            assert project.marker(remote, job["id"]) == [f"start {job['claim']}", f"end {job['claim']}"]
        else:
            assert job["error"].endswith("ValueError: boom " + job["args"][-1])
        assert os.path.isfile(os.path.join(project.root, remote, job["id"], "job.log"))


def test_missing_ray_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r"pip install ovis\[ray\]"):
        import_ray()
