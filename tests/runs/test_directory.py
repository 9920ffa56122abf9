"""ovis.runs.directory: the files of one run."""
import json

import pytest
import torch

from ovis.runs import RunDirectory, flatten_metrics


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


def test_reading_does_not_create_and_read_metrics_skips_bad_lines(tmp_path):
    rd = RunDirectory(str(tmp_path / "absent"), create=False)
    assert not (tmp_path / "absent").exists() and rd.name == "absent"
    assert rd.read_config() is None and rd.read_status() is None and list(rd.read_metrics()) == []
    assert not (rd.has_config() or rd.has_metrics() or rd.has_checkpoint()) and rd.event_files() == []
    rd = RunDirectory(str(tmp_path / "run"))
    rd.write_config({"b": 1, "a": [1, 2]})
    assert rd.read_config() == {"a": [1, 2], "b": 1} and rd.has_config()
    with open(rd.metrics_path, "w") as f:
        f.write('{"step": 1, "split": "train", "x": 1.0}\n[1, 2]\nnot json\n{"step": 2}\n')
    assert list(rd.read_metrics()) == [{"step": 1, "split": "train", "x": 1.0}, {"step": 2}]


def test_tensorboard_events_hold_the_same_scalars(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator

    rd = RunDirectory(str(tmp_path / "run"))
    rd.open_writer()
    rd.log_metrics(5, "valid", {"loss": {"L_k": torch.tensor([-1.0, -2.0])}})
    rd.close()
    acc = event_accumulator.EventAccumulator(rd.path)
    acc.Reload()
    assert acc.Tags()["scalars"] == ["valid:loss/L_k"]
    assert [(e.step, e.value) for e in acc.Scalars("valid:loss/L_k")] == [(5, -1.5)]
