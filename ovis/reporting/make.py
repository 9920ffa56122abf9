"""Build a whole report: read the runs, aggregate, write tables and figures, say what was skipped.

Output layout (``out``, by default ``reports/<exp>/``)::

    summary.md                 runs used, pivot table, figure list, notes
    curves.csv                 aggregated learning curves of --metrics (tidy)
    curves/<metric>.png|pdf    --metrics against training steps
    detailed.png|pdf           --detailed_metrics, every run and the group means
    pivot.csv, pivot.md        --pivot_metrics per group (mean, std|sem, n)
    pivot/<spec>.png|pdf       --pivot_metrics against K, one line per estimator
    snr/<spec>.png|pdf         gradient SNR against K, log-log, fitted slope per estimator

Example:
    >>> import tempfile
    >>> from ovis.runs import RunDirectory
    >>> root = tempfile.mkdtemp()
    >>> for seed, best in [(1, -90.0), (2, -88.0)]:   # two seeds of one configuration
    ...     run = RunDirectory(f"{root}/mini/seed{seed}")
    ...     run.write_config({"dataset": "digits", "estimator": "vimco-arithmetic", "iw": 16, "seed": seed})
    ...     run.set_status("success")
    ...     for step, value in [(0, -120.0), (100, best)]:
    ...         _ = run.log_metrics(step, "test", {"loss": {"L_k": value}})
    >>> from pathlib import Path
    >>> from ovis.reporting.aggregate import parse_pivot
    >>> from ovis.reporting.make import ReportConfig, make_report
    >>> result = make_report(ReportConfig(exp_dir=Path(root, "mini"), out=Path(root, "report"),
    ...                                   keys=["dataset", "estimator", "iw"], metrics=["test:loss/L_k"],
    ...                                   pivot_metrics=[parse_pivot("max:test:loss/L_k")], formats=("png",)))
    >>> sorted(p.name for p in Path(root, "report").iterdir())
    ['curves', 'curves.csv', 'pivot', 'pivot.csv', 'pivot.md', 'summary.md']
"""
from __future__ import annotations

import difflib
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pandas as pd

from ..runs import atomic_replace, atomic_write
from .aggregate import (PivotSpec, check_metrics, curves, mixed_fields, pivot_values, resolve_keys,
                        run_curves)
from .figures import X_KEY, is_snr, plot_curves, plot_detailed, plot_pivot, plot_snr, save_figure
from .naming import slug
from .runs import Experiment, read_experiment
from .tables import pivot_table, to_markdown

__all__ = ["ReportConfig", "ReportResult", "make_report"]

logger = logging.getLogger("ovis.reporting")

YLim = Tuple[Optional[float], Optional[float]]


@dataclass
class ReportConfig:
    """What to report.

    Arguments:
        exp_dir: the experiment directory (``<root>/<exp>``).
        out: output folder; ``None`` is ``reports/<exp name>``.
        keys: config fields defining a group of runs (averaged over the others, e.g. seeds).
        metrics: ``split:group/name`` plotted against training steps.
        detailed_metrics: plotted together in one grid figure with every run shown.
        pivot_metrics: one number per run, tabulated and plotted against K.
        include: groups of patterns a run must match (one pattern per group at least).
        exclude: patterns; a run matching any is left out.
        only_finished: leave out runs whose status is ``running``.
        downsample: at most this many points per curve (0: all).
        ylims: metric (or pivot spec) -> ``(bottom, top)``.
        error: ``std`` or ``sem``.
        formats: figure file formats.
        select: ``(run_id, config) -> bool``, a run filter beyond the patterns (the figure presets
            of :mod:`~ovis.reporting.presets` use it, e.g. "warm-up steps > 0").
    """

    exp_dir: Path
    out: Optional[Path] = None
    keys: Sequence[str] = ("dataset", "estimator", "iw")
    metrics: Sequence[str] = ()
    detailed_metrics: Sequence[str] = ()
    pivot_metrics: Sequence[PivotSpec] = ()
    include: Sequence[Sequence[str]] = ()
    exclude: Sequence[str] = ()
    only_finished: bool = False
    downsample: int = 200
    ylims: Dict[str, YLim] = field(default_factory=dict)
    error: str = "std"
    formats: Sequence[str] = ("png", "pdf")
    select: Optional[Callable[[str, Dict[str, Any]], bool]] = None


@dataclass
class ReportResult:
    """What a report wrote: ``files`` (paths), the pivot ``table``, the SNR ``slopes``
    (``{spec: {(panel, line): slope}}``), the ``notes`` and the experiment read; ``invalid``
    lists the requested metrics and keys that matched nothing (then nothing is written)."""

    ok: bool
    out: Path
    files: List[Path] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    table: Optional[pd.DataFrame] = None
    slopes: Dict[str, Dict[Tuple[str, str], float]] = field(default_factory=dict)
    experiment: Optional[Experiment] = None
    invalid: List[str] = field(default_factory=list)


def _note(notes: List[str], message: str) -> None:
    notes.append(message)
    logger.warning(message)


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(str(path), lambda f: f.write(text))
    return path


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(str(path), lambda f: frame.to_csv(f, index=False))
    return path


def _summary(cfg: ReportConfig, exp: Experiment, keys: Sequence[str], table_md: Optional[str],
             files: Sequence[Path], out: Path, notes: Sequence[str]) -> str:
    status = exp.runs["status"].value_counts().to_dict()
    lines = [f"# Report: {exp.name}", "",
             f"- experiment: `{exp.path}`",
             f"- runs: {len(exp.runs)} (" + ", ".join(f"{n} {s}" for s, n in sorted(status.items())) + ")",
             f"- groups by: {', '.join(keys) if keys else '(all runs together)'}",
             f"- spread: {'standard deviation' if cfg.error == 'std' else 'standard error of the mean'} over runs",
             ""]
    if table_md:
        lines += ["## Pivot metrics", "", table_md]
    images = [f for f in files if f.suffix == ".png"]
    if images:
        lines += ["## Figures", ""]
        lines += [f"![{f.relative_to(out).as_posix()}]({f.relative_to(out).as_posix()})" for f in images]
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


def _ylim(ylims: Dict[str, YLim], *names: str) -> Optional[YLim]:
    for name in names:
        if name in ylims:
            return ylims[name]
    return None


def make_report(cfg: ReportConfig) -> ReportResult:
    """Read, aggregate and write everything; never raises on missing metrics, empty selections
    or runs in progress (each gets a note). ``ok`` is False when nothing could be written."""
    exp_dir = Path(cfg.exp_dir)
    out = Path(cfg.out) if cfg.out is not None else Path("reports") / exp_dir.name
    result = ReportResult(ok=False, out=out)
    notes = result.notes
    try:
        exp = read_experiment(exp_dir, include=cfg.include, exclude=cfg.exclude,
                              only_finished=cfg.only_finished, select=cfg.select)
    except FileNotFoundError as e:
        _note(notes, f"{e}; nothing to report")
        return result
    result.experiment = exp
    notes.extend(exp.notes)
    exp.notes = notes  # later notes (missing keys, metrics) land in the same list
    if exp.runs.empty:
        filters = " after --include/--exclude/--only_finished" if (
            any(cfg.include) or cfg.exclude or cfg.only_finished or cfg.select) else ""
        _note(notes, f"no run selected in {str(exp_dir)!r}{filters}; nothing to report")
        return result
    result.invalid = _unmatched(exp, cfg)
    if result.invalid:
        for message in result.invalid:
            _note(notes, message)
        _note(notes, f"nothing written (the report in {out} is left as it was)")
        return result
    logger.info("%d run(s) read from %s", len(exp.runs), exp_dir)
    keys = resolve_keys(exp, cfg.keys)
    mixed = mixed_fields(exp, keys)
    if mixed:
        _note(notes, f"groups defined by --keys {','.join(keys) or '(none)'} average runs that also "
                     f"differ in: {', '.join(mixed)}; add them to --keys to separate them")
    if not (cfg.metrics or cfg.detailed_metrics or cfg.pivot_metrics):
        _note(notes, "nothing to plot: pass --metrics, --detailed_metrics or --pivot_metrics; "
                     f"metrics logged: {', '.join(exp.metric_names)}; config fields: "
                     f"{', '.join(exp.configs.columns)}")
        return result
    files = result.files
    final, out = out, out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    try:
        _write_all(cfg, exp, keys, out, result, _particles(exp))
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    if not result.ok:
        shutil.rmtree(out, ignore_errors=True)
        return result
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists():
        atomic_replace(str(final), str(old))
    atomic_replace(str(out), str(final))
    shutil.rmtree(old, ignore_errors=True)
    result.files = [final / f.relative_to(out) for f in files]
    return result


def _unmatched(exp: Experiment, cfg: ReportConfig) -> List[str]:
    """One message per requested metric or key that no selected run has, with the closest names."""
    available = sorted(set(exp.metrics["metric"].unique())) if not exp.metrics.empty else []
    fields = sorted(exp.configs.columns)
    wanted = [*cfg.metrics, *cfg.detailed_metrics, *[s.metric for s in cfg.pivot_metrics]]
    messages = []
    for what, names, known, flag in (("metric", dict.fromkeys(wanted), available, "--metrics"),
                                     ("key", dict.fromkeys(cfg.keys), fields, "--keys")):
        for name in names:
            if name in known:
                continue
            close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else \
                f"known: {', '.join(known[:12])}{' ...' if len(known) > 12 else ''}"
            messages.append(f"{flag}: {what} {name!r} matches no selected run ({hint})")
    return messages


def _particles(exp: Experiment) -> Dict[str, int]:
    """split -> number of particles of its bound L_K (``iw_test``, ``iw_valid``), when all runs agree."""
    found = {}
    for split, column in (("test", "iw_test"), ("valid", "iw_valid"), ("train", "iw_valid")):
        if column in exp.configs.columns:
            values = exp.configs[column].dropna().unique()
            if len(values) == 1:
                found[split] = int(values[0])
    return found


def _write_all(cfg: ReportConfig, exp: Experiment, keys: List[str], out: Path, result: ReportResult,
               particles: Dict[str, int]) -> None:
    notes, files = result.notes, result.files

    # learning curves
    curve_frames = []
    for metric in check_metrics(exp, cfg.metrics):
        df = curves(exp, metric, keys, downsample=cfg.downsample, error=cfg.error)
        curve_frames.append(df.assign(metric=metric))
        fig = plot_curves(df, metric, keys, ylim=_ylim(cfg.ylims, metric), error=cfg.error, particles=particles)
        files += save_figure(fig, out / "curves" / slug(metric), formats=cfg.formats)
    if curve_frames:
        all_curves = pd.concat(curve_frames, ignore_index=True)
        all_curves = all_curves[["metric", *[c for c in all_curves.columns if c != "metric"]]]
        all_curves.columns = [cfg.error if c == "err" else c for c in all_curves.columns]
        out.mkdir(parents=True, exist_ok=True)
        _write_csv(out / "curves.csv", all_curves)
        files.append(out / "curves.csv")

    # detailed grid
    detailed = check_metrics(exp, cfg.detailed_metrics)
    if detailed:
        runs = {m: run_curves(exp, m, keys, downsample=cfg.downsample) for m in detailed}
        means = {m: curves(exp, m, keys, downsample=cfg.downsample, error=cfg.error) for m in detailed}
        fig = plot_detailed(runs, means, keys, ylims={m: cfg.ylims[m] for m in detailed if m in cfg.ylims},
                            particles=particles)
        files += save_figure(fig, out / "detailed", formats=cfg.formats)

    # pivot table and plots against K
    table_md = None
    present = set(check_metrics(exp, sorted({s.metric for s in cfg.pivot_metrics})))
    specs = [s for s in cfg.pivot_metrics if s.metric in present]
    if specs:
        table = pivot_table(exp, specs, keys, error=cfg.error)
        result.table = table
        out.mkdir(parents=True, exist_ok=True)
        _write_csv(out / "pivot.csv", table)
        table_md = to_markdown(table, keys, specs, error=cfg.error, particles=particles)
        files += [out / "pivot.csv", _write_text(out / "pivot.md", table_md)]
    # SNR against K: SNR pivot specs, and SNR curves (--metrics, --detailed_metrics) averaged over steps
    snr_specs = [s for s in specs if is_snr(s.metric)]
    covered = {s.metric for s in snr_specs}
    logged = set(exp.metric_names)
    for metric in dict.fromkeys([*cfg.metrics, *cfg.detailed_metrics]):
        if is_snr(metric) and metric in logged and metric not in covered:
            snr_specs.append(PivotSpec("mean", metric))
            logger.info("SNR against K for %s uses its mean over training steps (pass "
                        "--pivot_metrics AGG:%s to choose)", metric, metric)
    if specs or snr_specs:
        if X_KEY not in exp.configs.columns:
            _note(notes, f"no run config has {X_KEY!r} (K); pivot and SNR plots against K skipped")
        else:
            k_keys = list(keys)
            if X_KEY not in k_keys:
                k_keys.append(X_KEY)
                logger.info("plots against K group runs by %s (added %r to --keys)", ",".join(k_keys), X_KEY)
            for spec in specs:
                df = pivot_values(exp, spec, k_keys, error=cfg.error)
                fig = plot_pivot(df, spec, k_keys, ylim=_ylim(cfg.ylims, spec.name, spec.metric), particles=particles)
                files += save_figure(fig, out / "pivot" / slug(spec.name), formats=cfg.formats)
            for spec in snr_specs:
                df = pivot_values(exp, spec, k_keys, error=cfg.error)
                if not (df["mean"] > 0).any():
                    _note(notes, f"{spec.name}: no positive value; log-log SNR plot skipped")
                    continue
                fig, slopes = plot_snr(df, spec, k_keys, particles)
                result.slopes[spec.name] = slopes
                if not slopes:
                    _note(notes, f"{spec.name}: every estimator has a single K; no slope fitted")
                files += save_figure(fig, out / "snr" / slug(spec.name), formats=cfg.formats)

    if not files:
        _note(notes, "none of the requested metrics was logged by the selected runs; nothing written")
        return
    files.append(_write_text(out / "summary.md", _summary(cfg, exp, keys, table_md, files, out, notes)))
    result.ok = True
