"""Speed and memory of every estimator against the cost of evaluating the model.

For each estimator and K in {5, 50, 500, 2000, 5000} (OVIS-MC ``-S1``/``-S10`` exclusive for K
up to 500, since they evaluate (1+y)K particles), on a 784-200 Bernoulli sigmoid belief network
with batch size 24 (score-function estimators) or a 784-200 Gaussian VAE with linear maps
(pathwise estimators, which need reparameterizable latents), this prints:

* ``step (s)``: median time of one forward + backward step of the estimator;
* ``model (s)``: median time of the same model evaluated on the same number of particles,
  forward + backward of the summed log-probabilities (the reference);
* ``overhead``: step / model, measured interleaved in the same process;
* ``peak MB``: peak resident memory added by one estimator step (fresh process, ``ru_maxrss``);
* ``model MB``: the same for the reference step.

An estimator that trains a network of its own (``reinforce-baseline``: NVIL's 784-100-1 baseline
``c(x)``) makes the optimiser train that network with the model, so its reference evaluates the
model and that network (forward + backward of both), just as wake-sleep's step is read against its
two passes. A second table shows the same step against the model alone as well.

Method: one thread (``torch.set_num_threads(1)``), every configuration in a fresh process,
timings interleaved (reference, estimator, reference, ...) and the best median of several
passes reported. Data: 24 real MNIST test images (binarized at 0.5) when
``--mnist`` points to ``t10k-images-idx3-ubyte.gz``, random binary images otherwise.

OVIS-MC mode (``--ovis-mc``): for ``ovis-S{y}-exclusive``, y in {1, 10, 50}, and K in
{3, 10, 30, 100, 300, 1000}, on the Gaussian toy (D = 20, at its perturbed optimum as in the
asymptotic study) and on the 784-200 SBN (random initialisation, real MNIST test images with
``--mnist``), the time of one estimator step (forward + backward) against the model's own forward +
backward of the summed log-probabilities on the same (1 + y)K particles per data point and the same
batch, interleaved, best median over passes, one thread, a fresh process per configuration. The batch
holds about ``--toy_particles`` (toy) or ``--sbn_particles`` (SBN) particles in all: ``bs = max(1,
round(particles / ((1 + y) K)))``, at most 1024 (toy) or 256 (SBN) data points, so that K = 1000,
y = 50 (51,000 particles per data point) fits in a few GB. ``path`` is the control variate's path
that ``method="auto"`` takes (``exact`` pair by pair or ``interpolated``).

Usage::

    python benchmarks/estimators.py --mnist ../shared/data/mnist/t10k-images-idx3-ubyte.gz
    python benchmarks/estimators.py --quick        # K in {5, 50}, for a smoke test
    python benchmarks/estimators.py --ovis-mc --mnist ../shared/data/mnist/t10k-images-idx3-ubyte.gz
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from typing import Callable, Dict, List, Tuple

SCORE = ["reinforce", "reinforce-baseline", "vimco-arithmetic", "vimco-geometric", "ovis-gamma0", "ovis-gamma1",
         "ovis-gamma1-arithmetic", "ovis-S1-exclusive", "ovis-S10-exclusive", "wake-wake", "wake-sleep",
         "tvo-part2-config1"]
PATHWISE = ["pathwise-vae", "pathwise-iwae", "stl", "dreg"]
KS = [5, 50, 500, 2000, 5000]
BS = 24


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_interleaved_medians(steps: List[Tuple[str, Callable[[], None]]], passes: int, reps: int) -> Dict[str, float]:
    """Seconds per call of each named step: the steps run interleaved, ``reps`` times per pass; the
    median of each pass, then the best (smallest) median over ``passes`` passes."""
    medians: Dict[str, List[float]] = {name: [] for name, _ in steps}
    for _ in range(passes):
        times: Dict[str, List[float]] = {name: [] for name, _ in steps}
        for _ in range(reps):
            for name, fn in steps:
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        for name, values in times.items():
            medians[name].append(statistics.median(values))
    return {name: min(values) for name, values in medians.items()}


def child(args: argparse.Namespace) -> Dict:
    import torch

    from ovis.estimators import parse_estimator_id
    from ovis.models import VAE, SBN

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = None
    if args.mnist and os.path.exists(args.mnist):
        from ovis.datasets.idx import read_idx
        images = read_idx(args.mnist)[:BS]
        x = torch.from_numpy((images > 127).astype("float32")).view(BS, 784)
    if x is None:
        x = torch.bernoulli(torch.full((BS, 784), 0.3))
    pathwise = args.estimator in PATHWISE
    model = VAE((784,), latent="normal", N=200, nlayers=0) if pathwise else SBN((784,), layers=(200,))
    Estimator, config = parse_estimator_id(args.estimator)
    estimator = Estimator(mc=1, iw=args.K, **config)
    if config.get("baseline"):
        estimator.baseline(x[:1])  # materialise the lazy baseline (input size) without a full step
    K_bound, S = estimator.particles(estimator.config) if hasattr(estimator, "particles") else (args.K, 0)
    n_particles = K_bound + S

    # gradients are reset as an optimiser does (one list of parameters), not by walking the modules
    model_params = list(model.parameters())
    all_params = model_params + list(estimator.parameters())

    def reset(params):
        for p in params:
            p.grad = None

    def reference_step():
        ev = estimator.evaluate(model, x, 1, n_particles, reparam=pathwise)
        (ev.log_px_z.sum() + ev.log_pz.sum() + ev.log_qz.sum()).backward()
        reset(model_params)

    def estimator_step():
        loss, _, _ = estimator(model, x)
        loss.mean().backward()
        reset(all_params)

    own_net = getattr(estimator, "baseline", None)

    def reference_with_net_step():  # the model and the estimator's own network, forward + backward
        ev = estimator.evaluate(model, x, 1, n_particles, reparam=pathwise)
        (ev.log_px_z.sum() + ev.log_pz.sum() + ev.log_qz.sum() + own_net(x).sum()).backward()
        reset(all_params)

    first, other = (estimator_step, reference_step) if args.mode == "mem-est" else (reference_step, estimator_step)
    base = rss_mb()
    first()
    mem = peak_mb() - base
    if args.mode == "mem-ref":
        return {"mem": mem}
    other()  # warm-up
    steps = [("ref", reference_step), ("est", estimator_step)]
    if own_net is not None:
        steps.append(("ref+net", reference_with_net_step))
    best = best_interleaved_medians(steps, args.passes, args.reps)
    step, ref = best["est"], best["ref"]
    result = {"mem": mem, "step": step, "ref": ref, "n": n_particles}
    if own_net is not None:
        # the estimator trains a network of its own: it is part of the model being trained, as
        # wake-sleep's sleep pass is part of its update, so the reference evaluates it too
        result["model_only"], ref = ref, best["ref+net"]
        result["ref"] = ref
    result["overhead"] = step / ref
    return result


def ovis_mc_child(args: argparse.Namespace) -> Dict:
    """One (model, y, K) configuration of the OVIS-MC mode: step and reference times, the path taken."""
    import torch

    from ovis.analysis.asymptotic import perturbed_toy
    from ovis.estimators import bounds, parse_estimator_id
    from ovis.models import SBN

    torch.set_num_threads(1)
    torch.manual_seed(0)
    bs = args.bs
    if args.model == "toy":
        model, x = perturbed_toy(20, bs, 0.01, None, 0)
    else:
        model, x = SBN((784,), layers=(200,)), None
        if args.mnist and os.path.exists(args.mnist):
            from ovis.datasets.idx import read_idx
            images = read_idx(args.mnist)[:bs]
            x = torch.from_numpy((images > 127).astype("float32")).view(-1, 784)
        if x is None or x.shape[0] < bs:
            x = torch.bernoulli(torch.full((bs, 784), 0.3))
    Estimator, config = parse_estimator_id(f"ovis-S{args.y}-exclusive")
    estimator = Estimator(mc=1, iw=args.K, **config)
    K, S = estimator.particles(estimator.config)
    params = list(model.parameters())

    def reset():
        for p in params:
            p.grad = None

    def reference_step():
        ev = estimator.evaluate(model, x, 1, K + S)
        (ev.log_px_z.sum() + ev.log_pz.sum() + ev.log_qz.sum()).backward()
        reset()

    def estimator_step():
        loss, _, _ = estimator(model, x)
        loss.mean().backward()
        reset()

    with torch.no_grad():
        ev = estimator.evaluate(model, x, 1, K + S)
        log_w = ev.log_px_z + ev.log_pz.sum(-1) - ev.log_qz.sum(-1)  # [bs, 1, K + S]
    path = bounds.ovis_mc_path(K, log_w[..., K:])
    base = rss_mb()
    estimator_step()
    mem = peak_mb() - base
    reference_step()
    best = best_interleaved_medians([("ref", reference_step), ("est", estimator_step)], args.passes, args.reps)
    step, ref = best["est"], best["ref"]
    return {"step": step, "ref": ref, "ratio": step / ref, "path": path, "mem": mem, "n": K + S}


def _data_kind(ns: argparse.Namespace) -> str:
    return "real MNIST" if ns.mnist and os.path.exists(ns.mnist) else "random binary"


def _print_header(title: str, details: str, lines: List[str]) -> str:
    """Print the machine line (date, processor, cores, python, ``details``) and the table's head; return the line."""
    header = (f"{title}, {date.today().isoformat()}, {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores (1 thread used), python {platform.python_version()}, {details}\n")
    print(header)
    print("\n".join(lines), flush=True)
    return header


def ovis_mc_main(ns: argparse.Namespace) -> None:
    lines = ["| model | y | K | particles per point | bs | step (s) | model (s) | step / model | path | peak MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    header = _print_header("OVIS-MC benchmark", f"load average {os.getloadavg()[0]:.1f} at the start, "
                           f"{_data_kind(ns)} data for the SBN", lines)
    for model in ns.models.split(","):
        target, cap = (ns.toy_particles, 1024) if model == "toy" else (ns.sbn_particles, 256)
        for y in [int(v) for v in ns.ys.split(",")]:
            for K in [int(v) for v in ns.Ks.split(",")]:
                n = K + max(1, round(y * K))
                bs = min(cap, max(1, round(target / n)))
                cmd = [sys.executable, __file__, "--child-ovis-mc", "--model", model, "--y", str(y), "--K", str(K),
                       "--bs", str(bs), "--reps", str(ns.reps), "--passes", str(ns.passes)]
                if ns.mnist:
                    cmd += ["--mnist", ns.mnist]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    raise RuntimeError(f"{model} y={y} K={K} failed:\n{out.stderr[-2000:]}")
                r = json.loads(out.stdout.strip().splitlines()[-1])
                name = "Gaussian toy D=20" if model == "toy" else "SBN 784-200"
                line = (f"| {name} | {y} | {K} | {r['n']} | {bs} | {r['step']:.4f} | {r['ref']:.4f} | "
                        f"{r['ratio']:.2f} | {r['path']} | {r['mem']:.0f} |")
                lines.append(line)
                print(line, flush=True)
    footer = f"\nload average {os.getloadavg()[0]:.1f} at the end\n"
    print(footer)
    if ns.out:
        with open(ns.out, "w") as f:
            f.write(header + "\n" + "\n".join(lines) + "\n" + footer)


def run_child(estimator: str, K: int, mode: str, ns: argparse.Namespace) -> Dict:
    reps = ns.reps if K <= 500 else max(3, ns.reps // 2)
    cmd = [sys.executable, __file__, "--child", "--estimator", estimator, "--K", str(K), "--mode", mode,
           "--reps", str(reps), "--passes", str(ns.passes)]
    if ns.mnist:
        cmd += ["--mnist", ns.mnist]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{estimator} K={K} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", default="", help="path to t10k-images-idx3-ubyte.gz (real data)")
    parser.add_argument("--estimators", default=",".join(SCORE + PATHWISE))
    parser.add_argument("--Ks", default=",".join(map(str, KS)))
    parser.add_argument("--quick", action="store_true", help="K in {5, 50} only")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--out", default="", help="also write the Markdown table to this file")
    parser.add_argument("--ovis-mc", dest="ovis_mc", action="store_true",
                        help="OVIS-MC mode: ovis-S{y}-exclusive against the model on (1+y)K particles")
    parser.add_argument("--models", default="toy,sbn", help="OVIS-MC mode: toy and/or sbn")
    parser.add_argument("--ys", default="1,10,50", help="OVIS-MC mode: values of y")
    parser.add_argument("--toy_particles", type=int, default=400_000, help="OVIS-MC mode: particles per toy batch")
    parser.add_argument("--sbn_particles", type=int, default=20_000, help="OVIS-MC mode: particles per SBN batch")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-ovis-mc", dest="child_ovis_mc", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--y", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bs", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--estimator", help=argparse.SUPPRESS)
    parser.add_argument("--K", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="mem-est", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.child_ovis_mc:
        print(json.dumps(ovis_mc_child(ns)))
        return
    if ns.ovis_mc:
        if ns.Ks == ",".join(map(str, KS)):
            ns.Ks = "3,10,30,100,300,1000"
        ovis_mc_main(ns)
        return
    if ns.child:
        print(json.dumps(child(ns)))
        return
    Ks = [5, 50] if ns.quick else [int(k) for k in ns.Ks.split(",")]
    estimators = ns.estimators.split(",")
    lines = ["| estimator | model | K | particles | step (s) | model (s) | overhead | peak MB | model MB |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    header = _print_header("Estimator benchmark", f"bs={BS}, {_data_kind(ns)} data", lines)
    ref_mem: Dict = {}
    nets: List[str] = []
    for K in Ks:
        for est in estimators:
            if est.startswith("ovis-S") and K > 500:
                continue
            r = run_child(est, K, "mem-est", ns)
            key = (est in PATHWISE, r["n"])
            if key not in ref_mem:
                ref_mem[key] = run_child(est, K, "mem-ref", ns)["mem"]
            model = "VAE 784-200 (normal)" if est in PATHWISE else "SBN 784-200"
            if "model_only" in r:
                model += " + its 784-100-1 baseline"
            line = (f"| {est} | {model} | {K} | {r['n']} | {r['step']:.4f} | {r['ref']:.4f} | "
                    f"{r['overhead']:.3f} | {r['mem']:.0f} | {ref_mem[key]:.0f} |")
            lines.append(line)
            print(line, flush=True)
            if "model_only" in r:
                only = r["model_only"]
                nets.append(f"| {est} | {K} | {r['step']:.4f} | {only:.4f} | {r['ref']:.4f} | "
                            f"{(r['ref'] - only) / only:.3f} | {r['step'] / only:.3f} | {r['overhead']:.3f} |")
    if nets:
        nets = ["", "Estimators that train a network of their own (the model alone and the model with that network, "
                "each forward + backward, measured interleaved with the step):", "",
                "| estimator | K | step (s) | model (s) | model + net (s) | net / model | step / model | "
                "step / (model + net) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"] + nets
        print("\n".join(nets))
    if ns.out:
        with open(ns.out, "w") as f:
            f.write(header + "\n" + "\n".join(lines + nets) + "\n")


if __name__ == "__main__":
    main()
