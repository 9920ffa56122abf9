"""FFJORD on two moons: ovis (zuko) side by side with TensorFlow Probability's FFJORD tutorial.

Both sides run the tutorial's set-up (TFP's ``examples/jupyter_notebooks/FFJORD_Demo.ipynb``): 4 stacked
FFJORD transforms; state derivative an MLP of 3 linear layers (hidden 8, tanh); base N(0, 0.8^2 I);
Dormand-Prince with atol 1e-5 (TFP's default rtol 1e-3 on both sides); exact trace; batches of 256 from
the same moons points (scikit-learn, noise 0.06, 8192 by default), reshuffled every epoch by one numpy
permutation that both sides share (the same batches in the same order); Adam 1e-2; the same number of
epochs; one thread; held-out mean NLL (exact trace) on the same 2048 points, at the end and, with
``--eval_every N``, after every N-th epoch (not counted in the seconds per epoch).

The TFP side is the tutorial's code path: its ``MLP_ODE`` (input ``[broadcast_to(t, z.shape), z]``,
Sonnet's ``Linear`` initialisation: truncated normal with standard deviation ``1/sqrt(fan_in)``, zero
biases; re-created here in plain TensorFlow so that Sonnet is not needed), ``tfb.FFJORD`` with
``trace_jacobian_exact``, ``DormandPrince(atol=1e-5).solve`` (gradients by TFP's adjoint), and a
``@tf.function`` train step (Adam as Sonnet's: epsilon 1e-8). The ovis side is
``examples/ffjord_moons.py``'s ``make_flow`` (zuko's ``FreeFormJacobianTransform``, PyTorch's default
initialisation, input ``[t, z]``).

Each (side, seed) runs in a fresh process, one thread (TF: intra- and inter-op parallelism 1); the two
sides alternate which goes first from seed to seed. Seconds per epoch are the median over epochs after
the first (the first carries TF's tracing of the ``tf.function``; with one epoch, that epoch).

TFP runs in its own virtual environment (``--tfp_python``, default ``/work/venv-tfp/bin/python``, or
``$OVIS_TFP_PYTHON``); without it the comparison is skipped (exit code 0).

    python benchmarks/ffjord_vs_tfp.py --epochs 3 --seeds 0,1,2 --json /tmp/ffjord_vs_tfp.json
    python benchmarks/ffjord_vs_tfp.py --epochs 20 --eval_every 5 --seeds 0,1,2 --json /tmp/ffjord_vs_tfp_20.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from typing import Optional

N_TRAIN, N_TEST, BATCH = 8192, 2048, 256


def data(seed: int, n_train: int):
    from sklearn.datasets import make_moons
    train = make_moons(n_samples=n_train, noise=0.06, random_state=seed)[0].astype("float32")
    test = make_moons(n_samples=N_TEST, noise=0.06, random_state=10_000 + seed)[0].astype("float32")
    return train, test


def batch_order(seed: int, n_train: int, epochs: int):
    """The training rows in the order both sides take them: one numpy permutation per epoch.

    Both sides get the same batches (``order[e][i * BATCH:(i + 1) * BATCH]`` is step ``i`` of epoch ``e``),
    so with the same initial weights they differ only in the ODE solver and the gradient computation.
    """
    import numpy as np
    rng = np.random.default_rng(54_321 + seed)
    return [rng.permutation(n_train) for _ in range(epochs)]


def eval_epochs(epochs: int, every: int) -> list:
    """The epochs (1-based) after which the held-out NLL is measured: every ``every``-th and the last."""
    return sorted({e for e in range(every, epochs + 1, every)} | {epochs}) if every > 0 else [epochs]


def tutorial_weights(seed: int, transforms: int = 4, hidden: int = 8, layers: int = 3, d: int = 2):
    """Initial weights of the tutorial's ``MLP_ODE`` s, drawn once (numpy) for both sides.

    Sonnet's ``Linear`` initialisation (the tutorial's): weights truncated normal (at two standard
    deviations) with standard deviation ``1/sqrt(fan_in)``, biases zero; the input is ``[t, t, z]``
    (``broadcast_to(t, z.shape)`` concatenated with ``z``), so the first fan-in is ``2 d``.

    Returns:
        a list over TFP's bijectors (``Chain(bijectors[::-1])``: bijector 0 acts first on base
        samples) of ``(weights [in, out], biases [out])`` lists, float32 arrays.
    """
    import numpy as np
    rng = np.random.default_rng(12_345 + seed)
    sizes = [2 * d] + [hidden] * (layers - 1) + [d]
    out = []
    for _ in range(transforms):
        ws = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            w = rng.standard_normal((a, b))
            while (bad := np.abs(w) > 2).any():
                w[bad] = rng.standard_normal(bad.sum())
            ws.append((w / np.sqrt(a)).astype("float32"))
        out.append((ws, [np.zeros(b, "float32") for b in sizes[1:]]))
    return out


def load_tutorial_weights(flow, weights) -> None:
    """Set an ovis FFJORD stack (``TimeMLP`` s on ``[t, z]``) to the same model as TFP's with ``weights``.

    TFP's bijector maps base to data along ``dz/dt = f(t, z)``; its ``log_prob`` integrates the inverse
    ``dz/ds = -f(1 - s, z)`` from the data, which is what zuko's transform (data to base) integrates
    with ``f_ovis(s, z) = -f(1 - s, z)``: the ``t`` columns merge (``[t, t, z]``), the first layer's
    ``t`` column and bias absorb ``1 - s``, the last layer flips sign; zuko applies TFP's last
    bijector first.
    """
    import torch
    for transform, (ws, bs) in zip(flow.transform.transforms, weights[::-1]):
        linears = [m for m in transform.f.net if isinstance(m, torch.nn.Linear)]
        W = [torch.as_tensor(w).T for w in ws]  # [out, in]
        B = [torch.as_tensor(b) for b in bs]
        d = W[-1].shape[0]
        wt = W[0][:, :d].sum(1)  # the t columns of [t, t, z]
        first_w = torch.cat([-wt[:, None], W[0][:, d:]], 1)
        first_b = B[0] + wt
        W[0], B[0] = first_w, first_b
        W[-1], B[-1] = -W[-1], -B[-1]
        with torch.no_grad():
            for lin, w, b in zip(linears, W, B):
                lin.weight.copy_(w)
                lin.bias.copy_(b)


def _progress(side: str, step: int, seconds: float) -> None:
    print(f"[{side}] step {step} {seconds:.3f}s load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)


def run_ovis(epochs: int, seed: int, n_train: int, eval_every: int = 0, weights: Optional[list] = None,
             max_steps: Optional[int] = None, lr: float = 1e-2, closed_form_trace: bool = True) -> dict:
    """Train the ovis side (see the module docstring); ``weights`` (default: the tutorial's draws for
    ``seed``), ``max_steps`` (stop early, no evaluation), ``lr`` and ``closed_form_trace`` (``False``:
    zuko's vector-Jacobian-product trace) serve the timing mode."""
    import numpy as np
    import torch
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
    from ffjord_moons import make_flow
    from ovis.flows.fit import fit_density, mean_nll

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train, test = (torch.as_tensor(a) for a in data(seed, n_train))
    ordered = train[torch.as_tensor(np.concatenate(batch_order(seed, n_train, epochs)))]
    flow = make_flow(exact=True)
    load_tutorial_weights(flow, tutorial_weights(seed) if weights is None else weights)
    for transform in flow.transform.transforms:
        transform.closed_form_trace = closed_form_trace
    per_epoch, at = math.ceil(n_train / BATCH), eval_epochs(epochs, eval_every)
    steps, curve, last = [], [], [time.perf_counter()]

    def tick(step: int, loss: float) -> None:
        now = time.perf_counter()
        steps.append(now - last[0])
        _progress("ovis", step, steps[-1])
        if step % per_epoch == 0 and step // per_epoch in at:
            start = time.perf_counter()
            curve.append((step // per_epoch, mean_nll(flow, test), time.perf_counter() - start))
            now = time.perf_counter()
        last[0] = now

    history = fit_density(flow, ordered, epochs=1, batch_size=BATCH, lr=lr, shuffle=False, callback=tick,
                          max_steps=max_steps)
    epoch_seconds = [sum(steps[e * per_epoch:(e + 1) * per_epoch]) for e in range(len(steps) // per_epoch)]
    return {"side": "ovis", "test_nll": curve[-1][1] if curve else None, "curve": curve,
            "epoch_seconds": epoch_seconds, "step_seconds": steps, "eval_seconds": curve[-1][2] if curve else None,
            "losses": history["loss"],
            "versions": {"torch": torch.__version__, "zuko": __import__("zuko").__version__}}


def run_tfp(epochs: int, seed: int, n_train: int, eval_every: int = 0, weights: Optional[list] = None,
            max_steps: Optional[int] = None, lr: float = 1e-2) -> dict:
    """Train the TFP side: the tutorial's code path (see the module docstring); ``weights`` and
    ``max_steps`` as in :func:`run_ovis`."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_probability as tfp

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.random.set_seed(seed)
    tfb, tfd = tfp.bijectors, tfp.distributions
    train, test = data(seed, n_train)

    class MLPODE(tf.Module):
        """The tutorial's MLP_ODE: (layers - 1) x [Linear(hidden), tanh], Linear(out) of [broadcast t, z]."""

        def __init__(self, hidden=8, layers=3, out=2):
            super().__init__()
            sizes = [2 * out] + [hidden] * (layers - 1) + [out]
            self.w = [tf.Variable(tf.zeros([a, b])) for a, b in zip(sizes[:-1], sizes[1:])]
            self.b = [tf.Variable(tf.zeros([b])) for b in sizes[1:]]

        def __call__(self, t, z):
            h = tf.concat([tf.broadcast_to(t, tf.shape(z)), z], -1)
            for i, (w, b) in enumerate(zip(self.w, self.b)):
                h = tf.matmul(h, w) + b
                if i < len(self.w) - 1:
                    h = tf.math.tanh(h)
            return h

    solver = tfp.math.ode.DormandPrince(atol=1e-5)
    mlps = [MLPODE() for _ in range(4)]
    for m, (ws, bs) in zip(mlps, tutorial_weights(seed) if weights is None else weights):
        for v, value in zip(m.w + m.b, ws + bs):
            v.assign(value)
    bijectors = [tfb.FFJORD(state_time_derivative_fn=m, ode_solve_fn=solver.solve,
                            trace_augmentation_fn=tfb.ffjord.trace_jacobian_exact) for m in mlps]
    base = tfd.MultivariateNormalDiag(loc=np.zeros(2, "float32"), scale_diag=np.full(2, 0.8, "float32"))
    model = tfd.TransformedDistribution(distribution=base, bijector=tfb.Chain(bijectors[::-1]))
    variables = [v for m in mlps for v in m.w + m.b]
    # Adam as Sonnet's (the tutorial's optimizer): beta1 0.9, beta2 0.999, epsilon 1e-8
    b1, b2, eps = 0.9, 0.999, 1e-8
    moments = [(tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v))) for v in variables]
    count = tf.Variable(0.0)

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(model.log_prob(x))
        grads = tape.gradient(loss, variables)
        count.assign_add(1.0)
        scale = lr * tf.sqrt(1.0 - b2 ** count) / (1.0 - b1 ** count)
        for v, g, (m, s) in zip(variables, grads, moments):
            m.assign(b1 * m + (1.0 - b1) * g)
            s.assign(b2 * s + (1.0 - b2) * tf.square(g))
            v.assign_sub(scale * m / (tf.sqrt(s) + eps * tf.sqrt(1.0 - b2 ** count)))
        return loss

    log_prob = tf.function(model.log_prob)

    def held_out_nll() -> float:
        return -float(np.mean(np.concatenate([log_prob(test[i:i + 1024]).numpy() for i in range(0, N_TEST, 1024)])))

    at = eval_epochs(epochs, eval_every)
    epoch_seconds, steps, losses, curve = [], [], [], []
    per_epoch = math.ceil(n_train / BATCH)
    for epoch, order in enumerate(batch_order(seed, n_train, epochs), 1):
        for i in range(0, n_train, BATCH):
            if max_steps is not None and len(steps) >= max_steps:
                break
            last = time.perf_counter()
            losses.append(float(train_step(tf.constant(train[order[i:i + BATCH]]))))
            steps.append(time.perf_counter() - last)
            _progress("tfp", len(steps), steps[-1])
        if len(steps) < epoch * per_epoch:      # stopped by max_steps within this epoch
            break
        epoch_seconds.append(sum(steps[-per_epoch:]))
        if epoch in at:
            start = time.perf_counter()
            curve.append((epoch, held_out_nll(), time.perf_counter() - start))
    nll = curve[-1][1] if curve else None
    return {"side": "tfp", "test_nll": nll, "curve": curve, "epoch_seconds": epoch_seconds, "step_seconds": steps,
            "eval_seconds": curve[-1][2] if curve else None, "losses": losses,
            "weights": [[[w.numpy().tolist() for w in m.w], [b.numpy().tolist() for b in m.b]] for m in mlps],
            "versions": {"tensorflow": tf.__version__, "tensorflow_probability": tfp.__version__}}


def _median(values):
    s = sorted(values)
    return s[len(s) // 2] if len(s) % 2 else 0.5 * (s[len(s) // 2 - 1] + s[len(s) // 2])


def _epoch_seconds(result: dict) -> float:
    e = result["epoch_seconds"]
    return _median(e[1:] if len(e) > 1 else e)


def _mean_sd(values):
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else float("nan")
    return m, sd


def summarize(runs: list, epochs: int, train_size: int) -> None:
    """Print the tables of the runs (both sides of every seed): final NLL, seconds per epoch, NLL curve."""
    by = {s: sorted((r for r in runs if r["side"] == s), key=lambda r: r["seed"]) for s in ("ovis", "tfp")}
    nll = {s: _mean_sd([r["test_nll"] for r in by[s]]) for s in by}
    sec = {s: _median([_epoch_seconds(r) for r in by[s]]) for s in by}
    batches = math.ceil(train_size / BATCH)
    seeds = sorted({r["seed"] for r in runs})
    print(f"\nepochs {epochs} of {batches} batches of {BATCH}, seeds {seeds}, {by['tfp'][0]['versions']}, "
          f"{by['ovis'][0]['versions']}")
    print("| | held-out mean NLL (mean ± sd over seeds) | per seed | s/epoch (median) |")
    print("|---|---|---|---|")
    for s, name in (("ovis", "ovis (zuko)"), ("tfp", "TFP")):
        per = ", ".join(f"{r['test_nll']:.4f}" for r in by[s])
        print(f"| {name} | {nll[s][0]:.4f} ± {nll[s][1]:.4f} | {per} | {sec[s]:.2f} |")
    diff = [o["test_nll"] - t["test_nll"] for o, t in zip(by["ovis"], by["tfp"])]
    print(f"| ovis - TFP (NLL), TFP / ovis (s/epoch) | {sum(diff) / len(diff):+.4f} | "
          f"{', '.join(f'{d:+.4f}' for d in diff)} | {sec['tfp'] / sec['ovis']:.2f}x |")
    if len(by["ovis"][0]["curve"]) > 1:
        epochs_at = [e for e, _, _ in by["ovis"][0]["curve"]]
        print("\n| held-out NLL after epoch | " + " | ".join(str(e) for e in epochs_at) + " |")
        print("|---|" + "---|" * len(epochs_at))
        for o, t in zip(by["ovis"], by["tfp"]):
            for r, name in ((o, "ovis"), (t, "TFP")):
                print(f"| {name}, seed {r['seed']} | " + " | ".join(f"{v:.4f}" for _, v, _ in r["curve"]) + " |")
            print(f"| ovis - TFP, seed {o['seed']} | "
                  + " | ".join(f"{a - b:+.4f}" for (_, a, _), (_, b, _) in zip(o["curve"], t["curve"])) + " |")
        gaps = [[a - b for (_, a, _), (_, b, _) in zip(o["curve"], t["curve"])] for o, t in zip(by["ovis"], by["tfp"])]
        print("| ovis - TFP, mean over seeds | " + " | ".join(f"{sum(g) / len(g):+.4f}" for g in zip(*gaps)) + " |")


def _run_side(python: str, side: str, args: argparse.Namespace, seed: int, extra=()) -> dict:
    out = subprocess.run([python, os.path.abspath(__file__), "--side", side, "--epochs", str(args.epochs),
                          "--seeds", str(seed), "--train_size", str(args.train_size),
                          "--eval_every", str(args.eval_every), *extra],
                         stdout=subprocess.PIPE, text=True, check=True, timeout=args.timeout)
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def timing(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Seconds per step of both sides from the same weights and batches (``--timing``).

    The NLL runs time epochs along two different trajectories, and the cost of an adaptive solve grows
    with the complexity the dynamics reach; here both sides start from the same weights: the tutorial's
    initial draws, and the weights TFP's run reached (mapped onto zuko exactly as the initial draws
    are), with a learning rate of 1e-9 so that every timed step evaluates the same dynamics (the cost
    of a training step, Adam included, at that state). Each (state, pass, side) is a fresh process, the sides alternate which goes first, the first
    step (TF's tracing) is not counted, and the best median over the passes is kept.
    """
    saved = json.load(open(args.timing))
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds != "0" else [saved["runs"][0]["seed"]]
    if args.timing_steps >= math.ceil(args.train_size / BATCH) or args.timing_steps < 2:
        parser.error("--timing_steps must be at least 2 and fewer than the batches of one epoch")
    sides = (("ovis", sys.executable, ()), ("tfp", args.tfp_python, ()),
             ("ovis, autograd trace", sys.executable, ("--autograd_trace",)))
    rows = []
    for seed in seeds:
        for state, extra in (("initial draws", ()), ("weights TFP reached", ("--weights_from", args.timing))):
            best = {}
            for p in range(args.passes):
                for name, python, flag in (sides if p % 2 == 0 else sides[::-1]):
                    side = name.split(",")[0]
                    r = _run_side(python, side, argparse.Namespace(**{**vars(args), "epochs": 1}), seed,
                                  (*extra, *flag, "--max_steps", str(args.timing_steps), "--lr", "1e-9"))
                    med = _median(r["step_seconds"][1:])
                    best[name] = min(best.get(name, math.inf), med)
                    print(f"seed {seed}, {state}, pass {p + 1}, {name}: median {med:.3f} s/step, "
                          f"load {os.getloadavg()[0]:.2f}", flush=True)
            rows.append((seed, state, best["ovis"], best["tfp"], best["ovis, autograd trace"]))
    print(f"\n{args.timing_steps - 1} timed steps of {BATCH} per run, {args.passes} passes, best median")
    print("| seed | weights | ovis s/step | TFP s/step | TFP / ovis | ovis with zuko's autograd trace, s/step |")
    print("|---|---|---|---|---|---|")
    for seed, state, o, t, a in rows:
        print(f"| {seed} | {state} | {o:.3f} | {t:.3f} | {t / o:.2f}x | {a:.3f} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--train_size", type=int, default=N_TRAIN, help="training points (default: the tutorial's 8192)")
    parser.add_argument("--tfp_python", default=os.environ.get("OVIS_TFP_PYTHON", "/work/venv-tfp/bin/python"))
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed to each side's process")
    parser.add_argument("--eval_every", type=int, default=0,
                        help="also measure the held-out NLL every this many epochs (default 0: only at the end)")
    parser.add_argument("--json", default=None, help="write every run's result to this file")
    parser.add_argument("--summarize", nargs="+", default=None, metavar="JSON",
                        help="print the tables of runs saved with --json (e.g. one file per seed) and exit")
    parser.add_argument("--timing", default=None, metavar="JSON",
                        help="timing mode: seconds per training step of both sides from the same weights, the "
                             "initial draws and the weights TFP reached in this --json file (its first seed, or "
                             "--seeds), each side in a fresh process, --passes interleaved, best median")
    parser.add_argument("--timing_steps", type=int, default=24, help="steps per timing run (the first is not counted)")
    parser.add_argument("--passes", type=int, default=2, help="interleaved passes of the timing mode")
    parser.add_argument("--weights_from", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max_steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--lr", type=float, default=1e-2, help=argparse.SUPPRESS)
    parser.add_argument("--autograd_trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--side", choices=("ovis", "tfp"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    if args.summarize:
        saved = [json.load(open(path)) for path in args.summarize]
        if len({(d["epochs"], d["train_size"]) for d in saved}) != 1:
            parser.error("--summarize: the files were run with different --epochs or --train_size")
        summarize([r for d in saved for r in d["runs"]], saved[0]["epochs"], saved[0]["train_size"])
        return 0
    if args.side:
        weights = None
        if args.weights_from:
            runs = json.load(open(args.weights_from))["runs"]
            weights = [r for r in runs if r["side"] == "tfp" and r["seed"] == seeds[0]][0]["weights"]
        if args.side == "ovis":
            result = run_ovis(args.epochs, seeds[0], args.train_size, args.eval_every, weights, args.max_steps,
                              args.lr, closed_form_trace=not args.autograd_trace)
        else:
            result = run_tfp(args.epochs, seeds[0], args.train_size, args.eval_every, weights, args.max_steps,
                             args.lr)
        print("RESULT " + json.dumps(result))
        return 0
    check = [args.tfp_python, "-c", "import tensorflow_probability, tensorflow, sklearn"]
    if not os.path.exists(args.tfp_python) or subprocess.run(check, capture_output=True).returncode != 0:
        print(f"skipped: no TensorFlow Probability environment at {args.tfp_python} "
              f"(make one: python -m venv /work/venv-tfp && /work/venv-tfp/bin/pip install tensorflow "
              f"tensorflow-probability tf-keras scikit-learn)")
        return 0
    if args.timing:
        return timing(args, parser)
    runs = []
    for i, seed in enumerate(seeds):
        order = (("ovis", sys.executable), ("tfp", args.tfp_python))
        for side, python in (order if i % 2 == 0 else order[::-1]):
            load = os.getloadavg()[0]
            result = _run_side(python, side, args, seed)
            result.update(seed=seed, load_start=load, load_end=os.getloadavg()[0])
            runs.append(result)
            print(f"seed {seed} {side}: NLL {result['test_nll']:.4f}, s/epoch {_epoch_seconds(result):.2f}, "
                  f"load {load:.2f}-{result['load_end']:.2f}", flush=True)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({"epochs": args.epochs, "train_size": args.train_size, "runs": runs}, f, indent=1)
    summarize(runs, args.epochs, args.train_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
