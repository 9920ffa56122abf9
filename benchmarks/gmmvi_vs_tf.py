"""ovis.gmmvi side by side with the TensorFlow original (PyPI ``gmmvi`` 1.1).

For each code word and target, both implementations run the framework's default
configuration (``get_default_config(codeword, experiment)`` there, the same dictionary
here) for the same number of iterations, each in a fresh process on one thread. Printed:
negative ELBO (2000 samples) against target evaluations at the logged iterations, and the
median seconds per iteration with their ratio (TF / ovis).

The TensorFlow side runs in its own virtual environment (``--tf-python``, default
``/work/venv-tf/bin/python``, or ``$GMMVI_TF_PYTHON``); the script prints "skipped" and
exits 0 when that interpreter or its ``gmmvi`` package is absent.

    python benchmarks/gmmvi_vs_tf.py --iterations 100 --log-every 25 --seeds 0 1 2
"""
import argparse
import json
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
rows = []
for n in range(iterations):
    runner.iterate_and_log(n + 1)
    if (n + 1) % log_every == 0 or n + 1 == iterations:
        samples, entropy = runner.get_samples_and_entropy(2000)
        reward = tf.reduce_mean(runner.gmmvi.sample_selector.target_uld(samples))
        rows.append({"iteration": n + 1, "fevals": int(runner.gmmvi.sample_db.num_samples_written.numpy()),
                     "neg_elbo": float(-(reward + entropy)), "components": int(runner.gmmvi.model.num_components)})
print("RESULT " + json.dumps({"rows": rows, "seconds": [float(t) for t in runner.wall_times]}))
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
rows, seconds = [], []
for n in range(iterations):
    t0 = time.perf_counter(); g.train_iter(); seconds.append(time.perf_counter() - t0)
    if (n + 1) % log_every == 0 or n + 1 == iterations:
        e = g.elbo(2000)
        rows.append({"iteration": n + 1, "fevals": g.num_target_evaluations, "neg_elbo": -e["elbo"],
                     "components": g.model.num_components})
print("RESULT " + json.dumps({"rows": rows, "seconds": seconds}))
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
    args = p.parse_args()
    if not tf_available(args.tf_python):
        print(f"skipped: no TensorFlow gmmvi at {args.tf_python} (pip install gmmvi==1.1 into a separate venv)")
        return 0
    print(f"| code word | target | impl | seed | iterations | target evaluations | -ELBO | components | "
          f"median s/iteration |\n|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for cw in args.codewords:
        for target in args.targets:
            med = {}
            for seed in args.seeds:
                for impl, python, script in (("tf", args.tf_python, TF_SCRIPT), ("ovis", sys.executable, OVIS_SCRIPT)):
                    extra = [str(ROOT)] if impl == "ovis" else []
                    res = run_one(python, script, [cw, EXPERIMENTS[target], args.iterations, seed, args.log_every,
                                                   *extra])
                    m = statistics.median(res["seconds"])
                    med.setdefault(impl, []).append(m)
                    for row in res["rows"]:
                        print(f"| {cw} | {target} | {impl} | {seed} | {row['iteration']} | {row['fevals']:,} | "
                              f"{row['neg_elbo']:.3f} | {row['components']} | "
                              f"{m:.4f} |" if row is res["rows"][-1] else
                              f"| {cw} | {target} | {impl} | {seed} | {row['iteration']} | {row['fevals']:,} | "
                              f"{row['neg_elbo']:.3f} | {row['components']} | |", flush=True)
            r = statistics.median(med["tf"]) / statistics.median(med["ovis"])
            ratios.append((cw, target, r))
    print("\nseconds per iteration, TF / ovis (median over iterations, median over seeds):")
    for cw, target, r in ratios:
        print(f"  {cw} {target}: {r:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
