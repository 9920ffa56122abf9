"""Figure layout: grids, legends, line styles, axes."""
import math

import pytest
from matplotlib.figure import Figure

from ovis.reporting.layout import (LINESTYLES, Styles, _legend_columns, dodge, grid, k_axis, log_y, new_figure,
                                   set_ylabel)
from ovis.reporting.naming import estimator_color


@pytest.mark.parametrize("n, shape", [(1, (1, 1)), (2, (1, 2)), (3, (1, 3)), (4, (2, 2)), (5, (2, 3)),
                                      (6, (2, 3)), (7, (3, 3)), (10, (4, 3))])
def test_grid_holds_every_panel_squarely(n, shape):
    rows, cols = grid(n)
    assert (rows, cols) == shape and rows * cols >= n and cols <= 3
    assert rows * cols - n < cols  # no empty row


@pytest.mark.parametrize("n", range(1, 15))
@pytest.mark.parametrize("width", [3.4, 6.8, 10.2])
def test_legend_columns_balance_rows(n, width):
    labels = ["OVIS-~ (γ=1), K=16"] * n
    cols = _legend_columns(labels, width)
    rows = math.ceil(n / cols)
    assert 1 <= cols <= n
    assert math.ceil(n / (cols - 1)) > rows if cols > 1 else True  # one column fewer would add a row
    assert rows * cols - n < rows  # the last column is not nearly empty


def _groups(estimators, ks):
    return [{"estimator": e, "iw": k} for e in estimators for k in ks]


def test_styles_colour_by_estimator_and_style_by_variant():
    styles = Styles(_groups(["reinforce", "ovis-gamma1"], [4, 16, 64]), ["estimator", "iw"])
    a, b = styles({"estimator": "ovis-gamma1", "iw": 4}), styles({"estimator": "ovis-gamma1", "iw": 64})
    assert a["color"] == b["color"] == estimator_color("ovis-gamma1")
    assert a["linestyle"] == LINESTYLES[0] and b["linestyle"] == LINESTYLES[2]
    assert styles({"estimator": "reinforce", "iw": 64})["linestyle"] == b["linestyle"]
    assert a["label"] == "OVIS-~ (γ=1), K=4"


def test_styles_without_estimator_use_a_palette():
    styles = Styles([{"lr": 0.1}, {"lr": 0.01}], ["lr"])
    colours = {styles({"lr": 0.1})["color"], styles({"lr": 0.01})["color"]}
    assert len(colours) == 2


@pytest.mark.parametrize("n_est, n_k, factorised", [(2, 2, False), (3, 3, True), (8, 1, False), (1, 9, False)])
def test_legend_factorises_many_lines(n_est, n_k, factorised):
    estimators = ["reinforce", "vimco-arithmetic", "ovis-gamma1", "ovis-gamma0", "pathwise-iwae", "stl", "dreg",
                  "wake-wake"][:n_est]
    styles = Styles(_groups(estimators, [2 ** i for i in range(n_k)]), ["estimator", "iw"])
    main, extra = styles.legend()
    assert styles.factorised is factorised
    if factorised:
        assert len(main) == n_est and len(extra) == n_k
        assert list(extra)[0] == "K=1"
    else:
        assert len(main) == n_est * n_k and extra == {}


def test_new_figure_makes_room_for_the_legend():
    small, _ = new_figure(1, 1)
    many = Styles(_groups(["reinforce", "vimco-arithmetic", "ovis-gamma1"], [1, 2, 4, 8]), ["estimator", "iw"])
    big, axes = new_figure(1, 1, many)
    assert axes.shape == (1, 1)
    assert big.get_figwidth() > small.get_figwidth() and big.get_figheight() > small.get_figheight()


def test_log_y_spans_a_decade():
    ax = Figure().subplots()
    ax.plot([1, 2], [0.09, 0.13])
    log_y(ax)
    lo, hi = ax.get_ylim()
    assert ax.get_yscale() == "log" and hi / lo == pytest.approx(10)
    assert lo < 0.09 and hi > 0.13


def test_set_ylabel_wraps_long_labels():
    ax = Figure().subplots()
    set_ylabel(ax, "train gradient SNR (p50), mean over steps")
    assert ax.get_ylabel() == "train gradient SNR (p50),\nmean over steps"
    set_ylabel(ax, "test L_K (nats)")
    assert ax.get_ylabel() == "test L_K (nats)"


@pytest.mark.parametrize("n", [1, 2, 5])
def test_dodge_is_symmetric(n):
    offsets = [dodge(i, n) for i in range(n)]
    assert math.prod(offsets) == pytest.approx(1.0)
    assert all(0.8 < o < 1.25 for o in offsets)


def test_k_axis_ticks_at_the_values_of_k():
    ax = Figure().subplots()
    ax.plot([5, 20, 1000], [1, 2, 3])
    k_axis(ax, [5, 20, 1000, float("nan")])
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "20", "1000"]
    assert ax.get_xlabel() == "K (particles)"
