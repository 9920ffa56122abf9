"""Evaluate finished runs of ``run.py`` again, from their checkpoints: the test bound ``L_K`` with a
large K (e.g. the paper's ``L_5000``) on more test points than the runs' own evaluations used.

For each run directory it rebuilds the data and the model from ``config.json`` (the same code path as
``run.py``), loads the model's weights from ``checkpoint.pt`` (the last evaluation of the run) and
averages :func:`ovis.training.evaluation.evaluate_bound` over the test points, with the random seed
``--seed`` (the same particles for every run). Prints one JSON line per run and writes them to
``--out`` (JSON lines) if given; the seconds of each evaluation are included, for planning.

Usage (shell)::

    python benchmarks/final_likelihood.py runs/sigmoid-belief-network-mini/00001 --iw 5000 --max_eval 0 \\
        --data_root ../shared/data --out reports/sbn-L5000.jsonl
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def evaluate_run(path: str, iw: int, max_eval: int, batch_size: int, max_rows: int, seed: int,
                 data_root: str = None) -> Dict[str, Any]:
    """The test ``L_iw`` of the run in ``path`` (a run directory of ``run.py``) at its checkpoint."""
    import torch

    from ovis.runs import load_checkpoint
    from ovis.training import factory
    from ovis.training.data import eval_indices, fetch
    from ovis.training.evaluation import evaluate_split

    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    if data_root is not None:
        config["data_root"] = data_root
    state = load_checkpoint(os.path.join(path, "checkpoint.pt"))
    if state is None:
        raise FileNotFoundError(f"{path} has no checkpoint.pt; expected a run directory of run.py")
    train, _, test = factory.build_datasets(config)
    shape = tuple(fetch(train, torch.arange(min(2, len(train)))).shape[1:])
    model = factory.build_model(config, shape, train)
    model.load_state_dict(state["model"])
    indices = eval_indices(len(test), max_eval)
    torch.manual_seed(seed)
    start = time.perf_counter()
    result = evaluate_split(model, test, indices, iw, batch_size, max_rows, torch.device("cpu"))
    seconds = time.perf_counter() - start
    return {"run": os.path.basename(os.path.normpath(path)), "path": os.path.abspath(path), "estimator": config["estimator"], "K": config["iw"],
            "seed": config["seed"], "warmup": config.get("warmup"), "alpha_init": config.get("alpha_init"),
            "step": state["step"], "iw_test": iw, "test_points": int(len(indices)),
            "test_L": result["loss"]["L_k"], "seconds": seconds}


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories of run.py (with config.json and checkpoint.pt)")
    parser.add_argument("--iw", type=int, default=5000, help="particles K of the test bound L_K (default: 5000)")
    parser.add_argument("--max_eval", type=int, default=0, help="test points (<= 0: all; default: 0)")
    parser.add_argument("--batch_size", type=int, default=10, help="test points per batch (default: 10)")
    parser.add_argument("--max_rows", type=int, default=1 << 15,
                        help="most rows (points x particles) given to the model at once (default: 32768)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the evaluation's particles (default: 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--data_root", default=None, help="data folder (default: the runs' own --data_root)")
    parser.add_argument("--out", default=None, help="append one JSON line per run to this file")
    args = parser.parse_args(argv)
    if args.iw < 1:
        parser.error(f"--iw {args.iw} is invalid; expected a positive number of particles")
    import torch

    torch.set_num_threads(args.threads)
    for path in args.runs:
        line = evaluate_run(path, args.iw, args.max_eval, args.batch_size, args.max_rows, args.seed, args.data_root)
        print(json.dumps(line), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
