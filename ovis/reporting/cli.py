"""``ovis report`` / ``python report.py``: tables and figures from the runs of an experiment.

Usage (shell)::

    python report.py --exp mini --keys dataset,estimator,iw --metrics test:loss/L_k \\
        --pivot_metrics max:test:loss/L_k,mean:train:grads/snr

Runs are read from ``<root>/<exp>/<run_id>/`` (``--root`` defaults to ``runs``); without
``--exp``, ``--root`` is the experiment directory itself. Figures and tables go to
``reports/<exp>/`` (``--out``). Runs still running are included with a note
(``--only_finished`` leaves them out); failed runs are left out with a note.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .aggregate import AGGREGATIONS, ERRORS, PivotSpec, parse_metric, parse_pivot
from .make import ReportConfig, ReportResult, make_report

__all__ = ["add_arguments", "main", "run", "config_from_args", "parse_ylims"]


def _csv(text: Optional[str]) -> List[str]:
    return [t.strip() for t in (text or "").split(",") if t.strip()]


def parse_ylims(items: Sequence[str]) -> Dict[str, Tuple[Optional[float], Optional[float]]]:
    """``['test:loss/L_k:-100:-80', 'max:test:loss/L_k::-85']`` -> ``{metric: (lo, hi)}``
    (an empty bound is left to matplotlib).

    Raises:
        ValueError: an item is not ``metric:lo:hi`` or a bound is not a number.
    """
    out: Dict[str, Tuple[Optional[float], Optional[float]]] = {}
    for item in items:
        parts = item.rsplit(":", 2)
        if len(parts) != 3 or ":" not in parts[0]:
            raise ValueError(f"--ylims {item!r} is not of the form 'split:group/name:lo:hi' "
                             f"(e.g. 'test:loss/L_k:-100:-80'; leave a bound empty for automatic)")
        metric, lo, hi = parts
        try:
            bounds = tuple(float(b) if b.strip() else None for b in (lo, hi))
        except ValueError:
            raise ValueError(f"--ylims {item!r}: bounds {lo!r}, {hi!r} must be numbers or empty") from None
        out[metric.strip()] = bounds  # type: ignore[assignment]
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the report flags to ``parser``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    where = parser.add_argument_group("which runs")
    where.add_argument("--exp", default=None, help="experiment name: runs are read from ROOT/EXP")
    where.add_argument("--root", default="runs",
                       help="folder holding the experiments (default: runs); without --exp, the "
                            "experiment directory itself")
    where.add_argument("--include", action="append", default=[], metavar="PATTERNS",
                       help="comma-separated substrings of run ids or flag values, or field=value (exact, "
                            "e.g. iw=16); a run must match one of them; repeat the flag to require several (and)")
    where.add_argument("--exclude", action="append", default=[], metavar="PATTERNS",
                       help="comma-separated patterns (as --include); a run matching any is left out")
    where.add_argument("--only_finished", action="store_true",
                       help="leave out runs whose status is 'running' (default: include them, with a note)")
    what = parser.add_argument_group("what to report")
    what.add_argument("--figure", default=None, metavar="NAME",
                      help="a figure of the OVIS paper, with its own runs, keys and metrics (ovis.reporting.presets): "
                           "gmm, 3-left, 3-right, budget, asymptotic-variance; written to reports/EXP-NAME "
                           "(--out) with figure.png; do not combine with --keys/--metrics/--pivot_metrics")
    what.add_argument("--keys", default="dataset,estimator,iw",
                      help="comma-separated config fields defining a curve; runs differing in other "
                           "fields (seeds) are averaged (default: dataset,estimator,iw)")
    what.add_argument("--metrics", default="",
                      help="comma-separated split:group/name plotted against training steps, "
                           "e.g. test:loss/L_k,train:grads/snr")
    what.add_argument("--detailed_metrics", default="",
                      help="comma-separated metrics drawn in one grid figure showing every run")
    what.add_argument("--pivot_metrics", default="",
                      help="comma-separated agg:split:group/name, agg one of "
                           f"{', '.join(AGGREGATIONS)} (avg = mean; default last): one number per run, "
                           "tabulated and plotted against K, e.g. max:test:loss/L_k")
    what.add_argument("--error", choices=ERRORS, default="std",
                      help="spread shown over runs: standard deviation or standard error (default: std)")
    how = parser.add_argument_group("how")
    how.add_argument("--downsample", type=int, default=200,
                     help="at most this many points per curve, by averaging within step bins (0: all; default 200)")
    how.add_argument("--ylims", action="append", default=[], metavar="METRIC:LO:HI",
                     help="y range of a metric's plots, e.g. test:loss/L_k:-100:-80 (repeatable; a bound "
                          "may be empty)")
    how.add_argument("--out", default=None, help="output folder (default: reports/EXP)")
    how.add_argument("--formats", default="png,pdf", help="figure formats (default: png,pdf)")
    how.add_argument("--quiet", action="store_true", help="print warnings only")


def config_from_args(args: argparse.Namespace) -> ReportConfig:
    """Turn parsed flags into a :class:`~ovis.reporting.make.ReportConfig`.

    Raises:
        ValueError: a malformed metric, pivot spec or y range.
    """
    exp_dir = Path(args.root) / args.exp if args.exp else Path(args.root)
    metrics = [parse_metric(m) for m in _csv(args.metrics)]
    detailed = [parse_metric(m) for m in _csv(args.detailed_metrics)]
    pivots: List[PivotSpec] = [parse_pivot(s) for s in _csv(args.pivot_metrics)]
    if args.downsample < 0:
        raise ValueError(f"--downsample {args.downsample} is invalid; expected 0 (all points) or more")
    return ReportConfig(
        exp_dir=exp_dir,
        out=Path(args.out) if args.out else Path("reports") / exp_dir.name,
        keys=_csv(args.keys), metrics=metrics, detailed_metrics=detailed, pivot_metrics=pivots,
        include=[_csv(i) for i in args.include if _csv(i)],
        exclude=[p for e in args.exclude for p in _csv(e)],
        only_finished=args.only_finished, downsample=args.downsample,
        ylims=parse_ylims([y for item in args.ylims for y in _split_ylims(item)]),
        error=args.error, formats=_csv(args.formats) or ["png"],
    )


def _split_ylims(item: str) -> List[str]:
    """``--ylims a:b/c:1:2,d:e/f::3`` holds two ranges: split at commas."""
    return _csv(item)


def _setup_logging(quiet: bool) -> None:
    log = logging.getLogger("ovis.reporting")
    if not any(getattr(h, "_ovis_report", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("report: %(message)s"))
        handler._ovis_report = True  # type: ignore[attr-defined]
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.WARNING if quiet else logging.INFO)


def main(args: argparse.Namespace) -> int:
    """Build the report; returns the exit status (0: something written, 1: nothing to report,
    2: bad flags, or a metric or key of the flags that matches no run: nothing is written). The entry point :mod:`ovis.cli` calls for ``ovis report``."""
    _setup_logging(getattr(args, "quiet", False))
    log = logging.getLogger("ovis.reporting")
    if getattr(args, "figure", None):
        return _figure(args, log)
    try:
        cfg = config_from_args(args)
    except ValueError as e:
        log.error("%s", e)
        return 2
    return _exit_status(make_report(cfg), log)


def _exit_status(result: ReportResult, log: logging.Logger) -> int:
    """0 when the report (or figure) was written, 1 when it failed, 2 for invalid flags."""
    if result.invalid:
        return 2
    if not result.ok:
        return 1
    log.info("wrote %d file(s) to %s (see %s)", len(result.files), result.out, result.out / "summary.md")
    return 0


def _figure(args: argparse.Namespace, log: logging.Logger) -> int:
    """``--figure NAME``: build a preset of :mod:`ovis.reporting.presets`; exit status as :func:`main`."""
    from ..registry import RegistryError
    from .presets import FIGURES, make_figure

    try:
        FIGURES.get(args.figure)
    except RegistryError as e:
        log.error("--figure: %s", e)
        return 2
    clash = [flag for flag, value, default in (("--metrics", args.metrics, ""), ("--pivot_metrics", args.pivot_metrics, ""),
                                               ("--detailed_metrics", args.detailed_metrics, ""),
                                               ("--keys", args.keys, "dataset,estimator,iw"))
             if value != default]
    if clash:
        log.error("--figure %s chooses its own keys and metrics; drop %s (or drop --figure)", args.figure,
                  ", ".join(clash))
        return 2
    exp_dir = Path(args.root) / args.exp if args.exp else Path(args.root)
    out = Path(args.out) if args.out else Path("reports") / f"{exp_dir.name}-{args.figure}"
    return _exit_status(make_figure(args.figure, exp_dir, out, formats=_csv(args.formats) or ["png"], error=args.error),
                        log)


run = main
"""Alias of :func:`main`."""
