"""Computational efficiency (the OVIS paper's efficiency figure): peak memory and time per epoch against K,
per estimator, on the paper's sigmoid belief network (3 x 200, linear) or Gaussian VAE.

Each (estimator, K) runs in a fresh process pinned to one thread: it builds the model, takes
``--warmup`` optimisation steps (Adam, batch ``--bs`` of random binary 28 x 28 images; the cost of a
step does not depend on the pixel values), then times ``--steps`` steps. Reported per configuration:

* ``seconds/epoch``: the median step time x the steps of one epoch of ``--epoch_size`` images
  (50,000: binarized MNIST's training set), i.e. extrapolated from the timed steps;
* ``peak MiB``: the process's peak resident memory during the steps above its resident memory
  before the first step (``ru_maxrss``; on CUDA, ``torch.cuda.max_memory_allocated``).

Passes are interleaved (every configuration once, then again) and the best median of the passes is
kept, because other processes share the machine: say the load (``uptime``) with the numbers.
Writes ``efficiency.jsonl`` (one line per measurement), ``efficiency.md`` and ``efficiency.png|pdf``
into ``--out``.

Usage (shell)::

    python benchmarks/efficiency.py --model sbn --estimators vimco-arithmetic,ovis-gamma1,ovis-S1-exclusive \\
        --Ks 5,10,25,50 --steps 10 --passes 2 --out reports/efficiency
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(config: Dict) -> Dict:
    """Measure one configuration in this process; returns the measurement."""
    import resource

    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    from ovis.estimators.config import parse_estimator_id
    from ovis.models import build_model

    device = torch.device(config["device"])
    if config["model"] == "sbn":
        model = build_model("sbn", (1, 28, 28), layers=(200, 200, 200), connection="linear")
    else:
        model = build_model("vae", (1, 28, 28), latent="normal", N=200, nlayers=2, hdim=200)
    model = model.to(device)
    Estimator, options = parse_estimator_id(config["estimator"])
    estimator = Estimator(mc=1, iw=config["K"], **options).to(device)
    params = list(model.parameters()) + list(estimator.parameters())
    optimizer = torch.optim.Adam(params, lr=3e-4)
    x = torch.bernoulli(torch.full((config["bs"], 1, 28, 28), 0.3, device=device))

    def step() -> None:
        loss, _, _ = estimator(model, x, backward=True)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB -> MiB (Linux)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(config["warmup"]):
        step()
    times = []
    for _ in range(config["steps"]):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2 ** 20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0 - before
    median = statistics.median(times)
    return {**config, "step_seconds": median, "epoch_seconds": median * config["epoch_size"] / config["bs"],
            "peak_mib": peak}


def particles(estimator: str, K: int) -> int:
    """Particles evaluated per data point (OVIS-MC exclusive draws S = yK more)."""
    from ovis.estimator_ids import parse_id
    options = parse_id(estimator).options
    if options.get("exclusive"):
        return K + max(1, round(options["auxiliary"] * K))
    return K


def measure(config: Dict, timeout: float) -> Dict:
    """Run :func:`child` in a fresh process (no shell); returns its measurement or an error."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", json.dumps(config)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {**config, "error": f"timed out after {timeout:.0f} s"}
    if done.returncode != 0:
        return {**config, "error": (done.stderr.strip().splitlines() or ["exit %d" % done.returncode])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def best(measurements: List[Dict]) -> Dict:
    """Per (estimator, K): the smallest median step time over the passes, the largest peak memory."""
    out: Dict = {}
    for m in measurements:
        if "error" in m:
            continue
        key = (m["estimator"], m["K"])
        if key not in out:
            out[key] = dict(m, passes=1)
        else:
            out[key]["passes"] += 1
            if m["epoch_seconds"] < out[key]["epoch_seconds"]:
                out[key].update(step_seconds=m["step_seconds"], epoch_seconds=m["epoch_seconds"])
            out[key]["peak_mib"] = max(out[key]["peak_mib"], m["peak_mib"])
    return out


def figure(table: Dict, path: str, title: str) -> List[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    from ovis.reporting.naming import estimator_color, estimator_label, estimator_sort_key

    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.6))
    estimators = sorted({e for e, _ in table}, key=estimator_sort_key)
    Ks = sorted({k for _, k in table})
    for estimator in estimators:
        rows = sorted((k, v) for (e, k), v in table.items() if e == estimator)
        x = [k for k, _ in rows]
        for ax, field in zip(axes, ("peak_mib", "epoch_seconds")):
            ax.plot(x, [v[field] for _, v in rows], marker="o", markersize=3.5, color=estimator_color(estimator),
                    label=estimator_label(estimator))
    from ovis.reporting.layout import log_y

    for ax, label in zip(axes, ("peak memory above idle (MiB)", "seconds per epoch (extrapolated)")):
        ax.set_xscale("log")
        log_y(ax)  # log axis spanning at least a decade, plain tick labels
        ax.set_xticks(Ks, [str(k) for k in Ks])
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("K (particles of the bound)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    paths = []
    for fmt in ("png", "pdf"):
        paths.append(f"{path}.{fmt}")
        fig.savefig(paths[-1], dpi=140)
    plt.close(fig)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="sbn", choices=("sbn", "vae"),
                        help="sbn: 3 x 200 Bernoulli layers, linear; vae: Gaussian, 200 latents, 2 x 200 MLPs")
    parser.add_argument("--estimators", default="reinforce,vimco-arithmetic,ovis-gamma1,ovis-S1-exclusive,"
                        "ovis-S10-exclusive,tvo-part2-config1,wake-wake", help="comma-separated estimator ids")
    parser.add_argument("--Ks", default="5,10,25,50", help="comma-separated K (default: %(default)s)")
    parser.add_argument("--bs", type=int, default=24, help="batch size (default: %(default)s, the paper's)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--passes", type=int, default=2, help="interleaved passes over the configurations")
    parser.add_argument("--epoch_size", type=int, default=50000, help="images per epoch (default: %(default)s)")
    parser.add_argument("--max_particles", type=int, default=600,
                        help="skip configurations evaluating more particles per data point (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per measurement")
    parser.add_argument("--out", default="reports/efficiency", help="output folder")
    parser.add_argument("--replot", action="store_true",
                        help="measure nothing: redraw the table and figure from --out/efficiency.jsonl")
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    from ovis.estimators.config import parse_estimator_id

    estimators = [e.strip() for e in args.estimators.split(",") if e.strip()]
    for e in estimators:
        parse_estimator_id(e)
    try:
        Ks = [int(k) for k in args.Ks.split(",") if k.strip()]
    except ValueError:
        parser.error(f"--Ks {args.Ks!r} is invalid; expected comma-separated integers, e.g. 5,10,25,50")
    configs = [{"model": args.model, "estimator": e, "K": K, "bs": args.bs, "steps": args.steps,
                "warmup": args.warmup, "epoch_size": args.epoch_size, "device": args.device}
               for e in estimators for K in Ks if particles(e, K) <= args.max_particles]
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, "efficiency.jsonl")
    measurements = []
    load = os.getloadavg()
    if args.replot:
        with open(log) as f:
            measurements = [json.loads(line) for line in f if line.strip()]
        measurements = [m for m in measurements if m["estimator"] in estimators and m["K"] in Ks]
        load = tuple(m["load"] for m in measurements[:1] if "load" in m) or (float("nan"),)
        args.passes = max((m.get("pass", 0) for m in measurements), default=0) + 1
        configs = []
    for p in range(args.passes if not args.replot else 0):
        for config in configs:
            m = measure(config, args.timeout)
            m["pass"], m["load"] = p, os.getloadavg()[0]
            measurements.append(m)
            with open(log, "a") as f:
                f.write(json.dumps(m) + "\n")
            status = m.get("error") or f"{m['epoch_seconds']:.1f} s/epoch, {m['peak_mib']:.0f} MiB"
            print(f"pass {p} {config['estimator']} K={config['K']}: {status}", flush=True)
    table = best(measurements)
    load_end = (measurements[-1].get("load", float("nan")),) if args.replot and measurements else os.getloadavg()
    title = (f"{args.model}, batch {args.bs}, {args.device}, 1 thread; median of {args.steps} steps, best of "
             f"{args.passes} passes; " + (f"load {load[0]:.1f} -> {load_end[0]:.1f}" if load[0] == load[0]
                                          else "load not recorded"))
    lines = [f"# Efficiency: {title}", "", "| estimator | K | particles | s/step | s/epoch | peak MiB |",
             "|---|---|---|---|---|---|"]
    for (e, K), v in sorted(table.items(), key=lambda kv: (estimators.index(kv[0][0]), kv[0][1])):
        lines.append(f"| {e} | {K} | {particles(e, K)} | {v['step_seconds']:.4f} | {v['epoch_seconds']:.1f} | "
                     f"{v['peak_mib']:.0f} |")
    skipped = [f"{e} K={K}" for e in estimators for K in Ks if particles(e, K) > args.max_particles]
    if skipped:
        lines += ["", f"Skipped (over {args.max_particles} particles per data point): {', '.join(skipped)}"]
    errors = [f"{m['estimator']} K={m['K']}: {m['error']}" for m in measurements if "error" in m]
    if errors:
        lines += ["", "Errors: " + "; ".join(errors)]
    with open(os.path.join(args.out, "efficiency.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    if table:
        figure(table, os.path.join(args.out, "efficiency"), title)
    return 0 if table else 1


if __name__ == "__main__":
    sys.exit(main())
