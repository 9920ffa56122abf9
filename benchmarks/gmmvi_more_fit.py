"""Accuracy and speed of the MORE fit (``ovis.gmmvi.ng_estimators.fit_quadratic``) on recorded fits.

Runs ZAMTRUX on a target with the framework's defaults (one thread), records the inputs of the
quadratic fit at the given iterations, and compares on each recorded fit:

* the relative error (largest entry) of the fitted ``R`` and of the natural gradient
  ``R mu - r`` against an SVD least-squares solution of the ridge problem (numpy, the ridge as
  extra rows: no normal equations), for ``fit_quadratic`` with each ``method``, without pruning,
  for the previous solve (uncentred normal equations with the constant feature, Cholesky, LU
  where that fails; the code before this change, kept here for the comparison) and for a
  float32 Gram matrix with a float64 solve;
* the CPU time of the previous solve and of ``fit_quadratic`` (calls alternated, the median of
  ``--repeats``).

    python benchmarks/gmmvi_more_fit.py --target breast_cancer --iterations 5 25 45 120
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import ovis.gmmvi.ng_estimators as ne  # noqa: E402
from ovis.gmmvi import GMMVI, default_config, merge  # noqa: E402
from ovis.gmmvi.targets import make_target  # noqa: E402


def record(experiment, iterations, seed=0):
    cfg = merge(default_config("ZAMTRUX", experiment), {"seed": seed})
    torch.manual_seed(seed)
    target = make_target(cfg["environment_name"], **dict(cfg["environment_config"], seed=seed))
    g = GMMVI.build_from_config(cfg, target)
    rec, orig, cur = [], ne.fit_quadratic, [0]

    def hook(*args, **kwargs):
        if cur[0] in iterations:
            rec.append((cur[0],) + tuple(t.clone() for t in args))
        return orig(*args, **kwargs)

    ne.fit_quadratic = hook
    try:
        for n in range(max(iterations) + 1):
            cur[0] = n
            g.train_iter()
    finally:
        ne.fit_quadratic = orig
    return rec


def previous_fit(x, y, weights, means, chols, regularizers):
    """The solve before this change: features [z_i z_j, z, 1] scaled by sqrt(w), Gram, Cholesky / LU."""
    K, D = means.shape
    N = x.shape[0]
    iu, ju = torch.triu_indices(D, D)
    P = iu.numel() + D + 1
    diagonal = chols.dim() == 2
    diff = x.unsqueeze(0) - means.unsqueeze(1)
    if diagonal:
        z, Linv = diff / chols.unsqueeze(1), torch.diag_embed(1.0 / chols)
    else:
        Linv = torch.linalg.solve_triangular(chols, torch.eye(D, dtype=x.dtype).expand(K, D, D), upper=False)
        z = diff @ Linv.transpose(1, 2)
    feats = torch.empty(K, N, P, dtype=x.dtype)
    feats[..., :iu.numel()] = z[..., iu] * z[..., ju]
    feats[..., iu.numel():-1] = z
    feats[..., -1] = 1.0
    sw = weights.clamp(min=0.0).sqrt().unsqueeze(-1)
    feats.mul_(sw)
    A = feats.transpose(1, 2) @ feats
    reg = torch.ones(P, dtype=x.dtype)
    reg[-1] = 0.0
    A.diagonal(dim1=-2, dim2=-1).add_(regularizers.unsqueeze(1) * reg)
    b = (feats.transpose(1, 2) @ (sw.squeeze(-1) * y.view(1, N)).unsqueeze(-1)).squeeze(-1)
    LA, info_c = torch.linalg.cholesky_ex(A)
    theta = torch.cholesky_solve(b.unsqueeze(-1), LA).squeeze(-1)
    bad = (info_c != 0) | ~torch.isfinite(theta).all(1)
    if bool(bad.any()):
        theta[bad] = torch.linalg.solve_ex(A[bad], b[bad])[0]
    Q = torch.zeros(K, D, D, dtype=x.dtype)
    Q[:, iu, ju] = theta[:, :iu.numel()]
    R = Linv.transpose(1, 2) @ (-(Q + Q.transpose(1, 2))) @ Linv
    r = (Linv.transpose(1, 2) @ theta[:, iu.numel():-1].unsqueeze(-1)).squeeze(-1) + (R @ means.unsqueeze(-1)).squeeze(-1)
    return R, r


def float32_gram_fit(x, y, w, m, L, lam):
    orig = ne._ridge_primal

    def f32(at, s, lam):
        af = at.float()
        G = (af @ af.transpose(1, 2)).double()
        G.diagonal(dim1=-2, dim2=-1).add_(lam.unsqueeze(1))
        return ne._cholesky_solve(G, ne._mv(at, s))

    ne._ridge_primal = f32
    try:
        return ne.fit_quadratic(x, y, w, m, L, lam, method="primal", prune_below=0.0)[:2]
    finally:
        ne._ridge_primal = orig


def reference(x, y, w, means, chols, lam):
    K, D = means.shape
    iu, ju = np.triu_indices(D)
    Rs, rs = [], []
    for k in range(K):
        Lk = chols[k].numpy() if chols.dim() == 3 else np.diag(chols[k].numpy())
        Linv = np.linalg.inv(Lk)
        m = means[k].numpy()
        z = (x.numpy() - m) @ Linv.T
        f = np.column_stack((z[:, iu] * z[:, ju], z, np.ones(len(z))))
        P = f.shape[1]
        sw = np.sqrt(np.clip(w[k].numpy(), 0, None))
        A = np.vstack((sw[:, None] * f, np.sqrt(lam[k].item()) * np.eye(P)[:-1]))
        theta = np.linalg.lstsq(A, np.concatenate((sw * y.numpy(), np.zeros(P - 1))), rcond=None)[0]
        Q = np.zeros((D, D))
        Q[iu, ju] = theta[:len(iu)]
        R = Linv.T @ (-(Q + Q.T)) @ Linv
        Rs.append(R), rs.append(Linv.T @ theta[len(iu):-1] + R @ m)
    return np.stack(Rs), np.stack(rs)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="breast_cancer", help="framework experiment name (breast_cancer, gmm20, ...)")
    p.add_argument("--iterations", type=int, nargs="+", default=[5, 25, 45, 120])
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = record(args.target, set(args.iterations))
    print("| iteration | samples N | components K | solve | ok | rel. error R | rel. error R mu - r |")
    print("|---|---|---|---|---|---|---|")
    for it, x, y, w, m, L, lam in rec:
        Rr, rr = reference(x, y, w, m, L, lam)
        gr = np.einsum("kij,kj->ki", Rr, m.numpy()) - rr
        fits = {"previous": previous_fit(x, y, w, m, L, lam) + (None,),
                "fit_quadratic (auto)": ne.fit_quadratic(x, y, w, m, L, lam)[:2] + (None,),
                "primal, no pruning": ne.fit_quadratic(x, y, w, m, L, lam, method="primal", prune_below=0.0),
                "dual, no pruning": ne.fit_quadratic(x, y, w, m, L, lam, method="dual", prune_below=0.0),
                "float32 Gram, float64 solve": float32_gram_fit(x, y, w, m, L, lam) + (None,)}
        for name, out in fits.items():
            R, r = out[0], out[1]
            ok = "" if len(out) < 4 else str(bool(out[3].all()))
            g = (R @ m.unsqueeze(-1)).squeeze(-1) - r
            eR = np.abs(R.numpy() - Rr).max() / np.abs(Rr).max()
            eg = np.abs(g.numpy() - gr).max() / np.abs(gr).max()
            print(f"| {it} | {x.shape[0]} | {m.shape[0]} | {name} | {ok} | {eR:.1e} | {eg:.1e} |")
    print("\n| iteration | samples N | components K | previous, ms CPU (median) | fit_quadratic, ms CPU (median) | ratio |")
    print("|---|---|---|---|---|---|")
    for it, x, y, w, m, L, lam in rec:
        fs = {"old": lambda: previous_fit(x, y, w, m, L, lam), "new": lambda: ne.fit_quadratic(x, y, w, m, L, lam)}
        ts = {k: [] for k in fs}
        for f in fs.values():
            f()
        for _ in range(args.repeats):
            for k, f in fs.items():
                c = time.process_time()
                f()
                ts[k].append(time.process_time() - c)
        o, n = statistics.median(ts["old"]), statistics.median(ts["new"])
        print(f"| {it} | {x.shape[0]} | {m.shape[0]} | {1e3 * o:.1f} | {1e3 * n:.1f} | {o / n:.2f} |")


if __name__ == "__main__":
    main()
