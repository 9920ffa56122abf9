"""Two-moons density estimation: held-out mean NLL of flows and Gaussians trained with the same budget.

Every model sees the data of ``examples/ffjord_moons.py`` (8192 training points of scikit-learn's
moons, noise 0.06; 2048 held-out points) with the same budget: ``--epochs`` passes of 32 batches of
256, Adam 1e-2, one thread. The FFJORD rows are read from the example's JSON files (run it first, with
and without ``--trace hutchinson``); the others are trained here, each in a fresh process.

    python examples/ffjord_moons.py --epochs 80 --out docs/figures
    python examples/ffjord_moons.py --epochs 80 --trace hutchinson --out docs/figures
    python benchmarks/flows_moons.py --epochs 80 --ffjord docs/figures
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
from torch import nn
from torch.distributions import Independent, MultivariateNormal, Normal

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = ("diag-gaussian", "full-gaussian", "maf", "nsf")


class DiagGaussian(nn.Module):
    """``N(mu, diag(exp(2 s)))`` with learned ``mu``, ``s``."""

    def __init__(self, d: int = 2) -> None:
        super().__init__()
        self.loc, self.log_scale = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d))

    def forward(self):
        return Independent(Normal(self.loc, self.log_scale.exp()), 1)


class FullGaussian(nn.Module):
    """``N(mu, L L^T)`` with a learned lower-triangular ``L`` (positive diagonal through exp)."""

    def __init__(self, d: int = 2) -> None:
        super().__init__()
        self.loc, self.raw = nn.Parameter(torch.zeros(d)), nn.Parameter(torch.zeros(d, d))

    def forward(self):
        L = self.raw.tril(-1) + torch.diag_embed(self.raw.diagonal().exp())
        return MultivariateNormal(self.loc, scale_tril=L)


def build(name: str) -> nn.Module:
    import zuko
    if name == "diag-gaussian":
        return DiagGaussian()
    if name == "full-gaussian":
        return FullGaussian()
    if name == "maf":
        return zuko.flows.MAF(2, transforms=3, hidden_features=(64, 64))
    if name == "nsf":
        return zuko.flows.NSF(2, transforms=3, hidden_features=(64, 64))
    raise ValueError(f"unknown model {name!r}; valid models are {list(MODELS)}")


def train_one(name: str, epochs: int, seed: int) -> dict:
    sys.path.insert(0, os.path.join(HERE, "..", "examples"))
    from ffjord_moons import moons  # the example's data
    from ovis.flows.fit import fit_density, mean_nll

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train, test = moons(8192, seed), moons(2048, 10_000 + seed)
    model = build(name)
    start = time.perf_counter()
    history = fit_density(model, train, epochs=epochs, batch_size=256, lr=1e-2, seed=seed)
    model.eval()
    return {"model": name, "test_nll": mean_nll(model, test), "seconds": time.perf_counter() - start,
            "seconds_per_epoch_median": sorted(history["epoch_seconds"])[len(history["epoch_seconds"]) // 2],
            "steps": len(history["loss"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--ffjord", default=None, help="directory with the example's ffjord_moons*.json")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: train one model, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(train_one(args.one, args.epochs, args.seed)))
        return
    rows = []
    if args.ffjord:
        for tag, label in (("", "ffjord (exact trace)"), ("_hutchinson", "ffjord (Hutchinson)")):
            path = os.path.join(args.ffjord, f"ffjord_moons{tag}.json")
            if os.path.exists(path):
                with open(path) as f:
                    r = json.load(f)
                rows.append({"model": label, "test_nll": r["test_nll"], "steps": r["steps"],
                             "seconds_per_epoch_median": r["seconds_per_epoch_median"]})
    for name in args.models.split(","):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name, "--epochs", str(args.epochs),
                              "--seed", str(args.seed)], check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| model | held-out mean NLL (nats) | steps | s/epoch (median) |")
    print("|---|---|---|---|")
    for r in sorted(rows, key=lambda r: r["test_nll"]):
        print(f"| {r['model']} | {r['test_nll']:.4f} | {r['steps']} | {r['seconds_per_epoch_median']:.2f} |")


if __name__ == "__main__":
    main()
