"""ZAMTRUX on BreastCancer: how accurate is one iteration's MORE estimate, and what does its step do?

Runs ovis' ZAMTRUX (framework defaults, ``default_config("ZAMTRUX", "breast_cancer")``) for one
seed and, at each iteration of ``--at``, takes the state and compares for every component

* the natural-gradient estimate of the next iteration (MORE on the samples the sample selector
  picks: the new ones and the reused ones, importance weighted), repeated ``--repeats`` times
  with fresh samples from the same state;
* a reference: Stein's lemma (target gradients) on ``--ref-samples`` fresh samples from each
  component (own samples only, no importance weights), and MORE on the same samples;

in the component's whitened coordinates (``L^T R L`` with ``Sigma = L L^T``, where the current
precision is the identity, so the numbers read as relative changes of the precision), and the
-ELBO (20,000 samples, common random numbers) after one component update with each estimate
(same step sizes, the weights unchanged). With ``--tf-python`` pointing to a venv with PyPI
``gmmvi`` 1.1 (default ``/work/venv-tf/bin/python``, skipped when absent), the same samples and
state also go through the TensorFlow original's ``MoreNgEstimator`` (float32) and its
``KLConstrainedNgBasedComponentUpdater`` (applied to ovis' estimate).

    python benchmarks/gmmvi_zamtrux_noise.py --seed 0 --at 150 250 --repeats 5 --ref-samples 5000
"""
import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ovis.gmmvi import GMMVI, default_config, merge  # noqa: E402
from ovis.gmmvi.ng_estimators import MoreNgEstimator, SteinNgEstimator  # noqa: E402
from ovis.gmmvi.targets import make_target  # noqa: E402

sys.path.insert(0, str(ROOT / "benchmarks"))
from gmmvi_vs_tf import run_one, tf_available  # noqa: E402

TF_SCRIPT = r'''
import os, sys, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1); tf.config.threading.set_inter_op_parallelism_threads(1)
from gmmvi.models.full_cov_gmm import FullCovGMM
from gmmvi.models.gmm_wrapper import GmmWrapper
from gmmvi.optimization.gmmvi_modules.ng_estimator import MoreNgEstimator
from gmmvi.optimization.gmmvi_modules.ng_based_component_updater import KLConstrainedNgBasedComponentUpdater
d = np.load(sys.argv[1])
f = lambda a: tf.constant(np.asarray(a, np.float32))
def wrapper():
    covs = np.stack([c @ c.T for c in d["chols"]])
    w = GmmWrapper(FullCovGMM(f(np.exp(d["log_weights"])), f(d["means"]), f(covs)), 1.0, 1e-12, 200)
    return w
w = wrapper()
est = MoreNgEstimator(1.0, w, False, 1e-12, True)
w.l2_regularizers.assign(f(d["regs"]))
R, g = est.get_expected_hessian_and_grad(f(d["samples"]), tf.constant(d["rel"].astype(np.int32)), f(d["background"]),
                                         f(d["lnpdfs"]), f(d["grads"]))
w2 = wrapper()
w2.l2_regularizers.assign(f(d["regs"])); w2.last_log_etas.assign(f(d["last_etas"])); w2.stepsizes.assign(f(d["stepsizes"]))
KLConstrainedNgBasedComponentUpdater(w2, 1.0).apply_NG_update(f(d["R"]), f(d["g"]), f(d["stepsizes"]))
print("RESULT " + json.dumps({"R": R.numpy().astype(float).tolist(), "g": g.numpy().astype(float).tolist(),
      "means": w2.means.numpy().astype(float).tolist(), "chols": w2.chol_cov.numpy().astype(float).tolist(),
      "etas": w2.last_log_etas.numpy().astype(float).tolist()}))
'''


def whiten(q, R, g):
    """``(L^T R L [K, D, D], L^T g [K, D])``."""
    L = q.chols
    return L.transpose(1, 2) @ R @ L, (L.transpose(1, 2) @ g.unsqueeze(-1)).squeeze(-1)


def neg_elbo_after(make, state, R, g, stepsizes, n=20000):
    """-ELBO after one component update with ``R, g`` from ``state`` (20,000 samples, fixed seed)."""
    h = make(state)
    h.model.stepsizes = stepsizes.clone()
    h.ng_based_updater.apply_NG_update(R, g, h.model.stepsizes)
    torch.manual_seed(99)
    return -h.elbo(n)["elbo"], h


def tf_side(python, arrays):
    """The TF original's estimate and update of one state (``TF_SCRIPT`` in ``python``), by the runner of
    ``gmmvi_vs_tf.py``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.npz")
        np.savez(path, **arrays)
        return {k: np.asarray(v) for k, v in run_one(python, TF_SCRIPT, [path]).items()}


def analyse(make, state, target, args, use_tf):
    g0 = make(state)
    q = g0.model
    K = q.num_components
    stepsizes = g0.component_stepsize_adapter.update_stepsize(q.stepsizes)
    # reference: Stein's lemma and MORE on many fresh own samples of every component
    torch.manual_seed(7)
    xs, ms = q.sample_from_components(torch.full((K,), args.ref_samples, dtype=torch.long))
    lp, gr = target.log_density_and_grad(xs)
    lp, gr = lp.to(xs.dtype), gr.to(xs.dtype)
    R_ref, g_ref = SteinNgEstimator(q, 1.0, only_use_own_samples=True).get_expected_hessian_and_grad(
        xs, ms, lp, lp, gr)
    R_big, g_big = MoreNgEstimator(q, 1.0, only_use_own_samples=True).get_expected_hessian_and_grad(
        xs, ms, lp, lp, gr)
    Wr, wr = whiten(q, R_ref, g_ref)
    Wb, _ = whiten(q, R_big, g_big)
    # the iteration's own estimate, repeated with fresh samples from the same state
    errs, ess_all, after, first = [], [], [], None
    for rep in range(args.repeats):
        g = make(state)
        torch.manual_seed(1000 + rep)
        samples, mapping, background, lnpdfs, grads = g.sample_selector.select_samples()
        rel = mapping - (g.sample_db.means.shape[0] - K)
        R, gn = g.ng_estimator.get_expected_hessian_and_grad(samples, rel, background, lnpdfs, grads)
        Wm, _ = whiten(q, R, gn)
        errs.append((Wm - Wr).flatten(1).norm(dim=1))
        W = torch.softmax(q.component_log_densities(samples) - background, 1)
        ess_all.append(1.0 / (W ** 2).sum(1))
        after.append(neg_elbo_after(make, state, R, gn, stepsizes)[0])
        if first is None:
            first = dict(samples=samples, rel=rel, background=background, lnpdfs=lnpdfs, grads=grads, R=R, g=gn)
    errs, ess_all = torch.stack(errs), torch.stack(ess_all)
    torch.manual_seed(99)
    before = -make(state).elbo(20000)["elbo"]
    ref_after = neg_elbo_after(make, state, R_ref, g_ref, stepsizes)[0]
    big_after = neg_elbo_after(make, state, R_big, g_big, stepsizes)[0]
    print(f"\niteration {state['num_updates']}: {K} components, {first['samples'].shape[0]} samples in the "
          f"iteration, -ELBO {before:.3f} (20,000 samples)")
    cols = ["k", "weight", "step size (KL bound)", "ESS of its importance weights (mean)", "||Rw_ref||_F",
            f"||Rw_MORE - Rw_ref||_F, this iteration's samples (mean of {args.repeats})",
            f"||Rw_MORE - Rw_ref||_F, MORE on the {args.ref_samples} reference samples"]
    tf_res = None
    if use_tf:
        arrays = {k: v.numpy() for k, v in first.items()}
        arrays.update(log_weights=q.log_weights.numpy(), means=q.means.numpy(), chols=q.chols.numpy(),
                      stepsizes=stepsizes.numpy(), regs=q.l2_regularizers.numpy(), last_etas=q.last_etas.numpy())
        tf_res = tf_side(args.tf_python, arrays)
        Wt, _ = whiten(q, torch.as_tensor(tf_res["R"]), torch.as_tensor(tf_res["g"]))
        Wm1, _ = whiten(q, first["R"], first["g"])
        cols += ["||Rw_TF - Rw_ovis||_F (first repeat's samples, TF float32)"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for k in range(K):
        row = [str(k), f"{q.weights[k]:.3g}", f"{stepsizes[k]:.3f}", f"{ess_all[:, k].mean():.1f}",
               f"{Wr[k].norm():.3g}", f"{errs[:, k].mean():.3g}", f"{(Wb[k] - Wr[k]).norm():.3g}"]
        if tf_res is not None:
            row.append(f"{(Wt[k] - Wm1[k]).norm():.3g}")
        print("| " + " | ".join(row) + " |")
    print(f"\n-ELBO after one component update (weights unchanged): before {before:.3f}; with the iteration's "
          f"MORE estimate {statistics.fmean(after):.3f} (mean of {args.repeats}; "
          f"{min(after):.3f}..{max(after):.3f}); with the Stein reference {ref_after:.3f}; with MORE on the "
          f"reference samples {big_after:.3f}")
    if tf_res is not None:
        _, h = neg_elbo_after(make, state, first["R"], first["g"], stepsizes)
        dm = (h.model.means - q.means).norm(dim=1)
        dc = (h.model.chols - q.chols).flatten(1).norm(dim=1)
        em = (torch.as_tensor(tf_res["means"]) - h.model.means).norm(dim=1) / dm.clamp(min=1e-300)
        ec = (torch.as_tensor(tf_res["chols"]) - h.model.chols).flatten(1).norm(dim=1) / dc.clamp(min=1e-300)
        print("\nTF's KL-constrained component update applied to ovis' estimate (first repeat), against ovis' update:")
        print("| k | eta TF | eta ovis | |mean_TF - mean_ovis| / |mean_ovis - mean_old| | "
              "||L_TF - L_ovis||_F / ||L_ovis - L_old||_F |\n|---|---|---|---|---|")
        for k in range(K):
            print(f"| {k} | {tf_res['etas'][k]:.4g} | {h.model.last_etas[k]:.4g} | {em[k]:.2e} | {ec[k]:.2e} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--at", type=int, nargs="+", default=[150, 250], help="iterations at which to analyse")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--ref-samples", type=int, default=5000)
    p.add_argument("--data-path", default=str(ROOT.parent / "shared/data/gmmvi/breast_cancer.data"))
    p.add_argument("--tf-python", default=os.environ.get("GMMVI_TF_PYTHON", "/work/venv-tf/bin/python"))
    args = p.parse_args()
    torch.set_num_threads(1)
    cfg = merge(default_config("ZAMTRUX", "breast_cancer"), {"seed": args.seed})
    target = make_target(cfg["environment_name"], data_path=args.data_path, seed=args.seed)
    use_tf = tf_available(args.tf_python)
    print(f"TF side: {'yes' if use_tf else 'skipped (no gmmvi at ' + args.tf_python + ')'}")

    def make(state):
        g = GMMVI.build_from_config(cfg, target)
        g.load_state_dict(copy.deepcopy(state))
        return g

    torch.manual_seed(args.seed)
    g = GMMVI.build_from_config(cfg, target)
    for it in sorted(args.at):
        while g.num_updates < it:
            g.train_iter()
        analyse(make, copy.deepcopy(g.state_dict()), target, args, use_tf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
