"""Figures: files written, one colour per estimator, paper names in legends, axes and scales."""
import matplotlib.colors as mcolors
import pytest

from ovis.reporting.aggregate import curves, parse_pivot, pivot_values, run_curves
from ovis.reporting.figures import is_snr, plot_curves, plot_detailed, plot_pivot, plot_snr, save_figure
from ovis.reporting.naming import estimator_color

from .synthetic import DATASETS, ESTIMATORS, KS

KEYS = ["dataset", "estimator", "iw"]


def _legend_texts(fig):
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def _assert_written(paths):
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert all(p.stat().st_size > 5000 for p in paths)


def test_curves_figure(experiment, tmp_path):
    df = curves(experiment, "test:loss/L_k", KEYS)
    fig = plot_curves(df, "test:loss/L_k", KEYS, ylim=(-120, None))
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == list(DATASETS)
    for ax in axes:
        assert ax.get_xlabel() == "training steps"
        assert ax.get_ylabel() == "test L_K (nats)"
        assert ax.get_ylim()[0] == -120
        assert len(ax.lines) == len(ESTIMATORS) * len(KS)
        assert len(ax.collections) == len(ESTIMATORS) * len(KS)  # one band per line
    assert _legend_texts(fig) == ["VIMCO (arithmetic), K=4", "VIMCO (arithmetic), K=16",
                                  "OVIS-~ (γ=1), K=4", "OVIS-~ (γ=1), K=16"]
    colours = {mcolors.to_hex(line.get_color()) for line in axes[0].lines}
    assert colours == {estimator_color(e) for e in ESTIMATORS}
    _assert_written(save_figure(fig, tmp_path / "curves" / "test-loss-L_k"))


def test_snr_curves_use_a_log_axis(experiment):
    fig = plot_curves(curves(experiment, "train:grads/snr", KEYS), "train:grads/snr", KEYS)
    assert fig.axes[0].get_yscale() == "log"


def test_many_lines_get_a_factorised_legend(experiment):
    # 2 estimators x 2 K x 3 seeds = 12 lines: colours name estimators, line styles the rest
    df = curves(experiment, "test:loss/L_k", ["estimator", "iw", "seed"])
    fig = plot_curves(df, "test:loss/L_k", ["estimator", "iw", "seed"])
    texts = _legend_texts(fig)
    assert "VIMCO (arithmetic)" in texts and "OVIS-~ (γ=1)" in texts
    assert "K=4, seed=1" in texts
    assert len(texts) == len(ESTIMATORS) + len(KS) * 3


def test_detailed_figure(experiment, tmp_path):
    metrics = ["test:loss/L_k", "train:grads/snr"]
    runs = {m: run_curves(experiment, m, KEYS) for m in metrics}
    means = {m: curves(experiment, m, KEYS) for m in metrics}
    fig = plot_detailed(runs, means, KEYS, ylims={"test:loss/L_k": (None, -80)})
    assert len(fig.axes) == len(metrics) * len(DATASETS)
    first = fig.axes[0]
    n_runs = len(experiment.runs) // len(DATASETS)
    assert len(first.lines) == n_runs + len(ESTIMATORS) * len(KS)  # every run + the means
    assert first.get_ylim()[1] == -80
    assert fig.axes[0].get_ylabel() == "test L_K (nats)" and fig.axes[2].get_ylabel() == "train gradient SNR"
    _assert_written(save_figure(fig, tmp_path / "detailed"))


def test_pivot_figure(experiment, tmp_path):
    spec = parse_pivot("max:test:loss/L_k")
    fig = plot_pivot(pivot_values(experiment, spec, KEYS), spec, KEYS)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "K (particles)"
    assert ax.get_ylabel() == "test L_K (nats), max"
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in KS]
    assert _legend_texts(fig) == ["VIMCO (arithmetic)", "OVIS-~ (γ=1)"]
    _assert_written(save_figure(fig, tmp_path / "pivot"))


def test_pivot_needs_k():
    with pytest.raises(ValueError, match="'iw'"):
        plot_pivot(None, parse_pivot("max:test:loss/L_k"), ["dataset", "estimator"])


def test_snr_figure_fits_slopes(experiment, tmp_path):
    spec = parse_pivot("mean:train:grads/snr")
    fig, slopes = plot_snr(pivot_values(experiment, spec, KEYS), spec, KEYS)
    assert slopes[("digits", "OVIS-~ (γ=1)")] == pytest.approx(0.5)
    assert slopes[("fashion", "VIMCO (arithmetic)")] == pytest.approx(-0.5)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["VIMCO (arithmetic): slope -0.50", "OVIS-~ (γ=1): slope +0.50"]
    _assert_written(save_figure(fig, tmp_path / "snr"))


@pytest.mark.parametrize("metric, expected", [
    ("train:grads/snr", True), ("train:grads/dsnr", True), ("test:loss/L_k", False), ("train:snr_stuff/var", False)])
def test_is_snr(metric, expected):
    assert is_snr(metric) is expected


def test_save_figure_keeps_dots_in_names(experiment, tmp_path):
    fig = plot_curves(curves(experiment, "test:loss/L_k", KEYS), "test:loss/L_k", KEYS)
    paths = save_figure(fig, tmp_path / "beta0.5", formats=["png"])
    assert [p.name for p in paths] == ["beta0.5.png"]


def test_single_evaluation_is_drawn_as_points(tmp_path):
    from ovis.reporting.runs import read_experiment

    from .synthetic import write_run

    for e in ESTIMATORS:
        for seed in (1, 2):
            write_run(tmp_path, f"{e}-{seed}", {"dataset": "digits", "estimator": e, "iw": 4, "seed": seed},
                      [{"step": 150, "split": "test", "loss/L_k": -27.0 - seed}])
    exp = read_experiment(tmp_path)
    fig = plot_curves(curves(exp, "test:loss/L_k", KEYS), "test:loss/L_k", KEYS)
    ax = fig.axes[0]
    points = [line for line in ax.lines if line.get_marker() not in (None, "None", "", "_")]  # "_": caps
    assert len(points) == len(ESTIMATORS)  # one marker per group, with its error bar
    assert all(line.get_xdata()[0] == 150 for line in points)
    handles = fig.legends[0].legend_handles
    assert all(h.get_marker() not in (None, "None", "") for h in handles)  # the legend shows the markers
