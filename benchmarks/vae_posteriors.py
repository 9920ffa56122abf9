"""VAE posteriors on the embedded digits: gaussian vs nsf vs ffjord, with pathwise-iwae and dreg.

Each configuration trains ``VAE((1, 8, 8), latent='normal', N, hdim, posterior=...)`` for ``--steps``
Adam steps (lr 1e-3, batches of 32, K particles) and reports the test bound L_K (same K) and L_100 on
the first ``--test`` test points; one thread, each configuration in a fresh process.

    python benchmarks/vae_posteriors.py --steps 1000 --seeds 0,1,2
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time

POSTERIOR_OPTIONS = {"gaussian": {}, "nsf": {"transforms": 2, "hidden": (32, 32)},
                     "ffjord": {"hidden": 32, "atol": 1e-4, "rtol": 1e-3}}


def run_one(posterior: str, estimator: str, seed: int, steps: int, K: int, N: int, hdim: int, n_test: int) -> dict:
    import torch
    from ovis.datasets import get_datasets
    from ovis.estimators import parse_estimator_id
    from ovis.models import VAE

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    train, _, test = get_datasets("digits", seed=0)
    xtr = torch.stack([train[i] for i in range(len(train))])
    xte = torch.stack([test[i] for i in range(min(n_test, len(test)))])
    model = VAE(tuple(xtr.shape[1:]), latent="normal", N=N, hdim=hdim, nlayers=1, posterior=posterior,
                posterior_options=POSTERIOR_OPTIONS[posterior])
    Est, cfg = parse_estimator_id(estimator)
    est = Est(mc=1, iw=K, **cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(0, xtr.shape[0], (32,), generator=g)
        loss = est(model, xtr[idx])[0].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    Eval, ecfg = parse_estimator_id("pathwise-iwae")
    out = {"posterior": posterior, "estimator": estimator, "seed": seed, "steps": steps, "K": K,
           "train_seconds": seconds}
    with torch.no_grad():
        for k in (K, 100):
            ev = Eval(mc=1, iw=k, **ecfg)
            vals = [ev(model, xte[i:i + 25])[0] for i in range(0, xte.shape[0], 25)]
            out[f"test_L{k}"] = -torch.cat(vals).mean().item()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--K", type=int, default=5)
    p.add_argument("--N", type=int, default=4)
    p.add_argument("--hdim", type=int, default=64)
    p.add_argument("--test", type=int, default=300)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--posteriors", default="gaussian,nsf,ffjord")
    p.add_argument("--estimators", default="pathwise-iwae,dreg")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        post, est, seed = args.one.split(":")
        print("RESULT " + json.dumps(run_one(post, est, int(seed), args.steps, args.K, args.N, args.hdim, args.test)),
              flush=True)
        return
    rows = []
    for seed in args.seeds.split(","):
        for est in args.estimators.split(","):
            for post in args.posteriors.split(","):
                cmd = [sys.executable, __file__, "--one", f"{post}:{est}:{seed}", "--steps", str(args.steps),
                       "--K", str(args.K), "--N", str(args.N), "--hdim", str(args.hdim), "--test", str(args.test)]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                rows.append(json.loads([l for l in out.splitlines() if l.startswith("RESULT ")][-1][7:]))
                print(json.dumps(rows[-1]), flush=True)
    print(f"\n| estimator | posterior | test L_{args.K} (mean ± sd, {len(args.seeds.split(','))} seeds) | "
          f"test L_100 | train s |")
    print("|---|---|---|---|---|")
    for est in args.estimators.split(","):
        for post in args.posteriors.split(","):
            sel = [r for r in rows if r["estimator"] == est and r["posterior"] == post]
            a, b = [r[f"test_L{args.K}"] for r in sel], [r["test_L100"] for r in sel]
            sd = lambda v: statistics.stdev(v) if len(v) > 1 else math.nan
            print(f"| {est} | {post} | {statistics.mean(a):.3f} ± {sd(a):.3f} | {statistics.mean(b):.3f} ± "
                  f"{sd(b):.3f} | {statistics.mean(r['train_seconds'] for r in sel):.0f} |")


if __name__ == "__main__":
    main()
