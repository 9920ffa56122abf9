"""Grouping runs, averaging over seeds, reducing curves, fitting log-log slopes."""
import logging

import numpy as np
import pandas as pd
import pytest

from ovis.reporting.aggregate import (PivotSpec, check_metrics, curves, group_records, loglog_slope,
                                      mixed_fields, parse_metric, parse_pivot, pivot_values, resolve_keys,
                                      run_curves, run_values, sort_groups)
from ovis.reporting.runs import read_experiment

from .synthetic import DATASETS, ESTIMATORS, KS, SEEDS, STEPS, lk, snr, write_run

KEYS = ["dataset", "estimator", "iw"]


@pytest.mark.parametrize("spec, agg, metric", [
    ("max:test:loss/L_k", "max", "test:loss/L_k"),
    ("min:train:loss/kl", "min", "train:loss/kl"),
    ("last:test:loss/L_k", "last", "test:loss/L_k"),
    ("mean:train:grads/snr", "mean", "train:grads/snr"),
    ("avg:train:grads/snr", "mean", "train:grads/snr"),
    ("test:loss/L_k", "last", "test:loss/L_k"),
    (" max:test:loss/L_k ", "max", "test:loss/L_k"),
])
def test_parse_pivot(spec, agg, metric):
    assert parse_pivot(spec) == PivotSpec(agg, metric)


@pytest.mark.parametrize("spec, message", [
    ("best:test:loss/L_k", "unknown aggregation 'best'"),
    ("loss/L_k", "not of the form"),
    ("a:b:c:d", "not of the form"),
    ("max::loss/L_k", "not of the form 'split:group/name'"),
])
def test_parse_pivot_errors_name_the_value_and_the_choices(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_pivot(spec)


@pytest.mark.parametrize("name", ["loss/L_k", "test:", ":loss/L_k", "a:b:c"])
def test_parse_metric_errors(name):
    with pytest.raises(ValueError, match="split:group/name"):
        parse_metric(name)


def test_curves_mean_and_std_over_seeds(experiment):
    df = curves(experiment, "test:loss/L_k", KEYS)
    assert list(df.columns) == [*KEYS, "step", "mean", "err", "n"]
    assert len(df) == len(DATASETS) * len(ESTIMATORS) * len(KS) * len(STEPS)
    row = df[(df.dataset == "fashion") & (df.estimator == "vimco-arithmetic") & (df.iw == 16) & (df.step == 500)]
    values = [lk("fashion", "vimco-arithmetic", 16, s, 500) for s in SEEDS]
    assert row["mean"].item() == pytest.approx(np.mean(values))
    assert row["err"].item() == pytest.approx(np.std(values, ddof=1))  # = 1 for seeds 1, 2, 3
    assert row["n"].item() == len(SEEDS)


def test_curves_sem(experiment):
    std = curves(experiment, "test:loss/L_k", KEYS, error="std")
    sem = curves(experiment, "test:loss/L_k", KEYS, error="sem")
    assert np.allclose(sem["err"], std["err"] / np.sqrt(len(SEEDS)))


def test_curves_group_order(experiment):
    df = curves(experiment, "test:loss/L_k", KEYS)
    firsts = df.drop_duplicates(KEYS)[KEYS].values.tolist()
    # data sets alphabetically, estimators by family (VIMCO before OVIS), K numerically
    assert firsts == [[d, e, k] for d in DATASETS for e in ("vimco-arithmetic", "ovis-gamma1") for k in KS]
    assert df.groupby(KEYS, sort=False)["step"].apply(lambda s: s.is_monotonic_increasing).all()


@pytest.mark.parametrize("downsample", [2, 3, 5])
def test_downsample_bins_steps(experiment, downsample):
    df = curves(experiment, "test:loss/L_k", KEYS, downsample=downsample)
    per_group = df.groupby(KEYS)["step"].nunique()
    assert (per_group == downsample).all()
    full = run_curves(experiment, "test:loss/L_k", KEYS)
    binned = run_curves(experiment, "test:loss/L_k", KEYS, downsample=downsample)
    # binning averages within a run: each run's mean value is preserved when bins are equal-sized
    if (len(STEPS) % downsample) == 0:
        assert np.allclose(full.groupby("run_id")["value"].mean(), binned.groupby("run_id")["value"].mean())
    assert (binned.groupby("run_id").size() == downsample).all()
    assert binned["step"].dtype == full["step"].dtype


def test_downsample_keeps_short_curves(experiment):
    assert curves(experiment, "test:loss/L_k", KEYS, downsample=100).equals(curves(experiment, "test:loss/L_k", KEYS))


def test_missing_metric_gives_empty_frames(experiment):
    assert curves(experiment, "test:loss/nope", KEYS).empty
    assert pivot_values(experiment, parse_pivot("max:test:loss/nope"), KEYS).empty


@pytest.mark.parametrize("agg", ["max", "min", "last", "mean"])
def test_run_values(experiment, agg):
    values = run_values(experiment, PivotSpec(agg, "test:loss/L_k"))
    curve = [lk("digits", "ovis-gamma1", 16, 2, s) for s in STEPS]
    expected = {"max": max(curve), "min": min(curve), "last": curve[-1], "mean": np.mean(curve)}[agg]
    assert values["digits-ovis-gamma1-K16-s2"] == pytest.approx(expected)
    assert len(values) == len(experiment.runs)


@pytest.mark.parametrize("error", ["std", "sem"])
def test_pivot_values(experiment, error):
    df = pivot_values(experiment, parse_pivot("max:test:loss/L_k"), KEYS, error=error)
    assert len(df) == len(DATASETS) * len(ESTIMATORS) * len(KS)
    for d in DATASETS:
        for e in ESTIMATORS:
            for k in KS:
                row = df[(df.dataset == d) & (df.estimator == e) & (df.iw == k)]
                values = [lk(d, e, k, s, STEPS[-1]) for s in SEEDS]
                spread = np.std(values, ddof=1) / (np.sqrt(len(SEEDS)) if error == "sem" else 1)
                assert row["mean"].item() == pytest.approx(np.mean(values))
                assert row["err"].item() == pytest.approx(spread)
                assert row["n"].item() == len(SEEDS)


def test_pivot_values_without_keys_averages_everything(experiment):
    df = pivot_values(experiment, parse_pivot("mean:train:grads/snr"), [])
    assert len(df) == 1 and df["n"].item() == len(experiment.runs)


def test_single_run_has_no_spread(tmp_path):
    write_run(tmp_path, "one", {"estimator": "reinforce", "iw": 4}, [{"step": 0, "split": "test", "loss/L_k": -3.0}])
    df = pivot_values(read_experiment(tmp_path), parse_pivot("last:test:loss/L_k"), ["estimator", "iw"])
    assert df["mean"].item() == -3.0 and np.isnan(df["err"].item()) and df["n"].item() == 1


@pytest.mark.parametrize("slope", [-0.5, 0.0, 0.5, 1.0])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 50.0])
def test_loglog_slope_recovers_power_laws(slope, scale):
    k = np.array([1, 2, 5, 10, 50, 100, 1000])
    fit = loglog_slope(k, scale * k ** slope)
    assert fit[0] == pytest.approx(slope, abs=1e-9)
    assert np.exp(fit[1]) == pytest.approx(scale)


def test_loglog_slope_needs_two_positive_points():
    assert loglog_slope([4, 4], [1.0, 2.0]) is None
    assert loglog_slope([4, 16], [1.0, -2.0]) is None
    assert loglog_slope([4, 16, 64], [1.0, 0.0, 4.0])[0] == pytest.approx(0.5)


def test_snr_slopes_of_the_synthetic_experiment(experiment):
    df = pivot_values(experiment, parse_pivot("mean:train:grads/snr"), KEYS)
    for e in ESTIMATORS:
        rows = df[(df.dataset == "digits") & (df.estimator == e)]
        expected = {"ovis-gamma1": 0.5, "vimco-arithmetic": -0.5}[e]
        assert loglog_slope(rows["iw"], rows["mean"])[0] == pytest.approx(expected)
        assert rows["mean"].tolist() == pytest.approx([np.mean([snr(e, k, s) for s in SEEDS]) for k in KS])


def test_resolve_keys_drops_unknown_keys_with_a_note(experiment, caplog):
    notes = list(experiment.notes)
    try:
        with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
            assert resolve_keys(experiment, ["dataset", "nope", "step", "dataset"]) == ["dataset"]
        assert "key 'nope' is in no run's config.json; ignored. Config fields: dataset, estimator" in caplog.text
        assert "key 'step' clashes" in caplog.text
    finally:
        experiment.notes[:] = notes


def test_check_metrics_suggests_close_names(experiment, caplog):
    notes = list(experiment.notes)
    try:
        with caplog.at_level(logging.WARNING, logger="ovis.reporting"):
            assert check_metrics(experiment, ["test:loss/L_k", "test:loss/Lk"]) == ["test:loss/L_k"]
        assert "metric 'test:loss/Lk' was logged by no selected run; skipped (did you mean test:loss/L_k" in caplog.text
    finally:
        experiment.notes[:] = notes


def test_mixed_fields(tmp_path, experiment):
    assert mixed_fields(experiment, KEYS) == []  # only seeds differ within a group
    assert mixed_fields(experiment, ["dataset"]) == ["estimator", "iw"]
    for i, lr in enumerate([0.1, 0.2, 0.1, 0.2]):
        write_run(tmp_path, f"r{i}", {"estimator": "reinforce", "lr": lr, "seed": i, "logdir": f"/x/{i}"},
                  [{"step": 0, "split": "train", "loss/L_k": 1.0}])
    assert mixed_fields(read_experiment(tmp_path), ["estimator"]) == ["lr"]  # not seed, not per-run logdir


def test_sort_groups_and_group_records():
    df = pd.DataFrame({"estimator": ["ovis-gamma1", "reinforce", "ovis-gamma1", "reinforce"],
                       "iw": [16, 4, 4, np.nan], "mean": [1, 2, 3, 4]})
    out = sort_groups(df, ["estimator", "iw"])
    assert out["mean"].tolist() == [2, 4, 3, 1]
    groups = group_records(out, ["estimator"])
    assert [g["estimator"] for g, _ in groups] == ["reinforce", "ovis-gamma1"]
    assert [rows["mean"].tolist() for _, rows in groups] == [[2, 4], [3, 1]]
