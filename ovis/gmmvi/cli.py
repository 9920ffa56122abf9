"""Fit a Gaussian mixture to a target with GMMVI (``ovis gmmvi`` / ``python run_gmmvi.py``).

The configuration is the code word's default merged with the target's
experiment defaults (the framework's settings), then with ``--config FILE.yml``
(the framework's YAML format), then with ``--set key=value`` (dotted keys, JSON
values). The run directory holds config.json, metrics.jsonl, checkpoint.pt and
status.json; running again on the same directory resumes.

Examples:
    python run_gmmvi.py --target breast-cancer --codeword SAMTRON --iterations 1500 --run-dir runs/bc-samtron
    python run_gmmvi.py --target german-credit --data-path ../shared/data/gmmvi/german.data-numeric
    python run_gmmvi.py --target gmm20 --codeword ZAMTRUX --set sample_selector_config.desired_samples_per_component=200
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

__all__ = ["add_arguments", "main", "build_config", "TARGET_EXPERIMENTS"]

#: ovis target name -> the framework's experiment defaults
TARGET_EXPERIMENTS = {"breast-cancer": "breast_cancer", "breast-cancer-mb": "breast_cancer_mb",
                      "german-credit": "german_credit", "german-credit-mb": "german_credit_mb",
                      "gmm20": "gmm20", "stm20": "stm20", "planar-robot-4": "planar_robot_4"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", default="breast-cancer", choices=sorted(TARGET_EXPERIMENTS),
                        help="the target distribution (default: %(default)s)")
    parser.add_argument("--codeword", default="SAMTRON", help="seven-letter design choice (default: %(default)s)")
    parser.add_argument("--config", type=Path, help="a YAML file in the framework's format, merged on top")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting (dotted key, JSON value), e.g. temperature=1.0")
    parser.add_argument("--data-path", help="the data file of breast-cancer / german-credit")
    parser.add_argument("--iterations", type=int, default=1000, help="total iterations (default: %(default)s)")
    parser.add_argument("--max-target-evaluations", type=int, help="stop after this many target evaluations")
    parser.add_argument("--seed", type=int, help="random seed (default: the config's start_seed)")
    parser.add_argument("--run-dir", type=Path, default=Path("runs/gmmvi"), help="run directory (resumes if it "
                        "holds a checkpoint; default: %(default)s)")
    parser.add_argument("--log-every", type=int, default=0, help="evaluation interval (default: the config's)")
    parser.add_argument("--checkpoint-every", type=int, default=0, help="checkpoint interval (default: --log-every)")
    parser.add_argument("--eval-samples", type=int, default=2000, help="samples of the ELBO estimate")
    parser.add_argument("--dtype", choices=["float64", "float32"], help="floating point type (default float64)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _set(config: Dict[str, Any], assignment: str) -> None:
    if "=" not in assignment:
        raise ValueError(f"--set expects KEY=VALUE, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    node = config
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


def build_config(args: argparse.Namespace) -> Dict[str, Any]:
    """The configuration of a command line."""
    from .configs import default_config, load_yaml, merge
    config = default_config(args.codeword, TARGET_EXPERIMENTS[args.target])
    if args.config is not None:
        config = merge(config, load_yaml(args.config))
    for assignment in args.set:
        _set(config, assignment)
    if args.data_path:
        config.setdefault("environment_config", {})["data_path"] = str(args.data_path)
    if args.dtype:
        config["dtype"] = args.dtype
    return config


def main(args: argparse.Namespace) -> int:
    import torch

    from .runner import GMMVIRunner, LocalRunSink
    torch.set_num_threads(max(1, args.threads))
    config = build_config(args)
    runner = GMMVIRunner(config, LocalRunSink(args.run_dir), seed=args.seed, progress=not args.no_progress)
    last = runner.run(args.iterations, log_every=args.log_every, checkpoint_every=args.checkpoint_every,
                      num_eval_samples=args.eval_samples, max_target_evaluations=args.max_target_evaluations)
    if last:
        print(f"iteration {runner.iteration}: -ELBO {last['eval:gmmvi/neg_elbo']:.4f}, "
              f"{last['train:gmmvi/num_components']} components, "
              f"{last['train:gmmvi/target_evaluations']} target evaluations, "
              f"{runner.algo_time / max(1, runner.iteration):.4f} s/iteration")
    return 0
