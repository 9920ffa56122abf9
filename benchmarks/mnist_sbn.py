"""Train a 784-200 linear sigmoid belief network on real MNIST digits with OVIS (gamma = 1).

The data are loaded exactly as a user would, through
``get_datasets('mnist', data_root=..., test_only_split=True)``: on machines that only hold
the official MNIST *test* file (10,000 images), those images are split 8,000 / 1,000 / 1,000
into train / valid / test (dynamic binarization for train, one fixed draw for valid/test).
The script prints the test bound L_K before and after a few hundred Adam steps.

Usage::

    python benchmarks/mnist_sbn.py --data-root /path/with/mnist/folder --steps 300

Reference: Lievin et al. (2020), Optimal Variance Control of the Score Function Gradient
Estimator for Importance Weighted Bounds, arXiv:2008.01998 (the SBN experiments).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch

from ovis.datasets import get_datasets
from ovis.estimators.bounds import iw_bound
from ovis.estimators.config import parse_estimator_id
from ovis.models import SBN


@torch.no_grad()
def test_bound(model: SBN, x: torch.Tensor, iw: int, batch_size: int = 20, chunk: int = 250) -> float:
    """Average ``L_K`` (nats) over the rows of ``x [n, 1, 28, 28]``, K = ``iw``."""
    Estimator, config = parse_estimator_id("ovis-gamma1")
    estimator = Estimator(mc=1, iw=iw, **config)
    total = 0.0
    for start in range(0, x.shape[0], batch_size):
        batch = x[start:start + batch_size]
        ev = estimator.evaluate(model, batch, 1, iw, chunk=chunk)
        total += iw_bound(ev.log_wk()).sum().item()
    return total / x.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", default="/work/shared/data", help="folder holding mnist/")
    parser.add_argument("--estimator", default="ovis-gamma1")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--iw", type=int, default=100, help="particles K during training")
    parser.add_argument("--eval-iw", type=int, default=1000, help="particles K of the test bound")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    print(f"# {datetime.datetime.now().isoformat(timespec='seconds')}  {platform.node()}  "
          f"{platform.processor() or platform.machine()}  torch {torch.__version__}  "
          f"threads {torch.get_num_threads()}")
    train, valid, test = get_datasets("mnist", data_root=args.data_root, seed=args.seed, test_only_split=True)
    print(f"data: MNIST official test file only (10,000 real images), split {len(train)}/{len(valid)}/{len(test)} "
          f"train/valid/test; train dynamically binarized, test binarized once (seed {args.seed + 2})")
    x_test = test.tensor()
    model = SBN(train.shape, layers=(200,), connection="linear")
    model.init_output_bias(train.data.mean(0))
    Estimator, config = parse_estimator_id(args.estimator)
    estimator = Estimator(mc=1, iw=args.iw, **config)
    optimizer = torch.optim.Adam(list(model.parameters()) + list(estimator.parameters()), lr=args.lr)
    print(f"model: SBN 784-200 linear; estimator {args.estimator}, K={args.iw}, batch {args.batch_size}, "
          f"Adam lr {args.lr}, {args.steps} steps")

    t0 = time.time()
    before = test_bound(model, x_test, args.eval_iw)
    print(f"test L_{args.eval_iw} before training: {before:.2f} nats  ({time.time() - t0:.1f} s)")

    t0 = time.time()
    for step in range(1, args.steps + 1):
        idx = torch.randint(0, len(train), (args.batch_size,))
        batch = torch.bernoulli(train.data[idx])
        optimizer.zero_grad()
        loss, diagnostics, _ = estimator(model, batch)
        loss.mean().backward()
        optimizer.step()
        if step % max(1, args.steps // 6) == 0 or step == args.steps:
            print(f"  step {step:4d}  train L_{args.iw} {diagnostics['loss']['L_k'].mean().item():8.2f}  "
                  f"ess {diagnostics['loss']['ess'].mean().item():6.2f}  ({time.time() - t0:.0f} s)")
    train_time = time.time() - t0

    t0 = time.time()
    after = test_bound(model, x_test, args.eval_iw)
    print(f"test L_{args.eval_iw} after training:  {after:.2f} nats  ({time.time() - t0:.1f} s)")
    print(f"training: {args.steps} steps in {train_time:.0f} s ({1000 * train_time / args.steps:.0f} ms/step)")


if __name__ == "__main__":
    main()
