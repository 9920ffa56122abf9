"""ovis.runs.lifecycle: a loop without a trainer (as GMMVI's) gets run directories, resumption,
JSON-lines metrics, TensorBoard events, checkpoints, status and a summary from ovis.runs alone."""
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ovis.runs import (Run, RunConflict, RunDirectory, Terminated, config_differences, failure, summary,
                       terminate_on_sigterm)

ROOT = Path(__file__).resolve().parents[2]

# A fit loop written only against ovis.runs: gradient descent on (x - 3)^2, one checkpoint per step.
FIT = textwrap.dedent('''
    import sys, time
    from ovis.runs import Run, failure, terminate_on_sigterm

    def fit(path, steps, lr=0.25, kill_at=None, sleep=0.0):
        run = Run(path, {"steps": steps, "lr": lr})
        if not run.begin():
            return 0
        step = 0
        with terminate_on_sigterm():
            try:
                state = run.resume()
                x, step = (state["x"], state["step"]) if state else (0.0, 0)
                while step < steps:
                    if step == kill_at:
                        raise RuntimeError("diverged")
                    time.sleep(sleep)
                    x -= lr * 2 * (x - 3.0)
                    step += 1
                    run.log(step, "train", {"loss": {"L_k": -(x - 3.0) ** 2}, "x": x})
                    run.save({"x": x}, step, f"step {step}/{steps}")
                run.succeed(f"finished {steps} steps", step)
                return 0
            except BaseException as err:
                message, code = failure(err, step)
                run.fail(message, step)
                return code
            finally:
                run.close()

    if __name__ == "__main__":
        sys.exit(fit(sys.argv[1], int(sys.argv[2]), sleep=float(sys.argv[3])))
''')


@pytest.fixture
def fit(tmp_path):
    """The loop above, imported from a file (it also runs as a script in the SIGTERM test)."""
    (tmp_path / "fit.py").write_text(FIT)
    spec = importlib.util.spec_from_file_location("fit_loop", tmp_path / "fit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.fit


def _records(path):
    return list(RunDirectory(path, create=False).read_metrics())


def test_a_run_from_start_to_success(tmp_path, fit):
    path = str(tmp_path / "exp" / "fit")
    assert fit(path, 4) == 0
    rd = RunDirectory(path, create=False)
    assert rd.read_status() == {"status": "success", "message": "finished 4 steps", "step": 4}
    assert rd.read_config() == {"lr": 0.25, "steps": 4}
    xs = [r["x"] for r in _records(path)]
    assert xs == pytest.approx([1.5, 2.25, 2.625, 2.8125])  # x <- x - 0.5 (x - 3), from 0
    assert len(rd.event_files()) == 1 and rd.has_checkpoint()
    assert summary(rd).startswith("train L_K: -2.250 nats at step 1 -> -0.035 nats at step 4 (4 evaluations)")
    assert fit(path, 4) == 0 and len(_records(path)) == 4  # finished: nothing is redone


def test_a_failed_run_resumes_from_its_checkpoint_and_ends_as_an_uninterrupted_one(tmp_path, fit):
    fit(str(tmp_path / "whole"), 6)
    path = str(tmp_path / "broken")
    assert fit(path, 6, kill_at=3) == 1
    status = RunDirectory(path, create=False).read_status()
    assert status == {"status": "failed", "message": "RuntimeError at step 3: diverged", "step": 3}
    with open(os.path.join(path, "metrics.jsonl"), "a") as f:  # lines an attempt wrote after its checkpoint
        f.write('{"step": 4, "split": "train", "x": 99}\n{"step": 5, "spl')
    assert fit(path, 6) == 0
    assert _records(path) == _records(str(tmp_path / "whole"))


def test_other_settings_in_the_same_directory_are_a_conflict(tmp_path, fit):
    path = str(tmp_path / "fit")
    fit(path, 2)
    run = Run(path, {"steps": 2, "lr": 0.5})
    with pytest.raises(RunConflict) as info:
        run.begin()
    assert info.value.differences == ["lr: 0.25 -> 0.5"] and info.value.path == path
    assert RunDirectory(path, create=False).read_config()["lr"] == 0.25  # untouched
    lenient = Run(path, {"steps": 2, "lr": 0.5}, differences=lambda old, new: [])
    assert lenient.begin() is False  # same run by this rule, and finished


def test_sigterm_marks_the_run_failed_and_the_next_attempt_resumes(tmp_path):
    path = str(tmp_path / "fit")
    script = str(tmp_path / "fit.py")
    (tmp_path / "fit.py").write_text(FIT)
    proc = subprocess.Popen([sys.executable, script, path, "40", "0.05"], cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_records(path)) < 3:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    status = RunDirectory(path, create=False).read_status()
    assert status["status"] == "failed" and status["message"].startswith("terminated by SIGTERM at step")
    done = status["step"]
    assert 3 <= done < 40
    assert subprocess.run([sys.executable, script, path, "40", "0"], cwd=ROOT, timeout=120).returncode == 0
    steps = [r["step"] for r in _records(path)]
    assert steps == list(range(1, 41))


def test_failure_messages_and_codes():
    assert failure(Terminated(), 7) == ("terminated by SIGTERM at step 7", 143)
    assert failure(KeyboardInterrupt(), 2) == ("interrupted at step 2", 130)
    assert failure(OSError("no space"), 0, setting_up=True) == ("OSError while setting up: no space", 1)


def test_terminate_on_sigterm_restores_the_previous_handler():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        with terminate_on_sigterm():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) == before


def test_config_differences():
    assert config_differences({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == ["b: 2 -> 3", "c: None -> 4"]
    assert config_differences({"a": 1}, {"a": 1}) == []


def test_summary_of_a_run_without_metrics(tmp_path):
    rd = RunDirectory(str(tmp_path / "r"))
    assert summary(rd) == f"run directory: {rd.path}"
    rd.log_metrics(3, "valid", {"loss": {"L_k": -5.0}})
    rd.log_metrics(3, "test", {"loss": {"elbo": -6.0}})
    assert summary(rd).startswith("valid L_K: -5.000 nats at step 3 -> -5.000 nats at step 3 (1 evaluations)")
    assert summary(rd, "loss/elbo").startswith("test elbo: -6.000")
