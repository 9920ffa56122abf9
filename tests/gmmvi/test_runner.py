import json

import pytest
import torch

from ovis.gmmvi.configs import default_config, merge
from ovis.gmmvi.runner import GMMVIRunner, LocalRunSink, atomic_write


def small_config():
    cfg = merge(default_config("SAMTRON", "gmm20"), {"environment_config": {"num_dimensions": 2}})
    cfg["sample_selector_config"]["desired_samples_per_component"] = 30
    cfg["num_component_adapter_config"].update(add_iters=4, del_iters=5, num_database_samples=200)
    cfg["model_initialization"]["num_initial_components"] = 2
    return cfg


def test_run_directory_contents(tmp_path):
    runner = GMMVIRunner(small_config(), LocalRunSink(tmp_path), seed=3, progress=False)
    last = runner.run(10, log_every=4, num_eval_samples=200)
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "metrics.jsonl", "checkpoint.pt", "status.json"}
    rows = LocalRunSink(tmp_path).read_metrics()
    assert [r["iteration"] for r in rows] == [4, 8, 10]
    assert rows[-1] == json.loads(json.dumps({"iteration": 10, **last}))
    for key in ("eval:gmmvi/elbo", "eval:gmmvi/neg_elbo", "eval:gmmvi/entropy", "eval:gmmvi/gap",
                "train:gmmvi/num_components", "train:gmmvi/target_evaluations", "train:gmmvi/seconds_per_iteration"):
        assert key in last
    assert last["eval:gmmvi/gap"] == pytest.approx(-last["eval:gmmvi/elbo"])     # log Z = 0
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "success" and status["step"] == 10 and "10 iterations" in status["message"]
    # the run layer's metrics lines: one per split per logged iteration
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["split"]) for r in lines] == [(4, "train"), (4, "eval"), (8, "train"), (8, "eval"),
                                                        (10, "train"), (10, "eval")]
    assert lines[-1]["gmmvi/neg_elbo"] == pytest.approx(last["eval:gmmvi/neg_elbo"])
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == 3


def test_tensorboard_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    runner = GMMVIRunner(small_config(), LocalRunSink(tmp_path), seed=3, progress=False)
    runner.run(6, log_every=3, num_eval_samples=100)
    runner = GMMVIRunner(small_config(), LocalRunSink(tmp_path), seed=3, progress=False)      # resumed
    runner.run(9, log_every=3, num_eval_samples=100)
    events = EventAccumulator(str(tmp_path)).Reload()
    assert {"eval:gmmvi/neg_elbo", "train:gmmvi/num_components", "train:gmmvi/target_evaluations"} \
        <= set(events.Tags()["scalars"])
    rows = LocalRunSink(tmp_path).read_metrics()
    scalars = events.Scalars("eval:gmmvi/neg_elbo")
    assert [e.step for e in scalars] == [3, 6, 9]
    assert [e.value for e in scalars] == pytest.approx([r["eval:gmmvi/neg_elbo"] for r in rows], rel=1e-6)


class _Boom(Exception):
    pass


def test_failed_status_names_the_error(tmp_path, monkeypatch):
    runner = GMMVIRunner(small_config(), LocalRunSink(tmp_path), seed=0, progress=False)
    calls = {"n": 0}
    original = runner.gmmvi.train_iter

    def train_iter():
        calls["n"] += 1
        if calls["n"] == 5:
            raise _Boom("target returned NaN")
        original()

    monkeypatch.setattr(runner.gmmvi, "train_iter", train_iter)
    with pytest.raises(_Boom):
        runner.run(10, log_every=2, num_eval_samples=50)
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "failed" and status["step"] == 4
    assert status["message"] == "_Boom at step 4: target returned NaN"
    # resumable from the last checkpoint (iteration 4)
    again = GMMVIRunner(small_config(), LocalRunSink(tmp_path), seed=0, progress=False)
    assert again.iteration == 4
    again.run(6, log_every=2, num_eval_samples=50)
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "success"


def test_resume_equals_uninterrupted_run(tmp_path):
    a = GMMVIRunner(small_config(), LocalRunSink(tmp_path / "a"), seed=1, progress=False)
    a.run(12, log_every=3, num_eval_samples=100)
    b = GMMVIRunner(small_config(), LocalRunSink(tmp_path / "b"), seed=1, progress=False)
    b.run(6, log_every=3, num_eval_samples=100)
    with open(tmp_path / "b" / "metrics.jsonl", "a") as f:          # a row written after the checkpoint
        f.write(json.dumps({"step": 7, "split": "eval", "stale": True}) + "\n")
    b2 = GMMVIRunner(small_config(), LocalRunSink(tmp_path / "b"), seed=1, progress=False)
    assert b2.iteration == 6
    b2.run(12, log_every=3, num_eval_samples=100)
    torch.testing.assert_close(b2.gmmvi.model.means, a.gmmvi.model.means)
    ra, rb = LocalRunSink(tmp_path / "a").read_metrics(), LocalRunSink(tmp_path / "b").read_metrics()
    assert [r["iteration"] for r in rb] == [3, 6, 9, 12]
    assert [r["train:gmmvi/target_evaluations"] for r in ra] == [r["train:gmmvi/target_evaluations"] for r in rb]


def test_callable_target_and_evaluation_budget(tmp_path):
    cfg = small_config()
    runner = GMMVIRunner(cfg, LocalRunSink(tmp_path), target=lambda x: -0.5 * x.pow(2).sum(-1),
                         num_dimensions=3, progress=False)
    last = runner.run(100, log_every=50, max_target_evaluations=200)
    assert last["train:gmmvi/target_evaluations"] >= 200 and runner.iteration < 100
    assert "eval:gmmvi/gap" not in last


def test_atomic_write_leaves_old_file_on_error(tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("old")

    def failing(f):
        f.write(b"partial")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError):
        atomic_write(path, failing)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]
