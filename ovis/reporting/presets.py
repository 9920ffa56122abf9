"""The OVIS paper's figures as named presets: ``report.py --figure NAME --exp EXP``.

Each preset chooses the runs, the keys, the metrics and the pivot specs of one figure of
Lievin et al. (2020), writes the usual report (:func:`~ovis.reporting.make.make_report`:
``summary.md``, ``pivot.md``, curves and plots against K) and adds ``figure.png|pdf``, the
figure itself: the main metric against training steps with one panel per K and one line per
estimator (mean over seeds, band: std or sem).

=======================  ===============================================================  =======================
name                     runs and what is drawn                                           sweep
=======================  ===============================================================  =======================
``gmm``                  every run; ``test:gmm/posterior_mse`` and ``prior_mse``          gaussian-mixture-model
``3-left``               VIMCO and OVIS on the IW bound (no warm-up, alpha = 0), and      sigmoid-belief-network,
                         IWAE/STL/DReG if present; ``test:loss/L_k``                      gaussian-vae
``3-right``              TVO, and OVIS on a Renyi bound (``--warmup`` > 0 or              sigmoid-belief-network,
                         ``--alpha`` > 0); ``test:loss/L_k``                              gaussian-vae
``budget``               every run; ``test:loss/L_k`` against K per split of the          budget-analysis,
                         particles (``ovis-S{y}``: a fraction y for the control variate)  budget-analysis-sbn
``asymptotic-variance``  the ``points.jsonl`` files of ``asymptotic_variance.py`` under   asymptotic-variance
                         the experiment folder: SNR, variance, DSNR against K (log-log),
                         slopes with standard errors, per seed and pooled
=======================  ===============================================================  =======================

Presets live in the registry :data:`FIGURES`; :func:`make_figure` builds one by name.

Example:
    >>> from ovis.reporting.presets import FIGURES
    >>> FIGURES.names()
    ['3-left', '3-right', 'asymptotic-variance', 'budget', 'gmm']
"""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import matplotlib
import numpy as np
import pandas as pd

from ..registry import Registry
from ..runs import atomic_write
from .aggregate import PivotSpec, curves, group_records, parse_pivot
from .figures import save_figure
from .layout import LINESTYLES, RC, X_KEY, grid, hide_unused, log_y, new_figure, set_ylabel, steps_axis
from .make import ReportConfig, ReportResult, make_report
from .make import _particles as particles_of
from .naming import estimator_color, estimator_label, estimator_sort_key, format_value, key_label, metric_label
from .runs import read_experiment

__all__ = ["FIGURES", "make_figure", "iw_bound_runs", "iwr_bound_runs", "read_study_points", "study_slopes",
           "VARIANT_KEYS", "variant_keys",
           "plot_by_k", "plot_study"]

logger = logging.getLogger("ovis.reporting")

#: figure name -> builder ``(exp_dir, out, *, formats, error) -> ReportResult``
FIGURES: Registry = Registry("figure")

Select = Callable[[str, Dict[str, Any]], bool]


def _note(notes: List[str], message: str) -> None:
    notes.append(message)
    logger.warning(message)


# ------------------------------------------------------------------------------------------ run selections
def _number(config: Dict[str, Any], key: str, default: float = 0.0) -> float:
    try:
        value = float(config.get(key, default))
    except (TypeError, ValueError):
        return default
    return default if math.isnan(value) else value


#: reparameterized estimators shown on the IW-bound panel as references (the VAE's figure)
PATHWISE = ("pathwise-iwae", "stl", "dreg")


def iw_bound_runs(run_id: str, config: Dict[str, Any]) -> bool:
    """Figure 3, left: VIMCO and OVIS trained on the IW bound (``--warmup 0``, ``--alpha 0``), and
    the pathwise references (IWAE, STL, DReG) where the sweep has them."""
    estimator = str(config.get("estimator", ""))
    if not estimator.startswith(("vimco", "ovis", *PATHWISE)):
        return False
    return _number(config, "warmup") == 0 and _number(config, "alpha") == 0


def iwr_bound_runs(run_id: str, config: Dict[str, Any]) -> bool:
    """Figure 3, right: TVO, and OVIS trained on a Renyi (IWR) bound: with the warm-up
    (``--warmup`` > 0) or at a fixed ``--alpha`` > 0 (the Gaussian VAE's alpha = 0.7)."""
    estimator = str(config.get("estimator", ""))
    if estimator.startswith("tvo"):
        return True
    return estimator.startswith("ovis") and (_number(config, "warmup") > 0 or _number(config, "alpha") > 0)


def _all_runs(run_id: str, config: Dict[str, Any]) -> bool:
    return True


#: run.py flags that make two runs of the same estimator and K different configurations (the
#: Gaussian VAE sweep trains ``ovis-gamma1`` both at ``--alpha 0.7`` and with the warm-up)
VARIANT_KEYS = ("alpha", "warmup")


def variant_keys(configs: pd.DataFrame, keys: Sequence[str]) -> List[str]:
    """The :data:`VARIANT_KEYS` that take more than one value among runs sharing ``keys``.

    A preset groups its runs by ``keys`` (data set, estimator, K) and averages each group as seeds;
    a flag that differs inside a group would mix two configurations into one curve, so it is added
    to the grouping instead. ``alpha`` is also added where it differs between groups (e.g. OVIS at
    alpha = 0.7 next to pathwise IWAE at 0), so that the figure can say which bound each line trains.
    """
    base = [k for k in keys if k in configs.columns]
    extra = []
    for key in VARIANT_KEYS:
        if key not in configs.columns or configs.empty:
            continue
        values = configs[key].astype(str)
        counts = values.groupby([configs[k].astype(str) for k in base]).nunique() if base else values.nunique()
        if int(np.max(counts)) > 1 or (key == "alpha" and values.nunique() > 1):
            extra.append(key)
    return extra


def _as_number(value: Any) -> Any:
    """``'0.7'`` -> ``0.7``; a value that is not a number unchanged."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _variant_text(key: str, value: Any) -> str:
    """``alpha=0.7`` -> ``α=0.7``; ``warmup=0`` -> ``no warm-up``; ``warmup=250`` -> ``warm-up 250``."""
    value = _as_number(value)
    if key == "warmup" and isinstance(value, float):
        return "no warm-up" if value == 0 else f"warm-up {format_value(value)}"
    return f"{key_label(key)}={format_value(value)}"


# ------------------------------------------------------------------------------------------ figure by K
def plot_by_k(df: pd.DataFrame, metric: str, *, error: str = "std", title: str = "",
              particles: Optional[Dict[str, int]] = None):
    """``metric`` against training steps, one panel per K and one line per estimator.

    Arguments:
        df: :func:`~ovis.reporting.aggregate.curves` output grouped by ``estimator`` and ``iw``
            (columns ``estimator, iw, step, mean, err, n``), optionally ``dataset``.
        metric: ``split:group/name``, for the y label.
        error: what ``err`` is, for the caption.
        title: figure title.
        particles: split -> K of its bound, for the label.

    Returns:
        a matplotlib Figure.
    """
    with matplotlib.rc_context(RC):
        datasets = sorted(df["dataset"].astype(str).unique()) if "dataset" in df.columns else [""]
        ks = sorted(df[X_KEY].unique(), key=float)
        panels = [(d, k) for d in datasets for k in ks]
        nrows, ncols = grid(len(panels), max_cols=len(ks) if len(ks) <= 4 else 3)
        fig, axes = new_figure(nrows, ncols)
        extra = [c for c in VARIANT_KEYS if c in df.columns]
        lines = _lines(df, extra)
        log = metric.partition(":")[2].startswith("grads/") and bool((df["mean"] > 0).all())
        for ax, (dataset, k) in zip(axes.flat, panels):
            panel = df[df[X_KEY] == k]
            if dataset:
                panel = panel[panel["dataset"].astype(str) == dataset]
            for estimator, values, label, style in lines:
                mask = panel["estimator"] == estimator
                for key, value in zip(extra, values):
                    mask &= panel[key].astype(str) == value
                rows = panel[mask].sort_values("step")
                if rows.empty:
                    continue
                x, y, err = (rows[c].to_numpy(float) for c in ("step", "mean", "err"))
                color = estimator_color(estimator)
                ax.plot(x, y, color=color, linewidth=1.4, linestyle=style, marker="o" if len(x) <= 12 else None,
                        markersize=3, label=label)
                if np.isfinite(err).any():
                    ax.fill_between(x, y - err, y + err, color=color, alpha=0.15, linewidth=0)
            if log:
                log_y(ax)
            else:
                _zoom_past_start(ax, panel)
            ax.set_title(f"{dataset + ', ' if dataset else ''}K = {int(float(k))}")
            set_ylabel(ax, metric_label(metric, particles=particles))
            steps_axis(ax)
        hide_unused(axes, len(panels))
        handles, labels = [], []
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), handlelength=2.4)
        caption = f"mean over seeds, band: {'std' if error == 'std' else 'sem'}"
        fig.suptitle(f"{title} ({caption})" if title else caption)
    return fig


def _lines(df: pd.DataFrame, extra: Sequence[str]) -> List[Tuple[str, Tuple[str, ...], str, str]]:
    """``(estimator, values of extra, label, line style)`` per line of :func:`plot_by_k`, in the
    estimators' order; an estimator with several variants gets them in its label and one line
    style per variant (its color stays the estimator's); one with a single variant shows only a
    nonzero alpha (the Rényi bound it trains)."""
    out = []
    for estimator in sorted(df["estimator"].unique(), key=estimator_sort_key):
        part = df[df["estimator"] == estimator]
        variants = sorted({tuple(str(v) for v in row) for row in part[list(extra)].itertuples(index=False)}) \
            if extra else [()]
        for i, values in enumerate(variants):
            label = estimator_label(estimator)
            named = dict(zip(extra, values))
            alpha = _as_number(named.get("alpha", 0.0))
            if len(variants) > 1:
                label += ", " + ", ".join(_variant_text(key, value) for key, value in named.items())
            elif isinstance(alpha, float) and not math.isnan(alpha) and alpha != 0.0:
                label += ", " + _variant_text("alpha", alpha)
            out.append((estimator, values, label, LINESTYLES[i % len(LINESTYLES)]))
    return out


def _zoom_past_start(ax, panel: pd.DataFrame) -> None:
    """When the first evaluation (the untrained model) lies far outside the later ones (more than
    3 times their range away), zoom the y axis on the later ones; the first point is then drawn off
    the axis and the panel says so."""
    first = panel["step"].min()
    later, start = panel[panel["step"] > first], panel[panel["step"] == first]
    if later.empty or start.empty:
        return
    lo, hi = float((later["mean"] - later["err"].fillna(0)).min()), float((later["mean"] + later["err"].fillna(0)).max())
    span = max(hi - lo, 1e-12)
    if float(start["mean"].min()) < lo - 3 * span or float(start["mean"].max()) > hi + 3 * span:
        ax.set_ylim(lo - 0.08 * span, hi + 0.08 * span)
        ax.text(0.02, 0.02, f"step {int(first)} off the axis", transform=ax.transAxes, fontsize=6.5, color="0.4")


def _run_preset(exp_dir: Path, out: Path, *, select: Select, main: str, metrics: Sequence[str],
                pivots: Sequence[str], title: str, formats: Sequence[str], error: str,
                keys: Sequence[str] = ("dataset", "estimator", "iw")) -> ReportResult:
    # the main metric is required (its absence is reported); the others are drawn where logged
    logged = set()
    if Path(exp_dir).is_dir():
        selected = read_experiment(exp_dir, select=select)
        logged = set(selected.metric_names)
        keys = [*keys, *variant_keys(selected.configs, keys)]
    keep = lambda metric: metric == main or metric in logged  # noqa: E731
    specs = [parse_pivot(p) for p in pivots]
    cfg = ReportConfig(exp_dir=Path(exp_dir), out=Path(out), keys=list(keys), metrics=[m for m in metrics if keep(m)],
                       pivot_metrics=[p for p in specs if keep(p.metric)], select=select, formats=tuple(formats),
                       error=error, downsample=0)
    result = make_report(cfg)
    if not result.ok or result.experiment is None:
        return result
    exp = result.experiment
    if main not in exp.metric_names:
        _note(result.notes, f"{main}: not logged by the selected runs; figure.png not drawn")
        return result
    used = [k for k in keys if k in exp.configs.columns]
    df = curves(exp, main, used, error=error)
    fig = plot_by_k(df, main, error=error, title=title, particles=particles_of(exp))
    result.files += save_figure(fig, Path(out) / "figure", formats=formats)
    return result


@FIGURES.register("gmm", reserved=("exp_dir", "out"))
def figure_gmm(exp_dir: Path, out: Path, formats: Sequence[str] = ("png", "pdf"), error: str = "std"
               ) -> ReportResult:
    """Figure 2: posterior and prior errors of the Gaussian mixture toy against K and steps."""
    return _run_preset(exp_dir, out, select=_all_runs, main="test:gmm/posterior_mse",
                       metrics=["test:gmm/posterior_mse", "test:gmm/prior_mse", "train:grads/snr"],
                       pivots=["last:test:gmm/posterior_mse", "min:test:gmm/posterior_mse",
                               "last:test:gmm/prior_mse", "mean:train:grads/snr"],
                       title="Gaussian mixture: test posterior error", formats=formats, error=error)


# figure 3's panels: the test bound (main), the training bound, the gradients' SNR
_BOUND_METRICS = ("test:loss/L_k", "train:loss/L_k", "train:grads/snr")
_BOUND_PIVOTS = ("max:test:loss/L_k", "last:test:loss/L_k", "mean:train:grads/snr")


@FIGURES.register("3-left", reserved=("exp_dir", "out"))
def figure_3_left(exp_dir: Path, out: Path, formats: Sequence[str] = ("png", "pdf"), error: str = "std"
                  ) -> ReportResult:
    """Figure 3, left: VIMCO and OVIS on the IW bound, test L_K against steps per K."""
    return _run_preset(exp_dir, out, select=iw_bound_runs, main="test:loss/L_k",
                       metrics=_BOUND_METRICS, pivots=_BOUND_PIVOTS,
                       title="IW bound: VIMCO vs OVIS", formats=formats, error=error)


@FIGURES.register("3-right", reserved=("exp_dir", "out"))
def figure_3_right(exp_dir: Path, out: Path, formats: Sequence[str] = ("png", "pdf"), error: str = "std"
                   ) -> ReportResult:
    """Figure 3, right: TVO and OVIS with the Renyi warm-up (IWR bound), test L_K per K."""
    return _run_preset(exp_dir, out, select=iwr_bound_runs, main="test:loss/L_k",
                       metrics=_BOUND_METRICS, pivots=_BOUND_PIVOTS,
                       title="IWR bound (Renyi warm-up): TVO vs OVIS", formats=formats, error=error)


@FIGURES.register("budget", reserved=("exp_dir", "out"))
def figure_budget(exp_dir: Path, out: Path, formats: Sequence[str] = ("png", "pdf"), error: str = "std"
                  ) -> ReportResult:
    """Budget analysis: test L_K against the total K for each split of the particles."""
    return _run_preset(exp_dir, out, select=_all_runs, main="test:loss/L_k",
                       metrics=["test:loss/L_k", "train:loss/L_k"],
                       pivots=["max:test:loss/L_k", "last:test:loss/L_k"],
                       title="Budget: K particles shared by the bound and the control variate",
                       formats=formats, error=error)


# ------------------------------------------------------------------------------------------ asymptotic study
_STUDY_FIELDS = ("estimator", "K", "snr", "variance", "dsnr", "seed")
STATISTICS = ("snr", "variance", "dsnr")


def read_study_points(folder: Path | str, notes: Optional[List[str]] = None) -> pd.DataFrame:
    """Every line of every ``points.jsonl`` under ``folder`` (the output of ``asymptotic_variance.py``).

    Returns:
        columns ``estimator, K, seed, snr, variance, dsnr, samples, points, source``; a point
        measured twice (same estimator, K, seed, samples, points) keeps its last line.
    """
    notes = [] if notes is None else notes
    rows = []
    say = lambda message: _note(notes, message)  # noqa: E731
    for path in sorted(Path(folder).rglob("points.jsonl")):
        with open(path, "r", encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    say(f"{path}:{number}: not JSON; skipped")
                    continue
                if not isinstance(item, dict) or any(k not in item for k in _STUDY_FIELDS):
                    say(f"{path}:{number}: expected the fields {list(_STUDY_FIELDS)}; skipped")
                    continue
                rows.append({**{k: item[k] for k in _STUDY_FIELDS}, "samples": item.get("samples"),
                             "points": item.get("points"), "source": str(path.parent)})
    columns = [*_STUDY_FIELDS, "samples", "points", "source"]
    df = pd.DataFrame(rows, columns=columns)
    if not df.empty:
        df = df.drop_duplicates(["estimator", "K", "seed", "samples", "points"], keep="last")
        df["K"] = df["K"].astype(int)
    return df.reset_index(drop=True)


def _fit(K: np.ndarray, y: np.ndarray) -> Optional[Tuple[float, float, int]]:
    """OLS slope of log y on log K with its standard error (``nan`` with 2 points)."""
    ok = np.isfinite(y) & (y > 0) & (K > 0)
    x, y = np.log(K[ok].astype(float)), np.log(y[ok])
    if np.unique(x).size < 2:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    n = x.size
    se = float("nan")
    if n > 2:
        rss = float(np.sum((y - (slope * x + intercept)) ** 2))
        se = math.sqrt(rss / (n - 2) / float(np.sum((x - x.mean()) ** 2)))
    return float(slope), se, int(n)


def study_slopes(points: pd.DataFrame, statistic: str = "snr") -> pd.DataFrame:
    """Log-log slope of ``statistic`` against K per estimator: pooled over seeds and per seed.

    Arguments:
        points: :func:`read_study_points` output.
        statistic: ``snr``, ``variance`` or ``dsnr``.

    Returns:
        columns ``estimator, slope, se, n, K_min, K_max, seeds, per_seed`` (``per_seed``:
        ``"seed: slope"`` joined by ``, ``); ``se`` is the OLS standard error of the pooled fit.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic {statistic!r} is invalid; expected one of {list(STATISTICS)}")
    rows = []
    for estimator in sorted(points["estimator"].unique(), key=estimator_sort_key):
        part = points[points["estimator"] == estimator]
        fit = _fit(part["K"].to_numpy(), part[statistic].to_numpy(float))
        if fit is None:
            continue
        per_seed = []
        for seed, seed_part in part.groupby("seed"):
            f = _fit(seed_part["K"].to_numpy(), seed_part[statistic].to_numpy(float))
            if f is not None:
                per_seed.append(f"{seed}: {f[0]:+.3f}")
        rows.append({"estimator": estimator, "slope": fit[0], "se": fit[1], "n": fit[2],
                     "K_min": int(part["K"].min()), "K_max": int(part["K"].max()),
                     "seeds": int(part["seed"].nunique()), "per_seed": ", ".join(per_seed)})
    return pd.DataFrame(rows, columns=["estimator", "slope", "se", "n", "K_min", "K_max", "seeds", "per_seed"])


def plot_study(points: pd.DataFrame, slopes: Dict[str, pd.DataFrame], title: str = ""):
    """SNR, variance and DSNR against K (log-log), one line per estimator: the mean over seeds,
    the seeds' range as error bars, the pooled slope in the legend."""
    with matplotlib.rc_context(RC):
        fig, axes = new_figure(1, len(STATISTICS))
        estimators = sorted(points["estimator"].unique(), key=estimator_sort_key)
        Ks = sorted(points["K"].unique())
        for ax, stat in zip(axes.flat, STATISTICS):
            table = slopes[stat].set_index("estimator") if not slopes[stat].empty else None
            for estimator in estimators:
                part = points[points["estimator"] == estimator].groupby("K")[stat]
                mean, lo, hi = part.mean(), part.min(), part.max()
                if mean.empty:
                    continue
                label = estimator_label(estimator)
                if table is not None and estimator in table.index:
                    label += f" ({table.loc[estimator, 'slope']:+.2f})"
                x = mean.index.to_numpy(float)
                ax.errorbar(x, mean.to_numpy(), yerr=[mean - lo, hi - mean], color=estimator_color(estimator),
                            marker="o", markersize=3.5, linewidth=1.3, capsize=2, label=label)
            ax.set_xscale("log")
            if (points[stat] > 0).all():
                log_y(ax)
            ax.set_xticks(Ks, [str(k) for k in Ks])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_xlabel("K (particles of the bound)")
            set_ylabel(ax, {"snr": "SNR", "variance": "variance", "dsnr": "DSNR"}[stat] + " of the inference gradient")
            ax.legend(fontsize=6.5, loc="best")
        if title:
            fig.suptitle(title)
    return fig


@FIGURES.register("asymptotic-variance", reserved=("exp_dir", "out"))
def figure_asymptotic_variance(exp_dir: Path, out: Path, formats: Sequence[str] = ("png", "pdf"),
                               error: str = "std") -> ReportResult:
    """Figure 1: SNR, variance and DSNR against K from the study's ``points.jsonl`` files."""
    out = Path(out)
    result = ReportResult(ok=False, out=out)
    if not Path(exp_dir).is_dir():
        _note(result.notes, f"experiment directory {str(exp_dir)!r} does not exist; nothing to report")
        return result
    points = read_study_points(exp_dir, result.notes)
    if points.empty:
        _note(result.notes, f"no points.jsonl with study points under {str(exp_dir)!r} (written by "
                            f"asymptotic_variance.py --out); nothing to report")
        return result
    slopes = {stat: study_slopes(points, stat) for stat in STATISTICS}
    out.mkdir(parents=True, exist_ok=True)
    settings = points[["samples", "points"]].drop_duplicates()
    setting = "; ".join(f"{int(s)} gradient samples, {int(p)} data points" for s, p in settings.to_numpy()
                        if s is not None and p is not None)
    fig = plot_study(points, slopes, title=f"Gaussian toy: {setting}" if setting else "")
    result.files += save_figure(fig, out / "figure", formats=formats)
    lines = [f"# Asymptotic variance: {Path(exp_dir).name}", "", f"- points: {len(points)} from "
             f"{points['source'].nunique()} folder(s); {setting}", ""]
    for stat in STATISTICS:
        table = slopes[stat]
        lines += [f"## {stat.upper() if stat != 'variance' else 'variance'} slope against K (log-log, pooled "
                  f"over seeds; SE: OLS)", "", "| estimator | slope | SE | points | K | per seed |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r.estimator} | {r.slope:+.3f} | {r.se:.3f} | {r.n} | {r.K_min}..{r.K_max} | {r.per_seed} |"
                  for r in table.itertuples()]
        lines.append("")
        path = out / f"slopes-{stat}.csv"
        atomic_write(str(path), lambda f, t=table: t.to_csv(f, index=False))
        result.files.append(path)
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    path = out / "summary.md"
    atomic_write(str(path), lambda f: f.write("\n".join(lines)))
    result.files.append(path)
    result.table = slopes["snr"]
    result.slopes = {"snr": {("", r.estimator): r.slope for r in slopes["snr"].itertuples()}}
    result.ok = True
    return result


def make_figure(name: str, exp_dir: Path | str, out: Path | str, *, formats: Sequence[str] = ("png", "pdf"),
                error: str = "std") -> ReportResult:
    """Build the preset ``name`` (one of :data:`FIGURES`) from the runs in ``exp_dir`` into ``out``.

    Raises:
        ovis.registry.RegistryError: unknown name (the message lists the presets).
    """
    return FIGURES.build(name, Path(exp_dir), Path(out), formats=tuple(formats), error=error)
