"""The whole report: files written, numbers in the CSV, and clear messages instead of crashes."""
import logging

import pandas as pd
import pytest

from ovis.reporting.aggregate import parse_pivot
from ovis.reporting.make import ReportConfig, make_report

from .synthetic import STEPS, lk, run_rows, write_run

KEYS = ["dataset", "estimator", "iw"]


@pytest.fixture(scope="module")
def report(experiment_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    cfg = ReportConfig(exp_dir=experiment_dir, out=out, keys=KEYS,
                       metrics=["test:loss/L_k", "train:grads/snr"],
                       detailed_metrics=["train:loss/L_k", "test:loss/L_k"],
                       pivot_metrics=[parse_pivot("max:test:loss/L_k"), parse_pivot("last:test:loss/L_k")],
                       ylims={"test:loss/L_k": (-125.0, None)})
    return make_report(cfg)


def test_every_file_is_written(report):
    out = report.out
    assert report.ok
    expected = ["curves/test-loss-L_k", "curves/train-grads-snr", "detailed", "pivot/max-test-loss-L_k",
                "pivot/last-test-loss-L_k", "snr/mean-train-grads-snr"]
    for stem in expected:
        for suffix in (".png", ".pdf"):
            path = out / f"{stem}{suffix}"
            assert path.is_file() and path.stat().st_size > 0, path
            assert path in report.files
    for name in ("curves.csv", "pivot.csv", "pivot.md", "summary.md"):
        assert (out / name).is_file()


def test_csv_numbers(report):
    pivot = pd.read_csv(report.out / "pivot.csv")
    row = pivot[(pivot.dataset == "digits") & (pivot.estimator == "ovis-gamma1") & (pivot.iw == 16)]
    assert row["max:test:loss/L_k mean"].item() == pytest.approx(lk("digits", "ovis-gamma1", 16, 2, STEPS[-1]))
    assert row["max:test:loss/L_k std"].item() == pytest.approx(1.0)
    curves = pd.read_csv(report.out / "curves.csv")
    assert set(curves["metric"]) == {"test:loss/L_k", "train:grads/snr"}
    assert list(curves.columns) == ["metric", *KEYS, "step", "mean", "std", "n"]


def test_snr_slopes_are_reported(report):
    slopes = report.slopes["mean:train:grads/snr"]
    assert slopes[("digits", "OVIS-~ (γ=1)")] == pytest.approx(0.5)
    assert slopes[("digits", "VIMCO (arithmetic)")] == pytest.approx(-0.5)


def test_summary(report):
    text = (report.out / "summary.md").read_text()
    assert "- runs: 24 (24 success)" in text
    assert "![curves/test-loss-L_k.png](curves/test-loss-L_k.png)" in text
    assert "| data | estimator | K |" in text


def _cfg(exp_dir, out, **kw):
    defaults = dict(keys=KEYS, metrics=["test:loss/L_k"], pivot_metrics=[parse_pivot("max:test:loss/L_k")])
    return ReportConfig(exp_dir=exp_dir, out=out, **{**defaults, **kw})


def test_empty_selection_is_a_message(experiment_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        result = make_report(_cfg(experiment_dir, tmp_path / "r", include=[["no-such-run"]]))
    assert not result.ok and result.files == []
    assert "no run selected in" in caplog.text and "after --include/--exclude" in caplog.text
    assert not (tmp_path / "r").exists()


def test_missing_experiment_is_a_message(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        result = make_report(_cfg(tmp_path / "nope", tmp_path / "r"))
    assert not result.ok and "does not exist; nothing to report" in caplog.text


def test_a_metric_or_key_matching_nothing_writes_nothing_and_says_what_was_meant(experiment_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        result = make_report(_cfg(experiment_dir, tmp_path / "r", metrics=["test:loss/L_k", "test:loss/L_kk"],
                                  pivot_metrics=[parse_pivot("max:test:loss/nope")], detailed_metrics=["a:b/c"]))
    assert not result.ok
    assert result.invalid[0] == ("--metrics: metric 'test:loss/L_kk' matches no selected run "
                                 "(did you mean test:loss/L_k, train:loss/L_k?)")
    assert any("'test:loss/nope'" in m for m in result.invalid) and any("'a:b/c'" in m for m in result.invalid)
    assert not (tmp_path / "r").exists()
    result = make_report(_cfg(experiment_dir, tmp_path / "r", metrics=["test:loss/L_k"], keys=["estimmator"]))
    assert result.invalid == ["--keys: key 'estimmator' matches no selected run (did you mean estimator?)"]
    assert not (tmp_path / "r").exists()


def test_a_new_report_replaces_the_old_one_whole(experiment_dir, tmp_path):
    out = tmp_path / "r"
    first = make_report(_cfg(experiment_dir, out, metrics=["test:loss/L_k", "train:loss/L_k"]))
    assert first.ok and (out / "curves" / "train-loss-L_k.png").exists()
    second = make_report(_cfg(experiment_dir, out, metrics=["test:loss/L_k"], pivot_metrics=[]))
    assert second.ok and all(f.exists() and str(f).startswith(str(out)) for f in second.files)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(str(f.relative_to(out)) for f in second.files)  # no stale figure left
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left


def test_bounds_are_labelled_with_their_number_of_particles(experiment_dir, tmp_path):
    from ovis.reporting.make import _particles
    from ovis.reporting.naming import metric_label
    from ovis.reporting.runs import read_experiment

    particles = _particles(read_experiment(experiment_dir))  # the runs' iw_test and iw_valid
    assert particles == {"test": 1000, "valid": 100, "train": 100}
    assert metric_label("test:loss/L_k", particles=particles) == "test L_1000 (nats)"
    result = make_report(_cfg(experiment_dir, tmp_path / "r"))
    assert "test L_1000 (nats), max" in (tmp_path / "r" / "pivot.md").read_text()
    assert metric_label("test:loss/L_k", "max", {"test": 1000}) == "test L_1000 (nats), max"
    assert metric_label("train:loss/L_k", particles={"test": 1000}) == "train L_K (nats)"


def test_only_missing_metrics_writes_nothing(experiment_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        result = make_report(_cfg(experiment_dir, tmp_path / "r", metrics=["test:x/y"], pivot_metrics=[]))
    assert not result.ok and "nothing written" in caplog.text


def test_nothing_requested_lists_what_is_there(experiment_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        result = make_report(_cfg(experiment_dir, tmp_path / "r", metrics=[], pivot_metrics=[]))
    assert not result.ok
    assert "metrics logged: test:loss/L_k, train:grads/snr, train:loss/L_k" in caplog.text
    assert "config fields: dataset, estimator, iw" in caplog.text


def test_runs_in_progress_and_failed_runs(tmp_path, caplog):
    exp = tmp_path / "exp"
    for seed in (1, 2):
        write_run(exp, f"done{seed}", {"dataset": "digits", "estimator": "reinforce", "iw": 4, "seed": seed},
                  run_rows("digits", "ovis-gamma1", 4, seed))
    write_run(exp, "going", {"dataset": "digits", "estimator": "reinforce", "iw": 4, "seed": 3},
              run_rows("digits", "ovis-gamma1", 4, 3, steps=STEPS[:3]), status="running")
    write_run(exp, "broke", {"dataset": "digits", "estimator": "reinforce", "iw": 4, "seed": 4},
              run_rows("digits", "ovis-gamma1", 4, 4, steps=STEPS[:2]), status="failed", message="OOM")
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        result = make_report(_cfg(exp, tmp_path / "r"))
        finished = make_report(_cfg(exp, tmp_path / "f", only_finished=True))
    assert result.ok and finished.ok
    assert result.table["runs"].tolist() == [3] and finished.table["runs"].tolist() == [2]
    assert "run going: still running" in caplog.text and "run broke: failed (OOM); skipped" in caplog.text
    summary = (tmp_path / "r" / "summary.md").read_text()
    assert "2 success" in summary and "1 running" in summary and "run going: still running" in summary


def test_pivot_against_k_adds_iw(experiment_dir, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ovis.reporting"):
        result = make_report(_cfg(experiment_dir, tmp_path / "r", keys=["estimator"], metrics=[]))
    assert result.ok
    assert "differ in: dataset, iw" in caplog.text  # groups by estimator only mix data sets and K
    assert "added 'iw' to --keys" in caplog.text
    assert (tmp_path / "r" / "pivot" / "max-test-loss-L_k.png").is_file()
    assert list(result.table.columns[:2]) == ["estimator", "runs"]


def test_no_k_in_configs(tmp_path, caplog):
    write_run(tmp_path / "exp", "a", {"estimator": "reinforce"}, [{"step": 0, "split": "test", "loss/L_k": -1.0}])
    with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
        result = make_report(_cfg(tmp_path / "exp", tmp_path / "r", keys=["estimator"], metrics=[]))
    assert result.ok and (tmp_path / "r" / "pivot.md").is_file()
    assert "no run config has 'iw' (K); pivot and SNR plots against K skipped" in caplog.text
