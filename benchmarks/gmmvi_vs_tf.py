"""ovis.gmmvi side by side with the TensorFlow original (PyPI ``gmmvi`` 1.1).

For each code word and target, both implementations run the framework's default
configuration (``get_default_config(codeword, experiment)`` there, the same dictionary
here) for the same number of iterations, each in a fresh process on one thread. Printed:
negative ELBO (2000 samples) against target evaluations at the logged iterations, and the
median (and mean) seconds per iteration with their ratio (TF / ovis).

Timing is interleaved: for every code word, target and seed, ``--passes`` passes alternate the
two implementations (TF first in even passes, ovis first in odd ones), each run a fresh process;
per seed the best (lowest) median over the passes is kept, then the median over seeds. Both the
wall-clock and the CPU time (``time.process_time``, all threads of the process) of each
iteration are recorded; on a shared machine CPU time is the less load-sensitive of the two.
The machine load (``os.getloadavg``) is printed before and after.

The TensorFlow side runs in its own virtual environment (``--tf-python``, default
``/work/venv-tf/bin/python``, or ``$GMMVI_TF_PYTHON``); the script prints "skipped" and
exits 0 when that interpreter or its ``gmmvi`` package is absent.

    python benchmarks/gmmvi_vs_tf.py --iterations 100 --log-every 25 --seeds 0 1 2 --passes 2
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = {"breast-cancer": "breast_cancer", "gmm20": "gmm20"}

TF_SCRIPT = r'''
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import matplotlib
matplotlib.use("Agg")
from gmmvi.configs import get_default_config, update_config
from gmmvi.gmmvi_runner import GmmviRunner
codeword, experiment, iterations, seed, log_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cfg = get_default_config(codeword, experiment)
cfg = update_config(cfg, {"start_seed": seed, "gmmvi_runner_config": {"log_metrics_interval": 10 ** 9}})
runner = GmmviRunner.build_from_config(cfg)
import time
rows, seconds, cpu = [], [], []
for n in range(iterations):
    t0, c0 = time.perf_counter(), time.process_time()
    runner.iterate_and_log(n + 1)
    seconds.append(time.perf_counter() - t0); cpu.append(time.process_time() - c0)
    if (n + 1) % log_every == 0 or n + 1 == iterations:
        samples, entropy = runner.get_samples_and_entropy(2000)
        reward = tf.reduce_mean(runner.gmmvi.sample_selector.target_uld(samples))
        rows.append({"iteration": n + 1, "fevals": int(runner.gmmvi.sample_db.num_samples_written.numpy()),
                     "neg_elbo": float(-(reward + entropy)), "components": int(runner.gmmvi.model.num_components)})
print("RESULT " + json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu}))
'''

OVIS_SCRIPT = r'''
import json, sys, time
import torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[6])
from ovis.gmmvi import GMMVI, default_config, merge
from ovis.gmmvi.targets import make_target
codeword, experiment, iterations, seed, log_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
cfg = merge(default_config(codeword, experiment), {"seed": seed})
torch.manual_seed(seed)
target = make_target(cfg["environment_name"], **dict(cfg["environment_config"], seed=seed))
g = GMMVI.build_from_config(cfg, target)
rows, seconds, cpu = [], [], []
for n in range(iterations):
    t0, c0 = time.perf_counter(), time.process_time()
    g.train_iter()
    seconds.append(time.perf_counter() - t0); cpu.append(time.process_time() - c0)
    if (n + 1) % log_every == 0 or n + 1 == iterations:
        e = g.elbo(2000)
        rows.append({"iteration": n + 1, "fevals": g.num_target_evaluations, "neg_elbo": -e["elbo"],
                     "components": g.model.num_components})
print("RESULT " + json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu}))
'''


def tf_available(python):
    if not python or not Path(python).exists():
        return False
    r = subprocess.run([python, "-c", "import gmmvi, tensorflow"], capture_output=True, text=True)
    return r.returncode == 0


def run_one(python, script, args):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        r = subprocess.run([python, path, *map(str, args)], capture_output=True, text=True, env=env)
    finally:
        os.unlink(path)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{python} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tf-python", default=os.environ.get("GMMVI_TF_PYTHON", "/work/venv-tf/bin/python"))
    p.add_argument("--codewords", nargs="+", default=["SAMTRON", "ZAMTRUX"])
    p.add_argument("--targets", nargs="+", default=["breast-cancer", "gmm20"], choices=sorted(EXPERIMENTS))
    p.add_argument("--iterations", type=int, default=100)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--passes", type=int, default=2, help="interleaved passes per seed (best median kept)")
    args = p.parse_args()
    if not tf_available(args.tf_python):
        print(f"skipped: no TensorFlow gmmvi at {args.tf_python} (pip install gmmvi==1.1 into a separate venv)")
        return 0
    print("load average before: %.2f %.2f %.2f" % os.getloadavg(), flush=True)
    print(f"| code word | target | impl | seed | pass | iterations | target evaluations | -ELBO | components | "
          f"median s/iteration (wall) | median s/iteration (CPU) |\n|---|---|---|---|---|---|---|---|---|---|---|")
    impls = {"tf": (args.tf_python, TF_SCRIPT), "ovis": (sys.executable, OVIS_SCRIPT)}
    ratios = []
    for cw in args.codewords:
        for target in args.targets:
            best = {}                                    # (impl, seed) -> [best wall median, best CPU median]
            for seed in args.seeds:
                for k in range(args.passes):
                    for impl in (("tf", "ovis") if k % 2 == 0 else ("ovis", "tf")):
                        python, script = impls[impl]
                        extra = [str(ROOT)] if impl == "ovis" else []
                        res = run_one(python, script, [cw, EXPERIMENTS[target], args.iterations, seed,
                                                       args.log_every, *extra])
                        mw, mc = statistics.median(res["seconds"]), statistics.median(res["cpu"])
                        mean_c = statistics.fmean(res["cpu"])
                        b = best.setdefault((impl, seed), [math.inf, math.inf, math.inf])
                        b[0], b[1], b[2] = min(b[0], mw), min(b[1], mc), min(b[2], mean_c)
                        for row in res["rows"]:
                            last = row is res["rows"][-1]
                            print(f"| {cw} | {target} | {impl} | {seed} | {k} | {row['iteration']} | "
                                  f"{row['fevals']:,} | {row['neg_elbo']:.3f} | {row['components']} | "
                                  + (f"{mw:.4f} | {mc:.4f} |" if last else " | |"), flush=True)
            med = {(impl, j): statistics.median(best[(impl, s)][j] for s in args.seeds)
                   for impl in impls for j in (0, 1, 2)}
            ratios.append((cw, target, med))
    print("\nseconds per iteration (best median over passes, median over seeds) and the ratio TF / ovis:")
    print("(the last three columns: the mean CPU seconds per iteration instead of the median, same selection)")
    print("| code word | target | TF wall | ovis wall | ratio wall | TF CPU | ovis CPU | ratio CPU | "
          "TF CPU mean | ovis CPU mean | ratio CPU mean |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for cw, target, m in ratios:
        print(f"| {cw} | {target} | {m['tf', 0]:.4f} | {m['ovis', 0]:.4f} | {m['tf', 0] / m['ovis', 0]:.2f} | "
              f"{m['tf', 1]:.4f} | {m['ovis', 1]:.4f} | {m['tf', 1] / m['ovis', 1]:.2f} | "
              f"{m['tf', 2]:.4f} | {m['ovis', 2]:.4f} | {m['tf', 2] / m['ovis', 2]:.2f} |")
    print("load average after: %.2f %.2f %.2f" % os.getloadavg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
