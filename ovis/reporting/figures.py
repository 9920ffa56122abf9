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

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..runs import atomic_write
from .aggregate import PivotSpec, group_records, loglog_slope
from .layout import (FEW, PANEL_KEY, RC, X_KEY, Styles, apply_ylim, dodge, figure_legend, grid, has_few_points,
                     hide_unused, k_axis, log_y, new_figure, set_ylabel, split_panels, steps_axis)
from .naming import metric_label

__all__ = ["PANEL_KEY", "X_KEY", "plot_curves", "plot_detailed", "plot_pivot", "plot_snr",
           "save_figure", "is_snr"]

_LOG_METRICS = {"grads/snr", "grads/dsnr", "grads/variance", "grads/magnitude"}


def is_snr(metric: str) -> bool:
    """Whether ``split:group/name`` is a signal-to-noise ratio (``grads/snr``, ``grads/dsnr``, or a
    statistic of the ``snr`` group such as ``snr/p50``)."""
    group, _, name = metric.partition(":")[2].rpartition("/")
    return name.lower().endswith("snr") or group.lower() == "snr"


def _log_scale(metric: str, values: pd.Series) -> bool:
    """Gradient SNR, variance and magnitude span decades: log axis when all values are positive."""
    return (metric.partition(":")[2] in _LOG_METRICS or is_snr(metric)) and bool((values > 0).all())


def _line_keys(keys: Sequence[str], *drop: str) -> List[str]:
    return [k for k in keys if k not in (PANEL_KEY, *drop)]


def plot_curves(df: pd.DataFrame, metric: str, keys: Sequence[str], *,
                ylim: Optional[Tuple[Optional[float], Optional[float]]] = None,
                error: str = "std", particles: Optional[Dict[str, int]] = None) -> Figure:
    """A metric against training steps (``particles``: split -> K of its bound, for the label).

    Arguments:
        df: :func:`~ovis.reporting.aggregate.curves` output (``*keys, step, mean, err, n``).
        metric: ``split:group/name``, for the y label.
        keys: the group keys; ``dataset`` gives one panel per value.
        ylim: ``(bottom, top)``, either may be None.
        error: what ``err`` is (``std`` or ``sem``), said in the band's caption.
    """
    with matplotlib.rc_context(RC):
        groups = [g for g, _ in group_records(df, keys)]
        styles = Styles(groups, _line_keys(keys))
        panels = split_panels(df, keys)
        nrows, ncols = grid(len(panels))
        fig, axes = new_figure(nrows, ncols, styles)
        log = _log_scale(metric, df["mean"])
        for ax, (title, panel) in zip(axes.flat, panels):
            for key_values, rows in group_records(panel, keys):
                style = styles(key_values)
                x, y = rows["step"].to_numpy(float), rows["mean"].to_numpy(float)
                err = rows["err"].to_numpy(float)
                if log:
                    err = np.minimum(err, y * 0.5)  # keep the band above zero on a log axis
                if len(x) < 2:  # a single evaluation: a point with an error bar, not an invisible line
                    ax.errorbar(x, y, yerr=np.nan_to_num(err), color=style["color"], marker=style["marker"],
                                markersize=4, capsize=2.5, elinewidth=1)
                    continue
                ax.plot(x, y, color=style["color"], linestyle=style["linestyle"], linewidth=1.4,
                        marker=style["marker"] if len(x) <= FEW else None, markersize=3.5)
                if np.isfinite(err).any():
                    ax.fill_between(x, y - err, y + err, color=style["color"], alpha=0.18, linewidth=0)
            if log:
                log_y(ax)
            ax.set_title(title)
            set_ylabel(ax, metric_label(metric, particles=particles))
            steps_axis(ax)
            apply_ylim(ax, ylim)
        hide_unused(axes, len(panels))
        figure_legend(fig, styles, markers=has_few_points(df, keys))
    return fig


def plot_detailed(runs: Dict[str, pd.DataFrame], means: Dict[str, pd.DataFrame], keys: Sequence[str], *,
                  ylims: Optional[Dict[str, Tuple[Optional[float], Optional[float]]]] = None,
                  particles: Optional[Dict[str, int]] = None) -> Figure:
    """A grid of learning curves, one row per metric and one column per data set: every run as a
    thin line, its group's mean as a thick one.

    Arguments:
        runs: metric -> :func:`~ovis.reporting.aggregate.run_curves` output.
        means: metric -> :func:`~ovis.reporting.aggregate.curves` output.
        keys: the group keys; ``dataset`` gives one column per value.
        ylims: metric -> ``(bottom, top)``.
    """
    ylims = ylims or {}
    metrics = list(means)
    with matplotlib.rc_context(RC):
        all_means = pd.concat([means[m] for m in metrics], ignore_index=True)
        groups = [g for g, _ in group_records(all_means, keys)]
        styles = Styles(groups, _line_keys(keys))
        columns = [t for t, _ in split_panels(all_means, keys)]
        ncols = len(columns)
        fig, axes = new_figure(len(metrics), ncols, styles)
        for r, metric in enumerate(metrics):
            run_panels = dict(split_panels(runs[metric], keys))
            mean_panels = dict(split_panels(means[metric], keys))
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
                        ax.plot(rows["step"], rows["mean"], color=style["color"],
                                linestyle=style["linestyle"], linewidth=1.6,
                                marker=style["marker"] if len(rows) <= FEW else None, markersize=3.5)
                else:
                    ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center",
                            va="center", color="0.5")
                if _log_scale(metric, runs[metric]["value"]):
                    log_y(ax)
                if r == 0:
                    ax.set_title(title)
                if c == 0:
                    set_ylabel(ax, metric_label(metric, particles=particles))
                steps_axis(ax, label=r == len(metrics) - 1)
                apply_ylim(ax, ylims.get(metric))
        figure_legend(fig, styles, markers=any(has_few_points(means[m], keys) for m in metrics))
    return fig


def plot_pivot(df: pd.DataFrame, spec: PivotSpec, keys: Sequence[str], *,
               ylim: Optional[Tuple[Optional[float], Optional[float]]] = None,
               particles: Optional[Dict[str, int]] = None) -> Figure:
    """A pivot metric against K (``iw``), one line per estimator (and other keys), error bars
    ± err, one panel per data set.

    Arguments:
        df: :func:`~ovis.reporting.aggregate.pivot_values` output; ``iw`` must be among ``keys``.
    """
    if X_KEY not in keys:
        raise ValueError(f"plot_pivot needs {X_KEY!r} among the keys, got {list(keys)}")
    line_keys = _line_keys(keys, X_KEY)
    with matplotlib.rc_context(RC):
        lines = [g for g, _ in group_records(df, [k for k in keys if k != X_KEY])]
        styles = Styles(lines, line_keys)
        panels = split_panels(df, keys)
        nrows, ncols = grid(len(panels))
        fig, axes = new_figure(nrows, ncols, styles)
        for ax, (title, panel) in zip(axes.flat, panels):
            records = group_records(panel, [k for k in keys if k != X_KEY])
            for i, (key_values, rows) in enumerate(records):
                style = styles(key_values)
                rows = rows.assign(_k=pd.to_numeric(rows[X_KEY], errors="coerce")).sort_values("_k")
                err = np.nan_to_num(rows["err"].to_numpy(float))
                ax.errorbar(rows["_k"] * dodge(i, len(records)), rows["mean"].to_numpy(float), yerr=err, color=style["color"],
                            linestyle=style["linestyle"], marker=style["marker"], markersize=4,
                            linewidth=1.4, capsize=2.5, elinewidth=1)
            k_axis(ax, pd.to_numeric(panel[X_KEY], errors="coerce"))
            ax.set_title(title)
            set_ylabel(ax, metric_label(spec.metric, spec.aggregation, particles))
            apply_ylim(ax, ylim)
        hide_unused(axes, len(panels))
        figure_legend(fig, styles, markers=True)
    return fig


def plot_snr(df: pd.DataFrame, spec: PivotSpec, keys: Sequence[str], particles: Optional[Dict[str, int]] = None
             ) -> Tuple[Figure, Dict[Tuple[str, str], float]]:
    """A gradient SNR against K on log-log axes, one line per estimator with error bars, and the
    power law ``SNR ~ K^slope`` fitted to the group means (dashed) with its slope in the legend.
    One panel per data set (stacked, each with its own legend since slopes differ).

    Arguments:
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
    with matplotlib.rc_context(RC):
        lines = [g for g, _ in group_records(df, not_x)]
        styles = Styles(lines, line_keys)
        panels = split_panels(df, keys)
        longest = max((len(styles(g)["label"]) for g in lines), default=10) + 16
        fig, axes = new_figure(len(panels), 1, extra_w=longest * 0.068 + 0.6)
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
                    label = f"{label}: slope {_signed(slope)}"
                    k_fit = np.geomspace(k.min(), k.max(), 50)
                    ax.plot(k_fit, np.exp(intercept) * k_fit ** slope, color=style["color"],
                            linestyle=(0, (2, 2)), linewidth=1, alpha=0.8)
                ax.errorbar(k * dodge(i, len(records)), y, yerr=[lower, err], color=style["color"], linestyle=style["linestyle"],
                            marker=style["marker"], markersize=4, linewidth=1.4, capsize=2.5,
                            elinewidth=1, label=label)
            log_y(ax)
            k_axis(ax, pd.to_numeric(panel[X_KEY], errors="coerce"), log=True)
            ax.set_title(title)
            set_ylabel(ax, metric_label(spec.metric, spec.aggregation, particles))
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title=r"fit: SNR $\propto K^{\mathrm{slope}}$",
                          title_fontsize=8, alignment="left")
    return fig, slopes


def _signed(x: float) -> str:
    text = f"{x:+.2f}"
    return "+0.00" if text == "-0.00" else text


def save_figure(fig: Figure, stem: Path | str, *, formats: Sequence[str] = ("png", "pdf"),
                dpi: int = 150) -> List[Path]:
    """Write ``fig`` to ``stem.png`` and ``stem.pdf`` (creating folders) and return the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    with matplotlib.rc_context(RC):
        for fmt in formats:
            path = stem.parent / f"{stem.name}.{fmt}"
            atomic_write(str(path), lambda f: fig.savefig(f, dpi=dpi, format=fmt), binary=True)
            paths.append(path)
    return paths
