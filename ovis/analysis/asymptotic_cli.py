"""The asymptotic-variance study of the OVIS paper (figure 1): gradient SNR, variance and DSNR of the
inference network against K on the linear Gaussian toy, with fitted log-log slopes.

Writes ``points.jsonl`` (one line per estimator and K, appended as it goes, so an interrupted
study resumes where it stopped), ``slopes.md`` and ``snr.png`` into ``--out``.

Usage (shell)::

    python asymptotic_variance.py --Ks 3,10,30,100,300,1000 --samples 200 --out reports/asymptotic-variance
    python asymptotic_variance.py --estimators pathwise-iwae,ovis-gamma0 --points 128 --samples 50
"""
from __future__ import annotations

import argparse
import json
import os
from typing import Dict, List, Tuple

import torch

__all__ = ["add_arguments", "main"]


def _ints(text: str) -> List[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers (e.g. 3,10,30)")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every K must be a positive integer")
    return values


def _settings(text: str) -> Dict[str, Tuple[int, int]]:
    out = {}
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        try:
            name, value = item.split("=")
            points, samples = (int(v) for v in value.split(":"))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is not ESTIMATOR=POINTS:SAMPLES (e.g. ovis-S50-exclusive=16:50)")
        if points < 1 or samples < 2:
            raise argparse.ArgumentTypeError(f"{item!r}: expected at least 1 data point and 2 gradient samples")
        out[name.strip()] = (points, samples)
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from .asymptotic import ESTIMATORS
    parser.add_argument("--estimators", default=",".join(ESTIMATORS), help="comma-separated estimator ids")
    parser.add_argument("--Ks", type=_ints, default=[3, 10, 30, 100, 300, 1000], help="values of K (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=200, help="gradient samples per point (default: %(default)s)")
    parser.add_argument("--points", type=int, default=1024, help="data points (default: %(default)s)")
    parser.add_argument("--D", type=int, default=20, help="dimension of the toy (default: %(default)s)")
    parser.add_argument("--eps", type=float, default=0.01, help="perturbation of the optimum (default: %(default)s)")
    parser.add_argument("--q_scale", type=float, default=None,
                        help="standard deviation of q (default: sqrt(2/3); the original code uses 2/3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the perturbation and the samples")
    parser.add_argument("--max_particles", type=int, default=0,
                        help="skip a point whose estimator evaluates more particles per data point (0: no limit)")
    parser.add_argument("--settings", type=_settings, default={},
                        help="per-estimator data points and gradient samples, e.g. "
                             "'ovis-S50-exclusive=16:50,ovis-S10-exclusive=32:50' (others: --points, --samples)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--out", default="reports/asymptotic-variance", help="output folder (default: %(default)s)")


def _particles(estimator_id: str, K: int) -> int:
    from ..estimators.config import parse_estimator_id
    Estimator, config = parse_estimator_id(estimator_id)
    if config.get("exclusive"):
        return K + max(1, round(config["auxiliary"] * K))
    return K


def main(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from ..runs.atomic import atomic_write
    from .asymptotic import StudyPoint, perturbed_toy, slopes, study_point

    torch.set_num_threads(max(1, args.threads))
    estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
    from ..estimators.config import parse_estimator_id
    for e in estimators:
        parse_estimator_id(e)  # an unknown id fails before any work
    for name in args.settings:
        if name not in estimators:
            raise SystemExit(f"--settings names {name!r}, which is not in --estimators ({', '.join(estimators)})")
    setting = {e: args.settings.get(e, (args.points, args.samples)) for e in estimators}
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "points.jsonl")
    done = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    p = StudyPoint(**json.loads(line))
                    if p.estimator in setting and (p.points, p.samples) == setting[p.estimator] and p.seed == args.seed:
                        done[p.estimator, p.K] = p
    toys = {}
    for estimator in estimators:
        points, samples = setting[estimator]
        if points not in toys:
            toys[points] = perturbed_toy(args.D, points, args.eps, args.q_scale, args.seed)
        model, x = toys[points]
        for K in args.Ks:
            if (estimator, K) in done:
                continue
            if args.max_particles and _particles(estimator, K) > args.max_particles:
                print(f"{estimator} K={K}: skipped (more than {args.max_particles} particles per data point)")
                continue
            point = study_point(estimator, K, model, x, samples, seed=args.seed)
            done[estimator, K] = point
            with open(path, "a") as f:
                f.write(json.dumps(asdict(point)) + "\n")
            print(f"{estimator} K={K}: snr {point.snr:.4g} (debiased {point.snr_debiased:.4g}) variance "
                  f"{point.variance:.4g} dsnr {point.dsnr:.4g} ({point.seconds:.1f} s)", flush=True)
    points = [p for (e, _), p in done.items() if e in estimators]
    lines = ["| estimator | points | samples | SNR slope | SE | debiased SNR slope | SE | DSNR slope | SE | K values |",
             "|---|---:|---:|---|---|---|---|---|---|---|"]
    snr, dsnr = slopes(points, "snr"), slopes(points, "dsnr")
    debiased = slopes([p for p in points if p.snr_debiased == p.snr_debiased], "snr_debiased")
    nan = (float("nan"), float("nan"), 0)
    for name in estimators:
        if name in snr:
            s, se, n = snr[name]
            ds, dse, _ = dsnr.get(name, nan)
            bs, bse, _ = debiased.get(name, nan)
            Ks = sorted(p.K for p in points if p.estimator == name)
            lines.append(f"| {name} | {setting[name][0]} | {setting[name][1]} | {s:+.3f} | {se:.3f} | {bs:+.3f} | "
                         f"{bse:.3f} | {ds:+.3f} | {dse:.3f} | {Ks[0]}..{Ks[-1]} ({n}) |")
    scale = "sqrt(2/3)" if args.q_scale is None else f"{args.q_scale:g}"
    header = (f"Gaussian toy, D = {args.D}, eps = {args.eps}, std of q = {scale}, seed {args.seed} "
              f"(data points and gradient samples per estimator in the table)\n\n")
    atomic_write(os.path.join(args.out, "slopes.md"), lambda f: f.write(header + "\n".join(lines) + "\n"))
    print(header + "\n".join(lines))
    _figure(points, estimators, os.path.join(args.out, "snr.png"), header.strip())
    _distribution_figure(points, estimators, os.path.join(args.out, "distribution.png"), header.strip())
    return 0


def _figure(points, estimators, path: str, title: str) -> None:
    import matplotlib
    import matplotlib.ticker
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runs.atomic import atomic_write

    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for metric, ax in zip(("snr", "variance", "dsnr"), axes):
        for name in estimators:
            ps = sorted((p for p in points if p.estimator == name), key=lambda p: p.K)
            if ps:
                ax.plot([p.K for p in ps], [getattr(p, metric) for p in ps], marker="o", label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        Ks = sorted({p.K for p in points})
        ax.set_xticks(Ks, [str(k) for k in Ks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("K (particles)")
        ax.set_title(f"{metric.upper() if metric != 'variance' else 'variance'} of the inference gradient")
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120), binary=True)
    plt.close(fig)


def _distribution_figure(points, estimators, path: str, title: str) -> None:
    """Histograms of the gradient samples of the first entry of q's bias, one row per estimator, at
    the smallest, a middle and the largest K (only points that stored their samples)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..runs.atomic import atomic_write

    rows = []
    for name in estimators:
        ps = sorted((p for p in points if p.estimator == name and p.bias_samples), key=lambda p: p.K)
        if ps:
            rows.append((name, [ps[0], ps[len(ps) // 2], ps[-1]] if len(ps) >= 3 else ps))
    if not rows:
        return
    fig, axes = plt.subplots(len(rows), 3, figsize=(11, 1.9 * len(rows)), squeeze=False)
    for (name, ps), row in zip(rows, axes):
        for p, ax in zip(ps, row):
            values = p.bias_samples
            mean = sum(values) / len(values)
            ax.hist(values, bins=25, color="C0", alpha=0.8)
            ax.axvline(mean, color="k", lw=1)
            ax.axvline(0.0, color="r", lw=0.8, ls="--")
            ax.set_title(f"{name}, K = {p.K}: SNR {p.snr:.2g}", fontsize=8)
            ax.tick_params(labelsize=6)
        for ax in row[len(ps):]:
            ax.axis("off")
    fig.suptitle("gradient samples of b[0] (black: their mean, red dashed: 0)\n" + title, fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110), binary=True)
    plt.close(fig)
