"""Reading run directories: JSON lines, TensorBoard fallback, statuses, filters."""
import json
import logging

import pytest

from ovis.reporting.runs import match_filters, read_experiment, read_metrics_jsonl

from .synthetic import DATASETS, ESTIMATORS, KS, SEEDS, STEPS, lk, run_rows, write_run

CONFIG = {"dataset": "digits", "estimator": "ovis-gamma1", "iw": 4, "seed": 1}


def test_reads_every_run_in_long_format(experiment):
    n_runs = len(DATASETS) * len(ESTIMATORS) * len(KS) * len(SEEDS)
    assert len(experiment.runs) == n_runs == len(experiment.configs)
    assert list(experiment.metrics.columns) == ["run_id", "step", "metric", "value"]
    assert experiment.metric_names == ["test:loss/L_k", "train:grads/snr", "train:loss/L_k"]
    assert len(experiment.metrics) == n_runs * len(STEPS) * 3
    assert (experiment.runs["source"] == "jsonl").all()
    assert experiment.notes == []
    row = experiment.metrics.query("run_id == 'digits-ovis-gamma1-K4-s2' and step == 300 and metric == 'test:loss/L_k'")
    assert row["value"].item() == pytest.approx(lk("digits", "ovis-gamma1", 4, 2, 300))
    assert experiment.configs.loc["digits-ovis-gamma1-K4-s2", "iw"] == 4


def test_tensorboard_fallback(tmp_path):
    rows = run_rows("digits", "ovis-gamma1", 4, 1, steps=(0, 100, 200))
    write_run(tmp_path, "tb", CONFIG, rows, jsonl=False, tensorboard=True)
    exp = read_experiment(tmp_path)
    assert exp.runs.loc["tb", "source"] == "tensorboard"
    assert exp.metric_names == ["test:loss/L_k", "train:grads/snr", "train:loss/L_k"]
    got = exp.metrics.query("metric == 'test:loss/L_k'").sort_values("step")
    assert got["step"].tolist() == [0, 100, 200]
    assert got["value"].tolist() == pytest.approx([lk("digits", "ovis-gamma1", 4, 1, s) for s in (0, 100, 200)],
                                                  rel=1e-6)  # float32 in events


def test_jsonl_wins_over_tensorboard(tmp_path):
    rows = run_rows("digits", "ovis-gamma1", 4, 1, steps=(0, 100))
    write_run(tmp_path, "both", CONFIG, rows, jsonl=True, tensorboard=True)
    assert read_experiment(tmp_path).runs.loc["both", "source"] == "jsonl"


def test_names_like_dates_stay_numbers(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 7, "split": "train", "timestamp": 1700000000, "perf/wall_time": 2.5}) + "\n")
    df = read_metrics_jsonl(path)
    assert sorted(zip(df["metric"], df["value"])) == [("train:perf/wall_time", 2.5), ("train:timestamp", 1.7e9)]


def test_nested_and_full_names_truncated_line_and_non_numbers(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": 1, "split": "train", "loss": {"L_k": -5.0, "elbo": -6.0}, "note": "text", "flag": True,
              "time/step_time": 0.5},
             {"step": 2, "test:loss/L_k": -4.0},
             {"step": 3, "split": "train", "loss/L_k": float("nan")}]
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"step": 4, "spl')
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        df = read_metrics_jsonl(path)
    assert sorted(zip(df["step"], df["metric"], df["value"])) == [
        (1, "train:loss/L_k", -5.0), (1, "train:loss/elbo", -6.0), (1, "train:time/step_time", 0.5),
        (2, "test:loss/L_k", -4.0)]
    assert "line 4 is not valid JSON" in caplog.text


@pytest.mark.parametrize("only_finished", [False, True])
def test_statuses(tmp_path, caplog, only_finished):
    rows = run_rows("digits", "ovis-gamma1", 4, 1, steps=(0, 100))
    write_run(tmp_path, "done", CONFIG, rows, status="success")
    write_run(tmp_path, "going", CONFIG, rows, status="running")
    write_run(tmp_path, "broke", CONFIG, rows, status="failed", message="Traceback\nRuntimeError: NaN")
    write_run(tmp_path, "old", CONFIG, rows, status=None)  # no status.json
    write_run(tmp_path, "empty", CONFIG, [], status="success")
    (tmp_path / "noconfig").mkdir()
    (tmp_path / "noconfig" / "metrics.jsonl").write_text('{"step": 0, "split": "train", "loss/L_k": 1}\n')
    (tmp_path / "not-a-run").mkdir()
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        exp = read_experiment(tmp_path, only_finished=only_finished)
    expected = {"done", "old"} | (set() if only_finished else {"going"})
    assert set(exp.runs.index) == expected
    assert exp.runs.loc["old", "status"] == "unknown"
    text = "\n".join(exp.notes)
    assert "run broke: failed (RuntimeError: NaN); skipped" in text
    assert "run empty: no metrics" in text
    assert "run noconfig: no config.json; skipped" in text
    assert "not-a-run" not in text
    if only_finished:
        assert "run going: still running (step 100); skipped (--only_finished)" in text
    else:
        assert "run going: still running (last logged step 100); included" in text
    assert caplog.text.count("skipped") >= 3


def test_duplicate_steps_keep_the_last_value(tmp_path):
    rows = [{"step": 0, "split": "train", "loss/L_k": -3.0}, {"step": 0, "split": "train", "loss/L_k": -2.0}]
    write_run(tmp_path, "resumed", CONFIG, rows)
    assert read_experiment(tmp_path).metrics["value"].tolist() == [-2.0]


def test_missing_directory_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_experiment(tmp_path / "nope")


CFG = {"dataset": "digits", "estimator": "ovis-gamma1", "iw": 16, "lr": 0.001}


@pytest.mark.parametrize("include, exclude, kept", [
    ([], [], True),
    ([["ovis"]], [], True),                      # substring of a flag value
    ([["vimco", "gamma"]], [], True),            # one of a group suffices
    ([["vimco"]], [], False),
    ([["ovis"], ["fashion"]], [], False),        # every group must match
    ([["run-7"]], [], True),                     # substring of the run id
    ([["iw=16"]], [], True),                     # field=value is exact
    ([["iw=1"]], [], False),
    ([["iw=16.0"]], [], False),
    ([["lr=0.001"]], [], True),
    ([], ["gamma"], False),
    ([], ["vimco", "digits"], False),
    ([], ["estimator=vimco-arithmetic"], True),
])
def test_filters(include, exclude, kept):
    assert match_filters("run-7", CFG, include, exclude) is kept
