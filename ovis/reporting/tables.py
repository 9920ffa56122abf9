"""Pivot tables: one row per group of runs, one column per pivot metric (mean and spread over
the runs of the group), written as CSV (full precision) and Markdown (``mean ± err``).

Example:
    >>> import tempfile
    >>> from ovis.runs import RunDirectory
    >>> from ovis.reporting.runs import read_experiment
    >>> root = tempfile.mkdtemp()
    >>> for seed, best in [(1, -90.0), (2, -88.0)]:   # two seeds of one configuration
    ...     run = RunDirectory(f"{root}/mini/seed{seed}")
    ...     run.write_config({"dataset": "digits", "estimator": "vimco-arithmetic", "iw": 16, "seed": seed})
    ...     run.set_status("success")
    ...     for step, value in [(0, -120.0), (100, best)]:
    ...         _ = run.log_metrics(step, "test", {"loss": {"L_k": value}})
    >>> experiment = read_experiment(f"{root}/mini")
    >>> from ovis.reporting.aggregate import parse_pivot
    >>> from ovis.reporting.tables import pivot_table, to_markdown
    >>> specs = [parse_pivot("max:test:loss/L_k")]
    >>> table = pivot_table(experiment, specs, ["dataset", "estimator", "iw"])
    >>> table.to_csv(f"{root}/pivot.csv", index=False)
    >>> print(to_markdown(table, ["dataset", "estimator", "iw"], specs))
    | data | estimator | K | test L_K (nats), max | runs |
    | --- | --- | --- | ---: | ---: |
    | digits | VIMCO (arithmetic) | 16 | -89.0 ± 1.4 | 2 |
    <BLANKLINE>
    Mean ± standard deviation over the runs (seeds) of each row.
    <BLANKLINE>
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from .aggregate import ERRORS, PivotSpec, run_values, sort_groups
from .naming import estimator_label, format_value, key_label, metric_label
from .runs import Experiment

__all__ = ["pivot_table", "to_markdown", "format_mean_err"]


def pivot_table(exp: Experiment, specs: Sequence[PivotSpec], keys: Sequence[str], *,
                error: str = "std") -> pd.DataFrame:
    """One row per group of ``keys``; for each spec the columns ``'<spec> mean'``,
    ``'<spec> <error>'`` (std with ddof=1, or sem) and ``'<spec> n'`` (runs that logged the
    metric), plus ``runs``, the number of runs in the group.

    Returns:
        the table, sorted by ``keys``; empty (no rows) when no run logged any of the specs.
    """
    if error not in ERRORS:
        raise ValueError(f"unknown error {error!r}; expected one of {', '.join(ERRORS)}")
    values = [run_values(exp, spec) for spec in specs]
    values = [v for v in values if not v.empty]
    if not values:
        return pd.DataFrame(columns=[*keys, "runs"])
    wide = pd.concat(values, axis=1)
    wide = exp.configs[list(keys)].join(wide, how="inner")
    by = list(keys) if keys else np.zeros(len(wide), dtype=int)
    grouped = wide.groupby(by, dropna=False, sort=False)
    out = grouped.size().to_frame("runs")
    for spec in specs:
        if spec.name not in wide.columns:
            continue
        col = grouped[spec.name]
        std, n = col.std(), col.count()
        out[f"{spec.name} mean"] = col.mean()
        out[f"{spec.name} {error}"] = std if error == "std" else std / np.sqrt(n)
        out[f"{spec.name} n"] = n
    out = out.reset_index(drop=not keys)
    out = out[[*keys, *[c for c in out.columns if c not in keys]]]
    return sort_groups(out, keys)


def format_mean_err(mean: float, err: float) -> str:
    """``mean ± err`` with the error to two significant digits and the mean to the same
    decimal; just the mean (4 significant digits) when the error is unknown (one run)."""
    if mean is None or not math.isfinite(mean):
        return "–"
    if err is None or not math.isfinite(err):
        return f"{mean:.4g}"
    if err == 0:
        return f"{mean:.4g} ± 0"
    decimals = int(min(max(1 - math.floor(math.log10(abs(err))), 0), 8))
    return f"{mean:.{decimals}f} ± {err:.{decimals}f}"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("~", "\\~")


def to_markdown(table: pd.DataFrame, keys: Sequence[str], specs: Sequence[PivotSpec], *,
                error: str = "std", particles: Optional[Dict[str, int]] = None) -> str:
    """The pivot table as a Markdown table: estimators by their paper names, one
    ``mean ± err`` column per spec, a ``runs`` column; a cell whose metric was logged by fewer
    runs than the group holds says so (``(n=2)``)."""
    specs = [s for s in specs if f"{s.name} mean" in table.columns]
    header = [key_label(k) if k != "estimator" else "estimator" for k in keys]
    header += [metric_label(s.metric, s.aggregation, particles) for s in specs] + ["runs"]
    lines = ["| " + " | ".join(_md(h) for h in header) + " |",
             "|" + "|".join([" --- "] * len(keys) + [" ---: "] * (len(specs) + 1)) + "|"]
    for _, row in table.iterrows():
        cells: List[str] = [estimator_label(row[k]) if k == "estimator" else format_value(row[k])
                            for k in keys]
        for s in specs:
            cell = format_mean_err(row[f"{s.name} mean"], row[f"{s.name} {error}"])
            n = row[f"{s.name} n"]
            if math.isfinite(n) and int(n) != int(row["runs"]):
                cell += f" (n={int(n)})"
            cells.append(cell)
        cells.append(str(int(row["runs"])))
        lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    spread = "standard deviation" if error == "std" else "standard error of the mean"
    lines += ["", f"Mean ± {spread} over the runs (seeds) of each row."]
    return "\n".join(lines) + "\n"
