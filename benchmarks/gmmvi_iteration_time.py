"""Seconds per GMMVI iteration of two versions of the code, interleaved (docs/RESULTS.md, GMMVI section).

Each measurement is a fresh process that imports ``ovis`` from the given code directory (e.g. a
``git archive`` of an older commit, or the working tree), builds the code word's default configuration
for the experiment (seed 0, one torch thread), runs ``--iterations`` iterations and reports the wall-clock
and CPU seconds (``time.process_time``) of each. Versions alternate within a pass; the first and last
model of each version are compared (largest relative difference of means, weights, Cholesky factors)::

    git archive 77d8c3d | tar -x -C /tmp/old
    python benchmarks/gmmvi_iteration_time.py --code /tmp/old . --experiment planar_robot_4 --iterations 3
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def worker(args):
    import time
    import torch
    torch.set_num_threads(1)
    import ovis
    from ovis.gmmvi.configs import default_config
    from ovis.gmmvi.gmmvi import GMMVI
    from ovis.gmmvi.targets import make_target
    cfg = default_config(args.codeword, args.experiment)
    torch.manual_seed(0)
    env = dict(cfg.get("environment_config") or {})
    g = GMMVI.build_from_config(cfg, make_target(cfg["environment_name"], **env))
    rows = []
    for _ in range(args.iterations):
        t, c = time.perf_counter(), time.process_time()
        g.train_iter()
        rows.append({"wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                     "components": g.model.num_components, "samples": len(g.sample_db)})
    q = g.model
    torch.save({"means": q.means, "chols": q.chols, "log_weights": q.log_weights}, args.dump)
    print(json.dumps({"ovis": str(Path(ovis.__file__).parent), "rows": rows}))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--code", nargs=2, required=True, metavar=("OLD", "NEW"), help="two code directories")
    p.add_argument("--codeword", default="SAMTRON")
    p.add_argument("--experiment", default="planar_robot_4")
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--order", default="NON", help="the versions in run order, O(ld)/N(ew) (default NON)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--dump", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    import torch
    tmp = Path(tempfile.mkdtemp())
    results = {"O": [], "N": []}
    print(f"load average before: {os.getloadavg()}", flush=True)
    for i, v in enumerate(args.order):
        root = Path(args.code[0 if v == "O" else 1]).resolve()
        dump = tmp / f"{v}{i}.pt"
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--code", *args.code, "--codeword",
               args.codeword, "--experiment", args.experiment, "--iterations", str(args.iterations), "--dump", str(dump)]
        env = {**os.environ, "PYTHONPATH": str(root)}
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=root, env=env).stdout
        r = json.loads(out.strip().splitlines()[-1])
        results[v].append((r, dump))
        print(f"{'old' if v == 'O' else 'new'} ({r['ovis']}): " + ", ".join(
            f"it {j}: {x['wall']:.2f} s wall / {x['cpu']:.2f} s CPU ({x['samples']} samples)"
            for j, x in enumerate(r["rows"])), flush=True)
    print(f"load average after: {os.getloadavg()}")
    import statistics
    for v in "ON":
        if results[v]:
            last = [r["rows"][-1] for r, _ in results[v]]
            med = [(statistics.median(x["wall"] for x in r["rows"]), statistics.median(x["cpu"] for x in r["rows"]))
                   for r, _ in results[v]]
            print(f"{'old' if v == 'O' else 'new'}: last iteration, best of {len(last)}: "
                  f"{min(x['wall'] for x in last):.4f} s wall, {min(x['cpu'] for x in last):.4f} s CPU; "
                  f"median over the iterations, best of {len(med)}: {min(m[0] for m in med):.4f} s wall, "
                  f"{min(m[1] for m in med):.4f} s CPU")
    if results["O"] and results["N"]:
        a, b = torch.load(results["O"][0][1]), torch.load(results["N"][0][1])
        for k in a:
            rel = ((a[k] - b[k]).abs().max() / a[k].abs().max()).item()
            print(f"old vs new after {args.iterations} iterations: {k} max |diff| / max |old| = {rel:.1e}")


if __name__ == "__main__":
    main()
