"""FFJORD on two moons, the set-up of TFP's FFJORD tutorial, in PyTorch on zuko.

Four stacked FFJORD transforms, each with a state derivative f(t, z) = MLP([t, z]) of 3 linear
layers (hidden 8, tanh), base N(0, 0.8^2 I), Dormand-Prince (atol 1e-5, rtol 1e-3), exact trace
(or Hutchinson's estimator with ``--trace hutchinson``), batches of 256 from 8192 points, Adam 1e-2.
Saves the tutorial's 4-panel figure (base samples and grid; transformed grid and samples; model
density; data density) and a JSON file with the held-out NLL and the seconds per epoch.

    python examples/ffjord_moons.py --epochs 80 --out docs/figures
    python examples/ffjord_moons.py --steps 2 --out /tmp/quick      # a quick check
"""
from __future__ import annotations

import argparse
import json
import os
import time
from typing import Dict

import numpy as np
import torch

from ovis.flows import FFJORD
from ovis.flows.fit import fit_density, mean_nll


def moons(n: int, seed: int) -> torch.Tensor:
    """``n`` points of scikit-learn's two moons with noise 0.06 (the tutorial's data), ``[n, 2]``."""
    from sklearn.datasets import make_moons
    return torch.as_tensor(make_moons(n_samples=n, noise=0.06, random_state=seed)[0], dtype=torch.float32)


def make_flow(exact: bool = True) -> FFJORD:
    return FFJORD(2, transforms=4, hidden=8, layers=3, base_scale=0.8, exact=exact, atol=1e-5, rtol=1e-3)


def figure(flow: FFJORD, data: torch.Tensor, path: str, seed: int = 0, resolution: int = 120) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    torch.manual_seed(seed)
    flow.eval()
    with torch.no_grad():
        p = flow()
        base = p.base.sample((20 * resolution,))
        ticks = torch.linspace(-2.4, 2.4, 9)
        line = torch.linspace(-2.4, 2.4, 2 * resolution)
        grid = [torch.stack([torch.full_like(line, v), line], -1) for v in ticks]
        grid += [torch.stack([line, torch.full_like(line, v)], -1) for v in ticks]
        samples = p.transform.inv(base)
        moved = [p.transform.inv(g) for g in grid]
        xs, ys = np.linspace(-1.5, 2.5, resolution), np.linspace(-1.0, 1.5, (3 * resolution) // 4)
        X, Y = np.meshgrid(xs, ys)
        pts = torch.as_tensor(np.stack([X.ravel(), Y.ravel()], -1), dtype=torch.float32)
        density = p.log_prob(pts).exp().reshape(X.shape).numpy()
    fig, ax = plt.subplots(1, 4, figsize=(17, 4.2))
    for g in grid:
        ax[0].plot(g[:, 0], g[:, 1], color="0.6", lw=0.6)
    ax[0].scatter(base[:, 0], base[:, 1], s=2, color="tab:blue")
    ax[0].set_title("base samples and grid, N(0, 0.8²)")
    for g in moved:
        ax[1].plot(g[:, 0], g[:, 1], color="0.6", lw=0.6)
    ax[1].scatter(samples[:, 0], samples[:, 1], s=2, color="tab:orange")
    ax[1].set_title("transformed grid and samples")
    ax[2].pcolormesh(X, Y, density, shading="auto", cmap="viridis")
    ax[2].set_title("model density")
    ax[3].hist2d(data[:, 0].numpy(), data[:, 1].numpy(), bins=[xs, ys], density=True, cmap="viridis")
    ax[3].set_title("data density (histogram)")
    for a in ax[1:]:
        a.set_xlim(xs[0], xs[-1]); a.set_ylim(ys[0], ys[-1])
    for a in ax:
        a.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None) -> Dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=80, help="passes over the 8192 points (default 80)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many batches (quick runs)")
    parser.add_argument("--trace", choices=("exact", "hutchinson"), default="exact")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="docs/figures", help="directory of the figure and the JSON file")
    parser.add_argument("--test_size", type=int, default=2048, help="held-out points (default 2048)")
    parser.add_argument("--resolution", type=int, default=120, help="density grid points per axis (default 120)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, test = moons(8192, args.seed), moons(args.test_size, 10_000 + args.seed)
    flow = make_flow(exact=args.trace == "exact")
    start = time.perf_counter()
    history = fit_density(flow, train, epochs=args.epochs, batch_size=256, lr=1e-2, seed=args.seed,
                          max_steps=args.steps)
    seconds = time.perf_counter() - start
    flow.set_exact(True)  # evaluate with the exact log-density
    flow.eval()
    result = {"test_nll": mean_nll(flow, test), "train_nll_last_batch": history["loss"][-1],
              "steps": len(history["loss"]), "seconds": seconds, "trace": args.trace,
              "epoch_seconds": history["epoch_seconds"],
              "seconds_per_epoch_median": float(np.median(history["epoch_seconds"])) if history["epoch_seconds"]
              else seconds / len(history["loss"]) * 32}
    os.makedirs(args.out, exist_ok=True)
    tag = "" if args.trace == "exact" else "_hutchinson"
    figure(flow, train, os.path.join(args.out, f"ffjord_moons{tag}.png"), args.seed, args.resolution)
    with open(os.path.join(args.out, f"ffjord_moons{tag}.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "epoch_seconds"}))
    return result


if __name__ == "__main__":
    main()
