"""Reports from runs on disk: read runs -> pandas DataFrames -> tables and matplotlib figures.

Modules, one job each:

* :mod:`~ovis.reporting.runs`: read ``config.json``, ``status.json`` and ``metrics.jsonl``
  (TensorBoard events as fallback) of every run of an experiment.
* :mod:`~ovis.reporting.aggregate`: group runs by config keys, average over seeds (mean, std or
  sem), reduce curves to one number per run (``max:``, ``min:``, ``last:``, ``mean:``), fit
  log-log slopes.
* :mod:`~ovis.reporting.tables`: pivot tables as CSV and Markdown.
* :mod:`~ovis.reporting.figures`: learning curves, pivot plots against K, SNR log-log plots;
  :mod:`~ovis.reporting.layout`: their panels, legends, line styles and axes.
* :mod:`~ovis.reporting.naming`: estimator names as in the paper, one colour per estimator,
  axis labels with units.
* :mod:`~ovis.reporting.make`: the whole report; :mod:`~ovis.reporting.cli`: its flags.

Usage (shell)::

    python report.py --exp mini --keys dataset,estimator,iw --metrics test:loss/L_k \\
        --pivot_metrics max:test:loss/L_k
"""
from .aggregate import PivotSpec, curves, parse_metric, parse_pivot, pivot_values
from .make import ReportConfig, ReportResult, make_report
from .naming import estimator_color, estimator_label, metric_label
from .runs import Experiment, read_experiment
from .tables import pivot_table, to_markdown

__all__ = ["Experiment", "read_experiment", "PivotSpec", "parse_metric", "parse_pivot", "curves",
           "pivot_values", "pivot_table", "to_markdown", "ReportConfig", "ReportResult",
           "make_report", "estimator_label", "estimator_color", "metric_label"]
