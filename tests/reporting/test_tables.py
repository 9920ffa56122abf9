"""Pivot tables: numbers (mean, std, sem, n) and their CSV / Markdown forms."""
import math

import numpy as np
import pandas as pd
import pytest

from ovis.reporting.aggregate import parse_pivot
from ovis.reporting.runs import read_experiment
from ovis.reporting.tables import format_mean_err, pivot_table, to_markdown

from .synthetic import DATASETS, ESTIMATORS, KS, SEEDS, STEPS, lk, snr, write_run

KEYS = ["dataset", "estimator", "iw"]
SPECS = [parse_pivot("max:test:loss/L_k"), parse_pivot("mean:train:grads/snr")]


@pytest.mark.parametrize("error", ["std", "sem"])
def test_pivot_table_numbers(experiment, error):
    table = pivot_table(experiment, SPECS, KEYS, error=error)
    assert list(table.columns) == [*KEYS, "runs", "max:test:loss/L_k mean", f"max:test:loss/L_k {error}",
                                   "max:test:loss/L_k n", "mean:train:grads/snr mean",
                                   f"mean:train:grads/snr {error}", "mean:train:grads/snr n"]
    assert len(table) == len(DATASETS) * len(ESTIMATORS) * len(KS)
    scale = math.sqrt(len(SEEDS)) if error == "sem" else 1.0
    for _, row in table.iterrows():
        lks = [lk(row.dataset, row.estimator, row.iw, s, STEPS[-1]) for s in SEEDS]
        snrs = [snr(row.estimator, row.iw, s) for s in SEEDS]
        assert row["max:test:loss/L_k mean"] == pytest.approx(np.mean(lks))
        assert row[f"max:test:loss/L_k {error}"] == pytest.approx(np.std(lks, ddof=1) / scale)
        assert row["mean:train:grads/snr mean"] == pytest.approx(np.mean(snrs))
        assert row[f"mean:train:grads/snr {error}"] == pytest.approx(np.std(snrs, ddof=1) / scale)
        assert row["runs"] == row["max:test:loss/L_k n"] == len(SEEDS)


def test_csv_round_trip(experiment, tmp_path):
    table = pivot_table(experiment, SPECS, KEYS)
    table.to_csv(tmp_path / "pivot.csv", index=False)
    back = pd.read_csv(tmp_path / "pivot.csv")
    assert np.allclose(back["max:test:loss/L_k mean"], table["max:test:loss/L_k mean"])
    assert back["estimator"].tolist() == table["estimator"].tolist()


def test_markdown(experiment):
    table = pivot_table(experiment, SPECS, KEYS)
    md = to_markdown(table, KEYS, SPECS)
    lines = md.splitlines()
    assert lines[0] == "| data | estimator | K | test L_K (nats), max | train gradient SNR, mean over steps | runs |"
    assert lines[1] == "| --- | --- | --- | ---: | ---: | ---: |"
    # digits, VIMCO (arithmetic), K=4: max L_K = lk(last step) + seeds 1..3 -> mean +2, std 1
    expected = np.mean([lk("digits", "vimco-arithmetic", 4, s, STEPS[-1]) for s in SEEDS])
    assert lines[2].startswith(f"| digits | VIMCO (arithmetic) | 4 | {expected:.1f} ± 1.0 | ")
    assert lines[2].endswith(" | 3 |")
    assert "OVIS-\\~ (γ=1)" in md  # tilde escaped for Markdown
    assert len([line for line in lines if line.startswith("| ")]) == 2 + len(table)  # header, rule, rows
    assert "Mean ± standard deviation" in md


def test_markdown_marks_partial_metrics(tmp_path):
    write_run(tmp_path, "a", {"estimator": "reinforce", "seed": 1},
              [{"step": 0, "split": "test", "loss/L_k": -3.0, "loss/elbo": -4.0}])
    write_run(tmp_path, "b", {"estimator": "reinforce", "seed": 2}, [{"step": 0, "split": "test", "loss/L_k": -5.0}])
    specs = [parse_pivot("last:test:loss/L_k"), parse_pivot("last:test:loss/elbo")]
    table = pivot_table(read_experiment(tmp_path), specs, ["estimator"])
    md = to_markdown(table, ["estimator"], specs)
    assert "| REINFORCE | -4.0 ± 1.4 | -4 (n=1) | 2 |" in md


def test_empty_table_when_no_metric(experiment):
    table = pivot_table(experiment, [parse_pivot("max:test:loss/nope")], KEYS)
    assert table.empty
    assert to_markdown(table, KEYS, [parse_pivot("max:test:loss/nope")]).startswith("| data | estimator | K | runs |")


@pytest.mark.parametrize("mean, err, text", [
    (-85.3567, 1.0, "-85.4 ± 1.0"),
    (-85.3567, 0.0412, "-85.357 ± 0.041"),
    (0.0012345, 0.00031, "0.00123 ± 0.00031"),
    (1234.5, 56.0, "1234 ± 56"),
    (-85.3567, float("nan"), "-85.36"),
    (3.0, 0.0, "3 ± 0"),
    (float("nan"), 1.0, "–"),
])
def test_format_mean_err(mean, err, text):
    assert format_mean_err(mean, err) == text
