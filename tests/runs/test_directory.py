"""Atomic writes, random states, the run directory files."""
import json
import random

import numpy as np
import pytest
import torch

from ovis.runs import (RunDirectory, atomic_write, atomic_write_json, flatten_metrics, load_checkpoint,
                       save_checkpoint, set_rng_states)


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "f.json"
    atomic_write_json(str(path), {"a": 1})

    def broken(f):
        f.write("{partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(str(path), broken)
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temporary file left


def test_random_states_round_trip(tmp_path):
    save_checkpoint(str(tmp_path / "c.pt"), {"step": 3})
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.random(), np.random.rand(), torch.rand(())
    state = load_checkpoint(str(tmp_path / "c.pt"))
    assert state["step"] == 3
    set_rng_states(state["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected
    assert load_checkpoint(str(tmp_path / "missing.pt")) is None


def test_flatten_metrics():
    flat = flatten_metrics({"loss": {"L_k": torch.tensor([-1.0, -3.0])}, "grads": {"snr": 0.5},
                            "a": {"b": {"c": 1}}, "top": 2})
    assert flat == {"loss/L_k": -2.0, "grads/snr": 0.5, "a/b.c": 1.0, "top": 2.0}


def test_metrics_lines_status_and_truncation(tmp_path):
    rd = RunDirectory(str(tmp_path / "run"))
    rd.set_status("running", "x", 4)
    assert rd.read_status() == {"status": "running", "message": "x", "step": 4}
    with pytest.raises(ValueError):
        rd.set_status("done")
    rd.log_metrics(10, "valid", {"loss": {"L_k": -5.0, "ess": float("nan")}})
    rd.log_metrics(20, "valid", {"loss/L_k": -4.0})
    with open(rd.metrics_path, "a") as f:
        f.write('{"step": 30, "spl')  # a line cut by a kill
    rd.truncate_metrics(10)
    lines = [json.loads(l) for l in open(rd.metrics_path)]
    assert lines == [{"step": 10, "split": "valid", "loss/L_k": -5.0, "loss/ess": None}]
    (tmp_path / "run" / "job.log").write_text("kept")
    rd.clear_outputs()
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["job.log", "status.json"]
