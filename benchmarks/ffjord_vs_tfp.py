"""FFJORD on two moons: ovis (zuko) side by side with TensorFlow Probability's tutorial set-up.

Both sides: 4 stacked FFJORD transforms; state derivative MLP([t, z]) with 3 linear layers (hidden 8,
tanh); base N(0, 0.8^2 I); Dormand-Prince with atol 1e-5 (TFP's default rtol 1e-3 on both sides); exact
trace; batches of 256 from the same 8192 moons points (scikit-learn, noise 0.06); Adam 1e-2; the same
number of epochs; one thread; held-out mean NLL on the same 2048 points. Weights start from the same
distribution (uniform +-1/sqrt(fan_in), PyTorch's default) but are not the same draws.

TFP runs in its own virtual environment (``--tfp_python``, default ``/work/venv-tfp/bin/python``, or
``$OVIS_TFP_PYTHON``); without it the comparison is skipped (exit code 0). Each side runs in a fresh
process.

    python benchmarks/ffjord_vs_tfp.py --epochs 10
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

N_TRAIN, N_TEST, BATCH = 8192, 2048, 256


def data(seed: int):
    from sklearn.datasets import make_moons
    train = make_moons(n_samples=int(os.environ.get("OVIS_MOONS_TRAIN", N_TRAIN)), noise=0.06, random_state=seed)[0].astype("float32")
    test = make_moons(n_samples=N_TEST, noise=0.06, random_state=10_000 + seed)[0].astype("float32")
    return train, test


def run_ovis(epochs: int, seed: int) -> dict:
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    from ffjord_moons import make_flow
    from ovis.flows.fit import fit_density, mean_nll

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train, test = (torch.as_tensor(a) for a in data(seed))
    flow = make_flow(exact=True)
    history = fit_density(flow, train, epochs=epochs, batch_size=BATCH, lr=1e-2, seed=seed)
    flow.eval()
    return {"side": "ovis", "test_nll": mean_nll(flow, test), "epoch_seconds": history["epoch_seconds"]}


def run_tfp(epochs: int, seed: int) -> dict:
    import numpy as np
    import tensorflow as tf
    import tensorflow_probability as tfp

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.random.set_seed(seed)
    tfb, tfd = tfp.bijectors, tfp.distributions
    train, test = data(seed)

    class MLPODE(tf.Module):
        """The tutorial's MLP_ODE: (layers - 1) x [Linear(hidden), tanh], Linear(2), input [t, z]."""

        def __init__(self, hidden=8, layers=3, out=2):
            super().__init__()
            sizes = [1 + out] + [hidden] * (layers - 1) + [out]
            self.w, self.b = [], []
            for a, b in zip(sizes[:-1], sizes[1:]):
                bound = 1.0 / np.sqrt(a)
                self.w.append(tf.Variable(tf.random.uniform([a, b], -bound, bound)))
                self.b.append(tf.Variable(tf.random.uniform([b], -bound, bound)))

        def __call__(self, t, z):
            h = tf.concat([tf.broadcast_to(t, tf.concat([tf.shape(z)[:-1], [1]], 0)), z], -1)
            for i, (w, b) in enumerate(zip(self.w, self.b)):
                h = tf.matmul(h, w) + b
                if i < len(self.w) - 1:
                    h = tf.math.tanh(h)
            return h

    solver = tfp.math.ode.DormandPrince(atol=1e-5)
    bijectors = [tfb.FFJORD(state_time_derivative_fn=MLPODE(), ode_solve_fn=solver.solve,
                            trace_augmentation_fn=tfb.ffjord.trace_jacobian_exact) for _ in range(4)]
    base = tfd.MultivariateNormalDiag(loc=np.zeros(2, "float32"), scale_diag=np.full(2, 0.8, "float32"))
    model = tfd.TransformedDistribution(distribution=base, bijector=tfb.Chain(bijectors[::-1]))
    optimizer = tf.keras.optimizers.Adam(learning_rate=1e-2)
    variables = [v for bij in bijectors for v in bij.trainable_variables] or None

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(model.log_prob(x))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    dataset = tf.data.Dataset.from_tensor_slices(train).cache().shuffle(len(train), seed=seed).batch(BATCH)
    epoch_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        for x in dataset:
            train_step(x)
        epoch_seconds.append(time.perf_counter() - start)
    log_prob = tf.function(model.log_prob)
    nll = -float(np.mean(np.concatenate([log_prob(test[i:i + 1024]).numpy() for i in range(0, N_TEST, 1024)])))
    return {"side": "tfp", "test_nll": nll, "epoch_seconds": epoch_seconds,
            "versions": {"tensorflow": tf.__version__, "tensorflow_probability": tfp.__version__}}


def _median(values):
    s = sorted(values)
    return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train_size", type=int, default=N_TRAIN, help="training points (default: the tutorial's 8192)")
    parser.add_argument("--tfp_python", default=os.environ.get("OVIS_TFP_PYTHON", "/work/venv-tfp/bin/python"))
    parser.add_argument("--side", choices=("ovis", "tfp"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ["OVIS_MOONS_TRAIN"] = str(args.train_size)  # read by data() in both sides' processes
    if args.side:
        result = (run_ovis if args.side == "ovis" else run_tfp)(args.epochs, args.seed)
        print("RESULT " + json.dumps(result))
        return 0
    check = [args.tfp_python, "-c", "import tensorflow_probability, tensorflow, sklearn"]
    if not os.path.exists(args.tfp_python) or subprocess.run(check, capture_output=True).returncode != 0:
        print(f"skipped: no TensorFlow Probability environment at {args.tfp_python} "
              f"(make one: python -m venv /work/venv-tfp && /work/venv-tfp/bin/pip install tensorflow "
              f"tensorflow-probability tf-keras scikit-learn)")
        return 0
    results = {}
    for side, python in (("ovis", sys.executable), ("tfp", args.tfp_python)):
        out = subprocess.run([python, os.path.abspath(__file__), "--side", side, "--epochs", str(args.epochs),
                              "--seed", str(args.seed)], capture_output=True, text=True, check=True)
        line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1]
        results[side] = json.loads(line[len("RESULT "):])
    o, t = results["ovis"], results["tfp"]
    so, st = _median(o["epoch_seconds"]), _median(t["epoch_seconds"])
    print(f"epochs {args.epochs}, {args.train_size} training points, seed {args.seed}, {t['versions']}")
    print("| | held-out mean NLL | s/epoch (median) |")
    print("|---|---|---|")
    print(f"| ovis (zuko) | {o['test_nll']:.4f} | {so:.2f} |")
    print(f"| TFP | {t['test_nll']:.4f} | {st:.2f} |")
    print(f"| ovis - TFP, TFP / ovis | {o['test_nll'] - t['test_nll']:+.4f} | {st / so:.2f}x |")
    print("RESULTS " + json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
