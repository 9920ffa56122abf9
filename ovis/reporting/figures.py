"""Paper figures from aggregated DataFrames (matplotlib, no pyplot state).

* :func:`plot_curves`: a metric against training steps, one line per group of runs (mean) with
  a shaded band (± std or sem), one panel per data set.
* :func:`plot_detailed`: a grid, one row per metric and one column per data set, showing every
  run (thin lines) under its group's mean.
* :func:`plot_pivot`: a pivot metric (one number per run) against K, one line per estimator,
  with error bars.
* :func:`plot_snr`: a gradient SNR against K on log-log axes, one line per estimator, with the
  fitted power law and its slope in the legend.

An estimator has the same colour in every figure (:func:`~ovis.reporting.naming.estimator_color`);
the other keys of a group (e.g. K in learning curves) are told apart by line style.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .aggregate import PivotSpec, group_records, loglog_slope
from .naming import estimator_color, format_value, group_label, metric_label

__all__ = ["PANEL_KEY", "X_KEY", "plot_curves", "plot_detailed", "plot_pivot", "plot_snr",
           "save_figure", "is_snr"]

PANEL_KEY = "dataset"
"""Config field whose values get a panel each."""
X_KEY = "iw"
"""Config field used as x axis of pivot and SNR plots (K, the number of particles)."""

_LINESTYLES = ["-", "--", ":", "-.", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (10, 3))]
_MARKERS = ["o", "s", "^", "D", "v", "P"]
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]
_LOG_METRICS = {"grads/snr", "grads/dsnr", "grads/variance", "grads/magnitude"}
_RC = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
    "legend.frameon": False, "pdf.fonttype": 42, "ps.fonttype": 42,
}
_PANEL_W, _PANEL_H = 3.4, 2.6


def is_snr(metric: str) -> bool:
    """Whether ``split:group/name`` is a signal-to-noise ratio (``grads/snr``, ``grads/dsnr``, ...)."""
    return metric.rpartition("/")[2].lower().endswith("snr")


class _Styles:
    """Colour, line style and marker of each line of a figure.

    ``line_keys`` are the keys that tell lines apart within a panel. With ``estimator`` among
    them the colour is the estimator's and the other keys get a line style (and marker) each;
    otherwise every line gets a colour of a fixed palette.
    """

    def __init__(self, groups: Sequence[Dict[str, Any]], line_keys: Sequence[str]):
        self.line_keys = list(line_keys)
        self.by_estimator = "estimator" in self.line_keys
        self.other = [k for k in self.line_keys if k != "estimator"]
        variants: List[Tuple[str, ...]] = []
        lines: List[Tuple[str, ...]] = []
        for g in groups:
            v = tuple(format_value(g[k]) for k in self.other)
            if v not in variants:
                variants.append(v)
            line = tuple(format_value(g[k]) for k in self.line_keys)
            if line not in lines:
                lines.append(line)
        self.variants = {v: i for i, v in enumerate(variants)}
        self.lines = {v: i for i, v in enumerate(lines)}

    def __call__(self, key_values: Dict[str, Any]) -> Dict[str, Any]:
        line = {k: key_values[k] for k in self.line_keys}
        if self.by_estimator:
            color = estimator_color(line["estimator"])
            i = self.variants[tuple(format_value(line[k]) for k in self.other)]
        else:
            color = _PALETTE[self.lines[tuple(format_value(line[k]) for k in self.line_keys)] % len(_PALETTE)]
            i = 0
        return {"color": color, "linestyle": _LINESTYLES[i % len(_LINESTYLES)],
                "marker": _MARKERS[i % len(_MARKERS)], "label": group_label(line)}


def _panels(df: pd.DataFrame, keys: Sequence[str]) -> List[Tuple[str, pd.DataFrame]]:
    """``(title, rows)`` per data set in the frame's order, or one untitled panel."""
    if PANEL_KEY not in keys:
        return [("", df)]
    out: Dict[str, List[int]] = {}
    for i, v in enumerate(df[PANEL_KEY].tolist()):
        out.setdefault(format_value(v), []).append(i)
    return [(title, df.iloc[rows]) for title, rows in out.items()]


def _figure(nrows: int, ncols: int, *, legend_rows: int = 0, extra_w: float = 0.0) -> Tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(_PANEL_W * ncols + extra_w, _PANEL_H * nrows + 0.22 * legend_rows + 0.15),
                 layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _grid(n: int, max_cols: int = 3) -> Tuple[int, int]:
    ncols = min(n, max_cols)
    return math.ceil(n / ncols), ncols


def _legend_columns(labels: Sequence[str], fig_width: float) -> int:
    width = max(len(s) for s in labels) * 0.075 + 0.5  # inches per entry at 8 pt
    return max(1, min(len(labels), int(fig_width // width)))


def _figure_legend(fig: Figure, entries: Dict[str, Dict[str, Any]], *, markers: bool = False) -> None:
    if not entries:
        return
    handles = [Line2D([], [], color=s["color"], linestyle=s["linestyle"], linewidth=1.5,
                      marker=s["marker"] if markers else None, markersize=4)
               for s in entries.values()]
    labels = list(entries)
    ncols = _legend_columns(labels, fig.get_figwidth())
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, handlelength=2.6)


def _legend_rows(groups: Sequence[Dict[str, Any]], styles: _Styles, fig_width: float) -> int:
    labels = list(dict.fromkeys(styles(g)["label"] for g in groups))
    return math.ceil(len(labels) / _legend_columns(labels, fig_width)) if labels else 0


def _hide_unused(axes: np.ndarray, used: int) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)


def _log_y(ax) -> None:
    """Log y axis with plain tick labels (``0.3``, ``4``, ``100``) instead of ``3×10^-1``."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(1.5, 0.6)))


def _dodge(i: int, n: int) -> float:
    """Multiplicative x offset of line ``i`` of ``n`` so error bars at the same K do not overlap."""
    return 2.0 ** (0.045 * (i - (n - 1) / 2))


def _apply_ylim(ax, ylim: Optional[Tuple[Optional[float], Optional[float]]]) -> None:
    if ylim is not None:
        ax.set_ylim(bottom=ylim[0], top=ylim[1])


def _steps_axis(ax) -> None:
    ax.xaxis.set_major_formatter(ticker.EngFormatter(sep=""))
    ax.set_xlabel("training steps")


def _line_keys(keys: Sequence[str], *drop: str) -> List[str]:
    return [k for k in keys if k not in (PANEL_KEY, *drop)]


def plot_curves(df: pd.DataFrame, metric: str, keys: Sequence[str], *,
                ylim: Optional[Tuple[Optional[float], Optional[float]]] = None,
                error: str = "std") -> Figure:
    """A metric against training steps.

    Args:
        df: :func:`~ovis.reporting.aggregate.curves` output (``*keys, step, mean, err, n``).
        metric: ``split:group/name``, for the y label.
        keys: the group keys; ``dataset`` gives one panel per value.
        ylim: ``(bottom, top)``, either may be None.
        error: what ``err`` is (``std`` or ``sem``), said in the band's caption.
    """
    with matplotlib.rc_context(_RC):
        groups = [g for g, _ in group_records(df, keys)]
        styles = _Styles(groups, _line_keys(keys))
        panels = _panels(df, keys)
        nrows, ncols = _grid(len(panels))
        width = _PANEL_W * ncols
        fig, axes = _figure(nrows, ncols, legend_rows=_legend_rows(groups, styles, width))
        log = metric.partition(":")[2] in _LOG_METRICS and bool((df["mean"] > 0).all())
        entries: Dict[str, Dict[str, Any]] = {}
        for ax, (title, panel) in zip(axes.flat, panels):
            for key_values, rows in group_records(panel, keys):
                style = styles(key_values)
                entries.setdefault(style["label"], style)
                x, y = rows["step"].to_numpy(float), rows["mean"].to_numpy(float)
                err = rows["err"].to_numpy(float)
                ax.plot(x, y, color=style["color"], linestyle=style["linestyle"], linewidth=1.4)
                if np.isfinite(err).any():
                    lo, hi = y - err, y + err
                    if log:
                        lo = np.where(lo > 0, lo, y * 0.5)
                    ax.fill_between(x, lo, hi, color=style["color"], alpha=0.18, linewidth=0)
            if log:
                _log_y(ax)
            ax.set_title(title)
            ax.set_ylabel(metric_label(metric))
            _steps_axis(ax)
            _apply_ylim(ax, ylim)
        _hide_unused(axes, len(panels))
        _figure_legend(fig, entries)
    return fig


def plot_detailed(runs: Dict[str, pd.DataFrame], means: Dict[str, pd.DataFrame], keys: Sequence[str], *,
                  ylims: Optional[Dict[str, Tuple[Optional[float], Optional[float]]]] = None) -> Figure:
    """A grid of learning curves, one row per metric and one column per data set: every run as a
    thin line, its group's mean as a thick one.

    Args:
        runs: metric -> :func:`~ovis.reporting.aggregate.run_curves` output.
        means: metric -> :func:`~ovis.reporting.aggregate.curves` output.
        keys: the group keys; ``dataset`` gives one column per value.
        ylims: metric -> ``(bottom, top)``.
    """
    ylims = ylims or {}
    metrics = list(means)
    with matplotlib.rc_context(_RC):
        all_means = pd.concat([means[m] for m in metrics], ignore_index=True)
        groups = [g for g, _ in group_records(all_means, keys)]
        styles = _Styles(groups, _line_keys(keys))
        columns = [t for t, _ in _panels(all_means, keys)]
        ncols = len(columns)
        fig, axes = _figure(len(metrics), ncols,
                            legend_rows=_legend_rows(groups, styles, _PANEL_W * ncols))
        entries: Dict[str, Dict[str, Any]] = {}
        for r, metric in enumerate(metrics):
            run_panels = dict(_panels(runs[metric], keys))
            mean_panels = dict(_panels(means[metric], keys))
            for c, title in enumerate(columns):
                ax = axes[r, c]
                if title in run_panels:
                    for _, rows in run_panels[title].groupby("run_id", sort=False):
                        key_values = {k: rows[k].iloc[0] for k in keys}
                        style = styles(key_values)
                        ax.plot(rows["step"], rows["value"], color=style["color"],
                                linestyle=style["linestyle"], linewidth=0.6, alpha=0.35)
                if title in mean_panels:
                    for key_values, rows in group_records(mean_panels[title], keys):
                        style = styles(key_values)
                        entries.setdefault(style["label"], style)
                        ax.plot(rows["step"], rows["mean"], color=style["color"],
                                linestyle=style["linestyle"], linewidth=1.6)
                else:
                    ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center",
                            va="center", color="0.5")
                if metric.partition(":")[2] in _LOG_METRICS and bool((runs[metric]["value"] > 0).all()):
                    _log_y(ax)
                if r == 0:
                    ax.set_title(title)
                if c == 0:
                    ax.set_ylabel(metric_label(metric))
                if r == len(metrics) - 1:
                    _steps_axis(ax)
                else:
                    ax.xaxis.set_major_formatter(ticker.EngFormatter(sep=""))
                _apply_ylim(ax, ylims.get(metric))
        _figure_legend(fig, entries)
    return fig


def _k_axis(ax, ks: Sequence[float], *, log: bool = False) -> None:
    ks = sorted({float(k) for k in ks if np.isfinite(k) and k > 0})
    if log or (ks and ks[-1] / ks[0] >= 4):
        ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [format_value(k) for k in ks])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xlabel("K (particles)")


def plot_pivot(df: pd.DataFrame, spec: PivotSpec, keys: Sequence[str], *,
               ylim: Optional[Tuple[Optional[float], Optional[float]]] = None) -> Figure:
    """A pivot metric against K (``iw``), one line per estimator (and other keys), error bars
    ± err, one panel per data set.

    Args:
        df: :func:`~ovis.reporting.aggregate.pivot_values` output; ``iw`` must be among ``keys``.
    """
    if X_KEY not in keys:
        raise ValueError(f"plot_pivot needs {X_KEY!r} among the keys, got {list(keys)}")
    line_keys = _line_keys(keys, X_KEY)
    with matplotlib.rc_context(_RC):
        lines = [g for g, _ in group_records(df, [k for k in keys if k != X_KEY])]
        styles = _Styles(lines, line_keys)
        panels = _panels(df, keys)
        nrows, ncols = _grid(len(panels))
        fig, axes = _figure(nrows, ncols, legend_rows=_legend_rows(lines, styles, _PANEL_W * ncols))
        entries: Dict[str, Dict[str, Any]] = {}
        for ax, (title, panel) in zip(axes.flat, panels):
            records = group_records(panel, [k for k in keys if k != X_KEY])
            for i, (key_values, rows) in enumerate(records):
                style = styles(key_values)
                entries.setdefault(style["label"], style)
                rows = rows.assign(_k=pd.to_numeric(rows[X_KEY], errors="coerce")).sort_values("_k")
                err = np.nan_to_num(rows["err"].to_numpy(float))
                ax.errorbar(rows["_k"] * _dodge(i, len(records)), rows["mean"].to_numpy(float), yerr=err, color=style["color"],
                            linestyle=style["linestyle"], marker=style["marker"], markersize=4,
                            linewidth=1.4, capsize=2.5, elinewidth=1)
            _k_axis(ax, pd.to_numeric(panel[X_KEY], errors="coerce"))
            ax.set_title(title)
            ax.set_ylabel(metric_label(spec.metric, spec.aggregation))
            _apply_ylim(ax, ylim)
        _hide_unused(axes, len(panels))
        _figure_legend(fig, entries, markers=True)
    return fig


def plot_snr(df: pd.DataFrame, spec: PivotSpec, keys: Sequence[str]) -> Tuple[Figure, Dict[Tuple[str, str], float]]:
    """A gradient SNR against K on log-log axes, one line per estimator with error bars, and the
    power law ``SNR ~ K^slope`` fitted to the group means (dashed) with its slope in the legend.
    One panel per data set (stacked, each with its own legend since slopes differ).

    Args:
        df: :func:`~ovis.reporting.aggregate.pivot_values` output; ``iw`` must be among ``keys``.

    Returns:
        ``(figure, slopes)`` with ``slopes[(panel title, line label)] = slope`` for each line
        with at least two values of K.
    """
    if X_KEY not in keys:
        raise ValueError(f"plot_snr needs {X_KEY!r} among the keys, got {list(keys)}")
    line_keys = _line_keys(keys, X_KEY)
    not_x = [k for k in keys if k != X_KEY]
    slopes: Dict[Tuple[str, str], float] = {}
    with matplotlib.rc_context(_RC):
        lines = [g for g, _ in group_records(df, not_x)]
        styles = _Styles(lines, line_keys)
        panels = _panels(df, keys)
        longest = max((len(styles(g)["label"]) for g in lines), default=10) + 16
        fig, axes = _figure(len(panels), 1, extra_w=longest * 0.07)
        for ax, (title, panel) in zip(axes.flat, panels):
            records = group_records(panel, not_x)
            for i, (key_values, rows) in enumerate(records):
                style = styles(key_values)
                rows = rows.assign(_k=pd.to_numeric(rows[X_KEY], errors="coerce")).sort_values("_k")
                rows = rows[(rows["mean"] > 0) & (rows["_k"] > 0)]
                if rows.empty:
                    continue
                k, y = rows["_k"].to_numpy(float), rows["mean"].to_numpy(float)
                err = np.nan_to_num(rows["err"].to_numpy(float))
                lower = np.minimum(err, y * 0.95)  # keep the bar above zero on a log axis
                fit = loglog_slope(k, y)
                label = style["label"]
                if fit is not None:
                    slope, intercept = fit
                    slopes[(title, label)] = slope
                    label = f"{label}: slope {slope:+.2f}"
                    grid = np.geomspace(k.min(), k.max(), 50)
                    ax.plot(grid, np.exp(intercept) * grid ** slope, color=style["color"],
                            linestyle=(0, (2, 2)), linewidth=1, alpha=0.8)
                ax.errorbar(k * _dodge(i, len(records)), y, yerr=[lower, err], color=style["color"], linestyle=style["linestyle"],
                            marker=style["marker"], markersize=4, linewidth=1.4, capsize=2.5,
                            elinewidth=1, label=label)
            _log_y(ax)
            _k_axis(ax, pd.to_numeric(panel[X_KEY], errors="coerce"), log=True)
            ax.set_title(title)
            ax.set_ylabel(metric_label(spec.metric, spec.aggregation))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title=r"fit: SNR $\propto K^{\mathrm{slope}}$",
                          title_fontsize=8, alignment="left")
    return fig, slopes


def save_figure(fig: Figure, stem: Path | str, *, formats: Sequence[str] = ("png", "pdf"),
                dpi: int = 150) -> List[Path]:
    """Write ``fig`` to ``stem.png`` and ``stem.pdf`` (creating folders) and return the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(_RC):
        for fmt in formats:
            path = stem.parent / f"{stem.name}.{fmt}"
            fig.savefig(path, dpi=dpi)
            paths.append(path)
    return paths
