"""Figure layout and style shared by every plot of a report: panels, sizes, legends, line
styles, axes.

* :class:`Styles`: each line's colour (the estimator's, see
  :func:`~ovis.reporting.naming.estimator_color`), line style and marker (the other keys, e.g. K),
  and the legend: one entry per line, or, with many lines, colours (estimators) below the panels
  and line styles (K) on the right.
* :func:`new_figure`: panels of fixed size with room for the legend; :func:`split_panels`: one panel
  per data set.
* Axes: :func:`steps_axis`, :func:`k_axis`, :func:`log_y` (plain tick labels, at least a
  decade), :func:`set_ylabel` (long labels on two lines).
"""
from __future__ import annotations

import math
import textwrap
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .aggregate import group_records
from .naming import estimator_color, format_value, group_label

__all__ = ["PANEL_KEY", "X_KEY", "RC", "FEW", "Styles", "split_panels", "grid", "new_figure", "figure_legend",
           "has_few_points", "hide_unused", "log_y", "set_ylabel", "dodge", "apply_ylim", "steps_axis",
           "k_axis"]

PANEL_KEY = "dataset"
"""Config field whose values get a panel each."""
X_KEY = "iw"
"""Config field used as x axis of pivot and SNR plots (K, the number of particles)."""

LINESTYLES = ["-", "--", ":", "-.", (0, (6, 1.5, 1, 1.5, 1, 1.5)), (0, (10, 3))]
MARKERS = ["o", "s", "^", "D", "v", "P"]
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"]
RC = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.grid": True, "grid.alpha": 0.3,
    "grid.linewidth": 0.6, "axes.spines.top": False, "axes.spines.right": False,
    "legend.frameon": False, "pdf.fonttype": 42, "ps.fonttype": 42,
}
PANEL_W, PANEL_H = 3.4, 2.6
FEW = 5  # curves with at most this many evaluations get markers



class Styles:
    """Colour, line style and marker of each line of a figure, and the figure's legend.

    ``line_keys`` are the keys that tell lines apart within a panel. With ``estimator`` among
    them the colour is the estimator's and the other keys get a line style (and marker) each;
    otherwise every line gets a colour of a fixed palette.
    """

    def __init__(self, groups: Sequence[Dict[str, Any]], line_keys: Sequence[str]):
        self.line_keys = list(line_keys)
        self.by_estimator = "estimator" in self.line_keys
        self.other = [k for k in self.line_keys if k != "estimator"]
        self.variants: Dict[Tuple[str, ...], int] = {}
        self.lines: Dict[Tuple[str, ...], Dict[str, Any]] = {}
        for g in groups:
            self.variants.setdefault(self._variant(g), len(self.variants))
            self.lines.setdefault(self._line(g), {k: g[k] for k in self.line_keys})

    def _variant(self, key_values: Dict[str, Any]) -> Tuple[str, ...]:
        return tuple(format_value(key_values[k]) for k in self.other)

    def _line(self, key_values: Dict[str, Any]) -> Tuple[str, ...]:
        return tuple(format_value(key_values[k]) for k in self.line_keys)

    def __call__(self, key_values: Dict[str, Any]) -> Dict[str, Any]:
        line = {k: key_values[k] for k in self.line_keys}
        if self.by_estimator:
            color = estimator_color(line["estimator"])
            i = self.variants[self._variant(line)]
        else:
            color = PALETTE[list(self.lines).index(self._line(line)) % len(PALETTE)]
            i = 0
        return {"color": color, "linestyle": LINESTYLES[i % len(LINESTYLES)],
                "marker": MARKERS[i % len(MARKERS)], "label": group_label(line)}

    @property
    def factorised(self) -> bool:
        """More than 8 lines made of several estimators and several variants (e.g. K): the
        legend names colours (estimators) and line styles (variants) apart."""
        if not self.by_estimator or len(self.variants) < 2 or len(self.lines) <= 8:
            return False
        return len({str(line["estimator"]) for line in self.lines.values()}) > 1

    def legend(self) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, Dict[str, Any]]]:
        """``(main, styles)`` legend entries, label -> style. ``styles`` is empty unless the
        legend is :attr:`factorised`."""
        if not self.factorised:
            main = {}
            for line in self.lines.values():
                style = self(line)
                main.setdefault(style["label"], style)
            return main, {}
        main, extra = {}, {}
        for line in self.lines.values():
            style = self(line)
            main.setdefault(group_label({"estimator": line["estimator"]}),
                            {**style, "linestyle": "-", "marker": "o"})
            extra.setdefault(group_label({k: line[k] for k in self.other}),
                             {**style, "color": "0.3"})
        return main, extra


def split_panels(df: pd.DataFrame, keys: Sequence[str]) -> List[Tuple[str, pd.DataFrame]]:
    """``(title, rows)`` per data set in the frame's order, or one untitled panel."""
    if PANEL_KEY not in keys:
        return [("", df)]
    out: Dict[str, List[int]] = {}
    for i, v in enumerate(df[PANEL_KEY].tolist()):
        out.setdefault(format_value(v), []).append(i)
    return [(title, df.iloc[rows]) for title, rows in out.items()]


def grid(n: int, max_cols: int = 3) -> Tuple[int, int]:
    """``(rows, cols)`` for ``n`` panels, at most ``max_cols`` wide, as square as that allows
    (4 panels: 2x2, 5: 2x3)."""
    nrows = math.ceil(n / max_cols)
    return nrows, math.ceil(n / nrows)


def _text_width(labels: Sequence[str]) -> float:
    """Inches taken by a legend entry (handle and the longest label) at 8 pt."""
    return max((len(s) for s in labels), default=0) * 0.068 + 0.55


def _legend_columns(labels: Sequence[str], width: float) -> int:
    """As many columns as fit in ``width`` inches, then as few as keep the same number of rows
    (6 entries that fit 5 a row: 3 columns of 2, not 5 + 1)."""
    fit = max(1, min(len(labels), int(width // _text_width(labels))))
    rows = math.ceil(len(labels) / fit)
    return math.ceil(len(labels) / rows)


def new_figure(nrows: int, ncols: int, styles: Optional[Styles] = None, *,
            extra_w: float = 0.0) -> Tuple[Figure, np.ndarray]:
    """A figure of ``nrows x ncols`` panels with room below for the legend of ``styles``
    (several columns; at least 6.8 in wide when the legend has more than 4 entries) and, for a
    factorised legend, a line-style key on the right."""
    width, height = PANEL_W * ncols + extra_w, PANEL_H * nrows + 0.15
    if styles is not None:
        main, extra = styles.legend()
        if len(main) > 4:
            width = max(width, 6.8)
        if extra:
            width += _text_width(list(extra))
        if main:
            rows = math.ceil(len(main) / _legend_columns(list(main), width - (_text_width(list(extra)) if extra else 0)))
            height += 0.19 * rows + 0.1
        if extra:
            height = max(height, 0.19 * len(extra) + 0.6)
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def _handles(entries: Dict[str, Dict[str, Any]], markers: bool) -> List[Line2D]:
    return [Line2D([], [], color=s["color"], linestyle=s["linestyle"], linewidth=1.5,
                   marker=s["marker"] if markers else None, markersize=4)
            for s in entries.values()]


def figure_legend(fig: Figure, styles: Styles, *, markers: bool = False) -> None:
    """The legend of ``styles`` below the panels; a factorised legend's line styles on the right."""
    main, extra = styles.legend()
    if extra:
        fig.legend(_handles(extra, markers), list(extra), loc="outside right upper", handlelength=2.6)
    if main:
        width = fig.get_figwidth() - (_text_width(list(extra)) if extra else 0)
        fig.legend(_handles(main, markers and not extra), list(main), loc="outside lower center",
                   ncols=_legend_columns(list(main), width), handlelength=2.6)


def has_few_points(df: pd.DataFrame, keys: Sequence[str]) -> bool:
    """Whether some curve has at most :data:`FEW` points (drawn with markers, so the legend
    shows them too)."""
    return any(len(rows) <= FEW for _, rows in group_records(df, keys))


def hide_unused(axes: np.ndarray, used: int) -> None:
    for ax in axes.flat[used:]:
        ax.set_visible(False)


def log_y(ax) -> None:
    """Log y axis with plain tick labels (``0.3``, ``4``, ``100``) instead of ``3×10^-1``, spanning
    at least one decade so that it has ticks to read (call after plotting)."""
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    if 0 < lo < hi < 10 * lo:
        centre = math.sqrt(lo * hi)
        ax.set_ylim(centre / math.sqrt(10), centre * math.sqrt(10))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(1.5, 0.6)))


class _PlainLogFormatter(ticker.LogFormatter):
    """Labels the minor ticks matplotlib would label on a short log axis, as ``0.09`` not ``9e-02``."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def set_ylabel(ax, text: str) -> None:
    """A y label, on two lines when long (a 2.6 in panel holds about 32 characters)."""
    if len(text) > 32:
        head, sep, tail = text.rpartition(", ")
        text = f"{head},\n{tail}" if sep else textwrap.fill(text, 32)
    ax.set_ylabel(text)


def dodge(i: int, n: int) -> float:
    """Multiplicative x offset of line ``i`` of ``n`` so error bars at the same K do not overlap."""
    return 2.0 ** (0.045 * (i - (n - 1) / 2))


def apply_ylim(ax, ylim: Optional[Tuple[Optional[float], Optional[float]]]) -> None:
    if ylim is not None:
        ax.set_ylim(bottom=ylim[0], top=ylim[1])


def steps_axis(ax, *, label: bool = True) -> None:
    """x axis of training steps, ticks as ``2.5k``, ``1M``; ``label=False`` for the upper rows of
    a grid."""
    ax.xaxis.set_major_formatter(ticker.EngFormatter(sep=""))
    if label:
        ax.set_xlabel("training steps")


def k_axis(ax, ks: Sequence[float], *, log: bool = False) -> None:
    """x axis of K: ticks at the values of K present, log base 2 when K spans a factor 4 or more
    (or ``log``)."""
    ks = sorted({float(k) for k in ks if np.isfinite(k) and k > 0})
    if log or (ks and ks[-1] / ks[0] >= 4):
        ax.set_xscale("log", base=2)
    ax.set_xticks(ks, [format_value(k) for k in ks])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    ax.set_xlabel("K (particles)")
