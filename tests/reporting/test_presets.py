"""The figure presets (``report.py --figure``): which runs each one takes, the numbers in its tables,
its figure file; the asymptotic-variance slopes against an independent fit (numpy's covariance)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from ovis.registry import RegistryError
from ovis.reporting.presets import FIGURES, make_figure, read_study_points, study_slopes

from .synthetic import write_run

STEPS = (0, 100, 200, 300)


def lk(estimator: str, warmup: int, iw: int, seed: int, step: int) -> float:
    """A distinct value per configuration: the tests can tell which runs were averaged."""
    base = {"vimco-arithmetic": -100.0, "ovis-gamma1": -95.0, "tvo-part2-config1": -97.0, "reinforce": -110.0,
            "ovis-S0.2": -96.0, "ovis-S0.5": -94.0}[estimator]
    return base + (3.0 if warmup else 0.0) + 0.1 * iw + step / 100 + seed / 10


SBN_RUNS = [("vimco-arithmetic", 0), ("ovis-gamma1", 0), ("ovis-gamma1", 500), ("tvo-part2-config1", 0),
            ("reinforce", 0)]


def _sbn_experiment(root: Path) -> Path:
    exp = root / "sbn"
    for estimator, warmup in SBN_RUNS:
        for iw in (5, 10):
            for seed in (1, 2):
                config = {"dataset": "mnist", "estimator": estimator, "iw": iw, "seed": seed, "warmup": warmup,
                          "alpha": 0.0, "alpha_init": 0.99 if warmup else 0.9, "iw_test": 1000, "iw_valid": 100}
                rows = []
                for step in STEPS:
                    value = lk(estimator, warmup, iw, seed, step)
                    rows.append({"step": step, "split": "test", "loss/L_k": value})
                    rows.append({"step": step, "split": "train", "loss/L_k": value - 1, "grads/snr": 1.0 + iw})
                write_run(exp, f"{estimator}-w{warmup}-K{iw}-s{seed}", config, rows)
    return exp


def test_bound_selections():
    from ovis.reporting.presets import iw_bound_runs, iwr_bound_runs

    config = lambda e, **kw: {"estimator": e, "warmup": 0, "alpha": 0.0, **kw}  # noqa: E731
    assert iw_bound_runs("", config("pathwise-iwae")) and iw_bound_runs("", config("ovis-S10-exclusive"))
    assert not iw_bound_runs("", config("ovis-gamma1", alpha=0.7))
    assert not iw_bound_runs("", config("tvo-part5-config2")) and not iw_bound_runs("", config("wake-wake"))
    assert iwr_bound_runs("", config("ovis-gamma1", alpha=0.7)) and iwr_bound_runs("", config("ovis-gamma1", warmup=10))
    assert not iwr_bound_runs("", config("ovis-gamma1")) and not iwr_bound_runs("", config("pathwise-iwae", alpha=0.7))


def _table(result):
    table = result.table
    return {(r["estimator"], int(r["iw"])): r for _, r in table.iterrows()}


@pytest.mark.parametrize("name,expected", [
    ("3-left", {("vimco-arithmetic", 0), ("ovis-gamma1", 0)}),
    ("3-right", {("ovis-gamma1", 500), ("tvo-part2-config1", 0)}),
])
def test_figure_3_panels_take_their_runs_and_report_their_values(tmp_path, name, expected):
    exp = _sbn_experiment(tmp_path)
    result = make_figure(name, exp, tmp_path / "out", formats=("png",))
    assert result.ok, result.notes
    selected = result.experiment.configs
    assert set(zip(selected["estimator"], selected["warmup"].astype(int))) == expected
    rows = _table(result)
    assert set(rows) == {(e, k) for e, _ in expected for k in (5, 10)}
    for estimator, warmup in expected:
        for iw in (5, 10):
            finals = [lk(estimator, warmup, iw, seed, STEPS[-1]) for seed in (1, 2)]
            row = rows[estimator, iw]
            assert row["max:test:loss/L_k mean"] == pytest.approx(np.mean(finals))
            assert row["max:test:loss/L_k std"] == pytest.approx(np.std(finals, ddof=1))
    png = tmp_path / "out" / "figure.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "out" / "summary.md").is_file()


def test_gmm_and_budget_presets(tmp_path):
    exp = tmp_path / "gmm"
    for estimator, error in (("wake-wake", 0.4), ("reinforce", 0.7)):
        for iw in (2, 5, 10):
            for seed in (1, 2, 3):
                rows = [{"step": s, "split": "test", "gmm/posterior_mse": error + seed / 100 + (300 - s) / 1000,
                         "gmm/prior_mse": error / 2} for s in STEPS]
                write_run(exp, f"{estimator}-K{iw}-s{seed}", {"dataset": "gmm-toy", "estimator": estimator,
                                                              "iw": iw, "seed": seed}, rows)
    result = make_figure("gmm", exp, tmp_path / "out-gmm", formats=("png",))
    assert result.ok, result.notes
    rows = _table(result)
    assert rows["wake-wake", 5]["last:test:gmm/posterior_mse mean"] == pytest.approx(0.42)
    assert rows["reinforce", 10]["min:test:gmm/posterior_mse mean"] == pytest.approx(0.72)
    assert rows["reinforce", 2]["last:test:gmm/prior_mse mean"] == pytest.approx(0.35)
    assert (tmp_path / "out-gmm" / "figure.png").is_file()

    budget = tmp_path / "budget"
    for estimator in ("ovis-S0.2", "ovis-S0.5"):
        for iw in (5, 10, 20):
            rows = [{"step": s, "split": "test", "loss/L_k": lk(estimator, 0, iw, 1, s)} for s in STEPS]
            write_run(budget, f"{estimator}-K{iw}", {"dataset": "mnist", "estimator": estimator, "iw": iw,
                                                     "seed": 1}, rows)
    result = make_figure("budget", budget, tmp_path / "out-budget", formats=("png",))
    assert result.ok, result.notes
    assert _table(result)["ovis-S0.5", 20]["max:test:loss/L_k mean"] == pytest.approx(lk("ovis-S0.5", 0, 20, 1, 300))
    assert (tmp_path / "out-budget" / "pivot" / "max-test-loss-L_k.png").is_file() or \
        any((tmp_path / "out-budget" / "pivot").glob("*.png"))


def test_figure_3_right_keeps_two_configurations_of_one_estimator_apart(tmp_path):
    """The Gaussian-VAE sweep trains ovis-gamma1 at alpha = 0.7 and with the warm-up: two curves, not
    one average of both; TVO, with one configuration, keeps its plain label."""
    from ovis.reporting.aggregate import curves
    from ovis.reporting.presets import plot_by_k

    exp = tmp_path / "vae"
    offsets = {("ovis-gamma1", 0.7, 0): 2.0, ("ovis-gamma1", 0.0, 250): 5.0, ("tvo-part5-config2", 0.0, 0): 0.0}
    for (estimator, alpha, warmup), offset in offsets.items():
        for iw in (5, 10):
            for seed in (1, 2):
                rows = [{"step": s, "split": "test", "loss/L_k": -100.0 + offset + iw / 10 + seed / 100 + s / 100}
                        for s in STEPS]
                write_run(exp, f"{estimator}-a{alpha}-w{warmup}-K{iw}-s{seed}",
                          {"dataset": "mnist", "estimator": estimator, "iw": iw, "seed": seed, "alpha": alpha,
                           "warmup": warmup}, rows)
    result = make_figure("3-right", exp, tmp_path / "out", formats=("png",))
    assert result.ok, result.notes
    table = result.table
    assert {"alpha", "warmup"} <= set(table.columns)
    assert len(table) == 6  # 3 configurations x 2 K
    for (estimator, alpha, warmup), offset in offsets.items():
        for iw in (5, 10):
            row = table[(table["estimator"] == estimator) & (table["iw"].astype(int) == iw)
                        & (table["alpha"].astype(float) == alpha) & (table["warmup"].astype(int) == warmup)]
            assert len(row) == 1
            expected = np.mean([-100.0 + offset + iw / 10 + seed / 100 + STEPS[-1] / 100 for seed in (1, 2)])
            assert row["max:test:loss/L_k mean"].iloc[0] == pytest.approx(expected)
    df = curves(result.experiment, "test:loss/L_k", ["dataset", "estimator", "iw", "alpha", "warmup"])
    figure = plot_by_k(df, "test:loss/L_k")
    labels = sorted(t.get_text() for t in figure.legends[0].get_texts())
    assert labels == sorted(["OVIS-~ (γ=1), α=0, warm-up 250", "OVIS-~ (γ=1), α=0.7, no warm-up",
                             "TVO (5 partitions, config2)"])


def test_variant_keys_only_where_a_group_mixes_values():
    import pandas as pd

    from ovis.reporting.presets import variant_keys

    configs = pd.DataFrame({"dataset": ["d"] * 4, "estimator": ["a", "a", "b", "b"], "iw": [5, 5, 5, 5],
                            "alpha": [0.0, 0.7, 0.5, 0.5], "warmup": [0, 0, 0, 0]})
    assert variant_keys(configs, ["dataset", "estimator", "iw"]) == ["alpha"]
    configs["warmup"] = [0, 0, 10, 10]  # warm-up differing between estimators only: not a variant
    configs["alpha"] = [0.0, 0.0, 0.0, 0.0]
    assert variant_keys(configs, ["dataset", "estimator", "iw"]) == []
    configs["alpha"] = [0.0, 0.0, 0.5, 0.5]  # alpha differing between estimators: kept for the labels
    assert variant_keys(configs, ["dataset", "estimator", "iw"]) == ["alpha"]
    assert variant_keys(configs.drop(columns=["alpha", "warmup"]), ["dataset", "estimator", "iw"]) == []


def test_budget_figure_labels_say_which_lines_train_a_renyi_bound(tmp_path):
    """The VAE budget sweep trains OVIS at alpha = 0.7 and pathwise IWAE at 0: the OVIS labels say so."""
    from ovis.reporting.aggregate import curves
    from ovis.reporting.presets import plot_by_k

    exp = tmp_path / "budget"
    for estimator, alpha in (("pathwise-iwae", 0.0), ("ovis-gamma1", 0.7), ("ovis-S0.2", 0.7)):
        for iw in (5, 10):
            rows = [{"step": s, "split": "test", "loss/L_k": -100.0 + iw + s / 100} for s in STEPS]
            write_run(exp, f"{estimator}-K{iw}", {"dataset": "mnist", "estimator": estimator, "iw": iw, "seed": 1,
                                                  "alpha": alpha, "warmup": 0}, rows)
    result = make_figure("budget", exp, tmp_path / "out", formats=("png",))
    assert result.ok, result.notes
    assert "alpha" in result.table.columns and "warmup" not in result.table.columns
    df = curves(result.experiment, "test:loss/L_k", ["dataset", "estimator", "iw", "alpha"])
    labels = sorted(t.get_text() for t in plot_by_k(df, "test:loss/L_k").legends[0].get_texts())
    assert labels == sorted(["IWAE (pathwise)", "OVIS-~ (γ=1), α=0.7", "OVIS-MC (S=0.2K, taken from K), α=0.7"])


def test_a_preset_without_its_metric_says_so(tmp_path):
    exp = tmp_path / "e"
    write_run(exp, "r", {"dataset": "d", "estimator": "vimco-arithmetic", "iw": 5, "seed": 1, "warmup": 0},
              [{"step": s, "split": "train", "loss/L_k": -1.0 * s} for s in STEPS])
    result = make_figure("3-left", exp, tmp_path / "out", formats=("png",))
    assert not (tmp_path / "out" / "figure.png").exists()
    assert any("test:loss/L_k" in n for n in result.notes)


def test_unknown_preset_lists_the_valid_ones(tmp_path):
    with pytest.raises(RegistryError, match="3-left"):
        make_figure("3-middle", tmp_path, tmp_path / "out")


# ------------------------------------------------------------------------------------------ asymptotic study
SLOPES = {"pathwise-iwae": -0.5, "ovis-gamma1": 0.5}
KS = (3, 10, 30, 100)


def _points(root: Path, noise: float = 0.0):
    rng = np.random.default_rng(0)
    for estimator, slope in SLOPES.items():
        for seed in (1, 2):
            folder = root / f"{estimator}-seed{seed}"
            folder.mkdir(parents=True)
            with open(folder / "points.jsonl", "w") as f:
                for K in KS:
                    snr = 2.0 * K ** slope * math.exp(noise * rng.standard_normal())
                    f.write(json.dumps({"estimator": estimator, "K": K, "snr": snr, "variance": K ** -1.0,
                                        "dsnr": snr / 2, "magnitude": 1.0, "samples": 50, "points": 256,
                                        "seconds": 0.1, "seed": seed}) + "\n")
                f.write("not json\n")


def test_study_slopes_exact_power_laws(tmp_path):
    _points(tmp_path)
    notes = []
    points = read_study_points(tmp_path, notes)
    assert len(points) == 2 * 2 * len(KS) and len(notes) == 4  # the bad lines are named
    table = study_slopes(points, "snr").set_index("estimator")
    for estimator, slope in SLOPES.items():
        assert table.loc[estimator, "slope"] == pytest.approx(slope)
        assert table.loc[estimator, "se"] == pytest.approx(0.0, abs=1e-9)
        assert table.loc[estimator, "per_seed"] == f"1: {slope:+.3f}, 2: {slope:+.3f}"
    assert study_slopes(points, "variance")["slope"].tolist() == pytest.approx([-1.0, -1.0])
    with pytest.raises(ValueError, match="snr"):
        study_slopes(points, "ssnr")


def test_study_slope_standard_error_matches_numpy(tmp_path):
    _points(tmp_path, noise=0.2)
    points = read_study_points(tmp_path)
    table = study_slopes(points, "snr").set_index("estimator")
    for estimator in SLOPES:
        part = points[points["estimator"] == estimator]
        coef, cov = np.polyfit(np.log(part["K"].to_numpy(float)), np.log(part["snr"].to_numpy()), 1, cov=True)
        assert table.loc[estimator, "slope"] == pytest.approx(coef[0])
        assert table.loc[estimator, "se"] == pytest.approx(math.sqrt(cov[0, 0]))


def test_asymptotic_variance_figure(tmp_path):
    _points(tmp_path / "study")
    result = make_figure("asymptotic-variance", tmp_path / "study", tmp_path / "out", formats=("png",))
    assert result.ok
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "| ovis-gamma1 | +0.500 |" in summary and "| pathwise-iwae | -0.500 |" in summary
    assert (tmp_path / "out" / "figure.png").read_bytes()[:4] == b"\x89PNG"
    assert not make_figure("asymptotic-variance", tmp_path / "empty-missing", tmp_path / "o2").ok


def test_presets_registry():
    assert FIGURES.names() == ["3-left", "3-right", "asymptotic-variance", "budget", "gmm"]


def test_report_cli_figure(tmp_path):
    from ovis.cli import main

    exp = _sbn_experiment(tmp_path)
    out = tmp_path / "cli-out"
    assert main(["report", "--root", str(tmp_path), "--exp", exp.name, "--figure", "3-left", "--out", str(out),
                 "--formats", "png", "--quiet"]) == 0
    assert (out / "figure.png").is_file()
    assert main(["report", "--root", str(tmp_path), "--exp", exp.name, "--figure", "nope", "--quiet"]) == 2
    assert main(["report", "--root", str(tmp_path), "--exp", exp.name, "--figure", "3-left",
                 "--metrics", "test:loss/L_k", "--quiet"]) == 2
