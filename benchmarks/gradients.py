"""Gradient statistics: batched (vmap) samples against one backward pass per sample.

:func:`ovis.analysis.get_gradients_statistics` on the 784-200 linear sigmoid belief network
(``build_model('sbn', (784,), layers=(200,))``), estimator ``ovis-gamma1``, 200 gradient samples
of the inference network's parameters (157,000 of them), K in {5, 50}, for a single data point
and for a batch of 24. Three ways of drawing the samples, all followed by the same reduction
(variance, magnitude, SNR, DSNR, SNR percentiles):

* ``batched``: the library default, ``vmap(grad(loss))`` over chunks of samples;
* ``loop``: ``method="loop"``, one forward and one ``torch.autograd.grad`` of the selected
  parameters per sample;
* ``plain loop``: what one writes by hand: ``model.zero_grad(); loss.mean().backward()`` per sample
  and a copy of the selected ``.grad`` (the backward pass covers every parameter).

Times include the reduction. Equality: with the same seed, ``batched`` and ``loop`` draw the same
particles on this model (one layer of bernoulli latents), so their statistics must agree up to
rounding; the table gives the largest relative difference over all statistics in float32 (the
timed setting) and with the model in float64.

Method: one thread (``torch.set_num_threads(1)``), every configuration in a fresh process,
methods interleaved within each pass, the median over passes taken in each process and the best
median over processes reported. Data: binary images from ``--mnist`` (``t10k-images-idx3-ubyte.gz``,
binarized at 0.5) if given, else random binary images with 13% ones (MNIST's density).

Usage::

    python benchmarks/gradients.py                  # prints the table
    python benchmarks/gradients.py --write          # and replaces its section of benchmarks/RESULTS.md
    python benchmarks/gradients.py --quick          # one process, two passes, K = 5 only
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
SECTION = "## Gradient statistics"
METHODS = ("batched", "loop", "plain loop")


def _data(bs: int, mnist: str):
    import numpy as np
    import torch

    if mnist:
        with gzip.open(mnist, "rb") as f:
            images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
        return torch.from_numpy((images[:bs] >= 128).astype(np.float32))
    return (torch.rand(bs, 784, generator=torch.Generator().manual_seed(0)) < 0.13).float()


def _plain_loop(estimator, model, x, mc_samples, key_filter, seed):
    """One ``.backward()`` per sample, then the same reduction as the library."""
    import torch

    from ovis.analysis.gradients import GradientSamples, reduce_gradient_samples, select_parameters

    selected = select_parameters(model, key_filter)
    rows, ess = [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.eval()
        for _ in range(mc_samples):
            model.zero_grad()
            loss, diagnostics, _ = estimator(model, x)
            loss.mean().backward()
            rows.append(torch.cat([p.grad.reshape(-1) for _, p in selected]).clone())
            ess.append(diagnostics["loss"]["ess"].mean())
        model.zero_grad()
    samples = GradientSamples([[torch.stack(rows)]], torch.stack(ess), [n for n, _ in selected],
                              [tuple(p.shape) for _, p in selected], "plain loop")
    stats, per_parameter = reduce_gradient_samples(samples)
    stats["grads"]["ess"] = samples.ess.double().mean()
    return stats, per_parameter


#: statistics dominated by parameters whose mean gradient is ~0, where the relative difference of
#: two float32 computations is that of two rounding errors (reported separately)
ILL_CONDITIONED = ("snr/min", "snr/p5")


def _max_relative_difference(a: Dict, b: Dict, ill_conditioned: bool = False):
    worst, where = 0.0, ""
    for group in a:
        for name in a[group]:
            if (f"{group}/{name}" in ILL_CONDITIONED) != ill_conditioned:
                continue
            x, y = float(a[group][name]), float(b[group][name])
            diff = abs(x - y) / max(abs(x), 1e-300)
            if diff > worst:
                worst, where = diff, f"{group}/{name}"
    return worst, where


def child(K: int, bs: int, samples: int, passes: int, mnist: str) -> Dict:
    import torch

    torch.set_num_threads(1)
    from ovis.analysis.gradients import get_gradients_statistics
    from ovis.estimators import parse_estimator_id
    from ovis.models import build_model

    torch.manual_seed(0)
    model = build_model("sbn", (784,), layers=(200,))
    Estimator, config = parse_estimator_id("ovis-gamma1")
    estimator = Estimator(mc=1, iw=K, **config)
    x = _data(bs, mnist)
    key = "inference_network"
    run = {
        "batched": lambda: get_gradients_statistics(estimator, model, x, mc_samples=samples, key_filter=key, seed=1),
        "loop": lambda: get_gradients_statistics(estimator, model, x, mc_samples=samples, key_filter=key, seed=1,
                                                 method="loop"),
        "plain loop": lambda: _plain_loop(estimator, model, x, samples, key, seed=1),
    }
    out: Dict = {"K": K, "bs": bs, "samples": samples}
    results = {m: run[m]() for m in METHODS}  # warm-up, and the float32 comparison
    out["method_used"] = results["batched"][1]["method"]
    out["f32"] = _max_relative_difference(results["loop"][0], results["batched"][0])
    out["f32_ill"] = _max_relative_difference(results["loop"][0], results["batched"][0], ill_conditioned=True)
    out["f32_plain"] = _max_relative_difference(results["loop"][0], results["plain loop"][0])
    times: Dict[str, List[float]] = {m: [] for m in METHODS}
    for _ in range(passes):
        for m in METHODS:
            start = time.perf_counter()
            run[m]()
            times[m].append(time.perf_counter() - start)
    out["median"] = {m: statistics.median(v) for m, v in times.items()}
    model64, estimator64, x64 = model.double(), estimator.double(), x.double()
    a = get_gradients_statistics(estimator64, model64, x64, mc_samples=samples, key_filter=key, seed=1)[0]
    b = get_gradients_statistics(estimator64, model64, x64, mc_samples=samples, key_filter=key, seed=1,
                                 method="loop")[0]
    out["f64"] = max(_max_relative_difference(b, a), _max_relative_difference(b, a, True), key=lambda v: v[0])
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        cpu = f"{names[0]} ({len(names)} logical cores)" if names else cpu
    except OSError:
        pass
    import torch

    return f"{cpu}; Linux {platform.release()}; Python {platform.python_version()}; torch {torch.__version__}; " \
           f"1 thread"


def table(rows: List[Dict]) -> str:
    lines = ["| K | data points | samples | batched (s) | loop (s) | plain loop (s) | speed-up vs loop "
             "| vs plain loop | rel. diff float32 | rel. diff float32, snr/p5 & min | rel. diff float64 |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        t = r["best"]
        lines.append(f"| {r['K']} | {r['bs']} | {r['samples']} | {t['batched']:.3f} | {t['loop']:.3f} | "
                     f"{t['plain loop']:.3f} | {t['loop'] / t['batched']:.1f}x | {t['plain loop'] / t['batched']:.1f}x | "
                     f"{r['f32'][0]:.1e} ({r['f32'][1]}) | {r['f32_ill'][0]:.1e} | {r['f64'][0]:.1e} |")
    return "\n".join(lines)


def write_section(text: str, path: str) -> None:
    """Replace (or append) the ``## Gradient statistics`` section of ``path``, leaving the others."""
    content = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    start = content.find(SECTION + "\n")
    if start < 0:
        content = content.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = content.find("\n## ", start + len(SECTION))
        tail = content[end + 1:] if end >= 0 else ""
        content = content[:start] + text.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    with open(path, "w") as f:
        f.write(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", default="5,50", help="particles K (comma-separated)")
    parser.add_argument("--bs", default="1,24", help="data points per gradient sample (comma-separated)")
    parser.add_argument("--samples", type=int, default=200, help="gradient samples")
    parser.add_argument("--passes", type=int, default=5, help="interleaved timing passes per process")
    parser.add_argument("--processes", type=int, default=3, help="fresh processes per configuration")
    parser.add_argument("--mnist", default="", help="path to t10k-images-idx3-ubyte.gz (default: random images)")
    parser.add_argument("--quick", action="store_true", help="K = 5, one data point, one process, two passes")
    parser.add_argument("--write", action="store_true", help="replace the section of benchmarks/RESULTS.md")
    parser.add_argument("--note", default="", help="a sentence added under the section's heading")
    parser.add_argument("--child", nargs=2, type=int, metavar=("K", "BS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.samples, args.passes, args.mnist)))
        return
    if args.quick:
        args.ks, args.bs, args.processes, args.passes = "5", "1", 1, 2
    rows = []
    for K in [int(k) for k in args.ks.split(",")]:
        for bs in [int(b) for b in args.bs.split(",")]:
            runs = []
            for _ in range(args.processes):
                cmd = [sys.executable, __file__, "--child", str(K), str(bs), "--samples", str(args.samples),
                       "--passes", str(args.passes), "--mnist", args.mnist]
                env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE),
                                                                   os.environ.get("PYTHONPATH", "")]))
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
                if proc.returncode != 0:
                    sys.exit(f"child K={K} bs={bs} failed:\n{proc.stderr[-3000:]}")
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
                if runs[-1]["method_used"] != "batched":
                    sys.exit(f"K={K} bs={bs}: the batched samples fell back to the loop (vmap cannot trace the "
                             f"model or estimator; see the RuntimeWarning):\n{proc.stderr[-2000:]}")
            row = dict(runs[0])
            row["best"] = {m: min(r["median"][m] for r in runs) for m in METHODS}
            row["f32"] = max((r["f32"] for r in runs), key=lambda v: v[0])
            row["f64"] = max((r["f64"] for r in runs), key=lambda v: v[0])
            row["f32_ill"] = max((r["f32_ill"] for r in runs), key=lambda v: v[0])
            rows.append(row)
            print(f"K={K} bs={bs}: " + ", ".join(f"{m} {row['best'][m]:.3f}s" for m in METHODS), file=sys.stderr)
    data = f"MNIST test images ({args.mnist})" if args.mnist else "random binary images (13% ones)"
    text = "\n".join([
        SECTION, "",
        f"`python benchmarks/gradients.py` ({date.today().isoformat()}; {machine()}).", "",
        *([args.note, ""] if args.note else []),
        f"`get_gradients_statistics` on the 784-200 linear SBN, `ovis-gamma1`, {args.samples} gradient samples of "
        f"the inference network (157,000 parameters), {data}; best median over {args.processes} fresh processes "
        f"of {args.passes} interleaved passes; times include the reduction to statistics. *loop*: "
        f"`method=\"loop\"` (one forward + `autograd.grad` of the selected parameters per sample); *plain loop*: "
        f"`loss.mean().backward()` per sample. Last columns: largest relative difference between the "
        f"statistics of `batched` and `loop` on the same seed (same particles): in float32 over `grads/*` and "
        f"`snr/{{p25,p50,p75,p95,max,mean}}` (with the statistic where it occurs), in float32 over `snr/p5` and "
        f"`snr/min` (set by parameters whose mean gradient is ~0: a ratio of rounding errors), and with the "
        f"model in float64 over all statistics.",
        "", table(rows), ""])
    print(text)
    if args.write:
        write_section(text, os.path.join(HERE, "RESULTS.md"))


if __name__ == "__main__":
    main()
