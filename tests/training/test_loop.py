"""End-to-end runs of the training loop on a tiny model: the run directory, resuming, failures."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from ovis.training import parse_args, run, run_directory
from ovis.training.arguments import config_from_args
from ovis.training.loop import Trainer

from . import tiny

ROOT = Path(__file__).resolve().parents[2]
FAST = ["--dataset", "tiny", "--model", "tiny", "--iw", "4", "--bs", "16", "--iw_valid", "8", "--iw_test", "32",
        "--grad_samples", "4", "--grad_bs", "4", "--silent"]


def _run(tmp_path, *flags, model=tiny.build_model):
    args = parse_args([*FAST, "--root", str(tmp_path), *flags])
    code = run(args, build_datasets=tiny.build_datasets, build_model=model)
    return code, Path(run_directory(config_from_args(args)))


def _metrics(run_dir: Path):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _status(run_dir: Path):
    return json.loads((run_dir / "status.json").read_text())


def test_run_directory_contents(tmp_path):
    code, run_dir = _run(tmp_path, "--nsteps", "20", "--eval_freq", "2", "--mc_au_analysis", "4",
                         "--npoints_au_analysis", "16")
    assert code == 0
    assert _status(run_dir) == {"status": "success", "message": "finished 20 steps", "step": 20}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["nsteps"] == 20 and config["estimator"] == "ovis-gamma1"
    records = _metrics(run_dir)
    # 96 items / bs 16 = 6 steps per epoch: evaluations at epochs 2 (step 12) and at the end (step 20)
    assert sorted({r["step"] for r in records}) == [0, 12, 20]  # before training, each epoch, the end
    assert [r["split"] for r in records] == ["train", "valid", "test"] * 3
    train = records[-3]
    for key in ("loss/L_k", "loss/elbo", "loss/kl", "loss/nll", "loss/ess", "estimator/L_k", "estimator/cv_mse",
                "parameters/alpha", "parameters/lr", "grads/variance", "grads/snr", "grads/dsnr", "snr/p50",
                "active_units/au"):
        assert isinstance(train[key], float), key
    assert records[-1]["loss/L_k"] < 0
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    for key in ("model", "estimator", "optimizer", "lr_scheduler", "rng", "step", "epoch", "position"):
        assert key in state
    assert state["step"] == 20 and set(state["rng"]) >= {"torch", "numpy", "python"}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir)).Reload()
    tags = events.Tags()["scalars"]
    assert "valid:loss/L_k" in tags and "train:grads/snr" in tags and "test:loss/L_k" in tags
    assert [e.step for e in events.Scalars("test:loss/L_k")] == [0, 12, 20]


def test_finished_run_is_not_rerun_and_other_flags_are_refused(tmp_path, capsys):
    code, run_dir = _run(tmp_path, "--nsteps", "6", "--id", "fixed")
    assert code == 0 and run_dir.name == "fixed"
    before = (run_dir / "metrics.jsonl").read_text()
    assert _run(tmp_path, "--nsteps", "6", "--id", "fixed")[0] == 0
    assert "already finished" in capsys.readouterr().err
    assert (run_dir / "metrics.jsonl").read_text() == before
    code, _ = _run(tmp_path, "--nsteps", "6", "--id", "fixed", "--lr", "0.5")
    assert code == 2
    assert "--lr: 0.001 -> 0.5" in capsys.readouterr().err


def test_non_finite_loss_fails_the_run_and_keeps_the_logs(tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_NAN_STEP", "10")
    code, run_dir = _run(tmp_path, "--model", "tiny-nan", "--nsteps", "40", "--eval_freq", "1")
    assert code == 1
    status = _status(run_dir)
    assert status["status"] == "failed"
    assert status["step"] == 9
    assert "non-finite training loss at step 9" in status["message"] and "loss/L_k" in status["message"]
    # the evaluation after epoch 1 (step 6) was logged and checkpointed before the failure
    assert {r["step"] for r in _metrics(run_dir)} == {0, 6}
    assert torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"] == 6


def test_interrupted_run_resumes_in_process(tmp_path, monkeypatch):
    flags = ["--nsteps", "30", "--eval_freq", "1", "--deterministic"]
    code, reference = _run(tmp_path, *flags, "--exp", "a")
    assert code == 0

    original = Trainer.train_step

    def interrupt(self, x):
        if self.step == 15:
            raise KeyboardInterrupt
        return original(self, x)

    monkeypatch.setattr(Trainer, "train_step", interrupt)
    code, run_dir = _run(tmp_path, *flags, "--exp", "b")
    assert code == 130
    assert _status(run_dir)["status"] == "failed" and "interrupted at step 15" in _status(run_dir)["message"]
    monkeypatch.setattr(Trainer, "train_step", original)
    code, run_dir = _run(tmp_path, *flags, "--exp", "b")
    assert code == 0
    assert _metrics(run_dir) == _metrics(reference)


def _spawn(tmp_path, flags, env=None):
    cmd = [sys.executable, str(ROOT / "tests" / "training" / "tiny.py"), *FAST, "--root", str(tmp_path), *flags]
    environment = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.Popen(cmd, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_killed_run_resumes_to_the_same_metrics(tmp_path):
    """SIGKILL a deterministic run once a checkpoint exists, run the same command again: the final
    metrics equal those of an uninterrupted run."""
    flags = ["--nsteps", "60", "--eval_freq", "1", "--deterministic", "--id", "run"]
    reference = _spawn(tmp_path / "ref", flags)
    assert reference.wait(timeout=120) == 0, reference.stdout.read().decode()

    killed = _spawn(tmp_path / "kill", flags, env={"TINY_SLEEP": "0.05"})
    run_dir = tmp_path / "kill" / "sandbox" / "run"
    deadline = time.time() + 120

    def checkpointed_step():  # the checkpoint is written atomically (write, then rename)
        path = run_dir / "checkpoint.pt"
        return torch.load(path, weights_only=False)["step"] if path.exists() else 0

    # wait for a checkpoint after training started (the one before training is at step 0); the
    # metrics of an evaluation are written just before its checkpoint, so they are no signal
    while checkpointed_step() == 0:
        assert killed.poll() is None, killed.stdout.read().decode()
        assert time.time() < deadline
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    assert _status(run_dir)["status"] == "running"
    step = torch.load(run_dir / "checkpoint.pt", weights_only=False)["step"]
    assert 0 < step < 60

    resumed = _spawn(tmp_path / "kill", flags)
    out = resumed.communicate(timeout=120)[0].decode()
    assert resumed.returncode == 0, out
    assert _status(run_dir)["status"] == "success"
    assert _metrics(run_dir) == _metrics(tmp_path / "ref" / "sandbox" / "run")


def test_sigterm_marks_the_run_failed(tmp_path):
    proc = _spawn(tmp_path, ["--nsteps", "1000", "--id", "term"], env={"TINY_SLEEP": "0.02"})
    run_dir = tmp_path / "sandbox" / "term"
    deadline = time.time() + 60
    while not (run_dir / "status.json").exists() or "step" not in _status(run_dir).get("message", ""):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    status = _status(run_dir)
    assert status["status"] == "failed" and status["message"].startswith("terminated by SIGTERM at step")


def test_eval_every_gives_short_runs_curves(tmp_path):
    """--eval_every 5 on a 20-step run (6 steps per epoch): evaluations at 0, 5, 10, 12 (epoch 2), 15, 20."""
    code, run_dir = _run(tmp_path, "--nsteps", "20", "--eval_freq", "2", "--eval_every", "5")
    assert code == 0
    assert sorted({r["step"] for r in _metrics(run_dir)}) == [0, 5, 10, 12, 15, 20]


def test_eval_every_at_its_default_leaves_run_ids_unchanged():
    """A flag added later is left out of the id at its default, so existing run directories resume."""
    from ovis.training.arguments import run_id

    config = config_from_args(parse_args([*FAST, "--nsteps", "20"]))
    assert config["eval_every"] == 0
    before = {k: v for k, v in config.items() if k != "eval_every"}
    assert run_id(config) == run_id(before)
    assert run_id(dict(config, eval_every=5)) != run_id(config)
