"""Evaluate finished runs of ``run.py`` again, from their checkpoints: the test bound ``L_K`` with a
large K (e.g. the paper's ``L_5000``) on more test points than the runs' own evaluations used.

For each run directory it rebuilds the data and the model from ``config.json`` (the same code path as
``run.py``), loads the model's weights from ``checkpoint.pt`` (the last evaluation of the run) and
averages :func:`ovis.training.evaluation.evaluate_bound` over the test points, with the random seed
``--seed`` (the same particles for every run). Prints one JSON line per run and writes them to
``--out`` (JSON lines) if given; the seconds of each evaluation are included, for planning.

With ``--summarize`` the positional arguments are such JSON-lines files instead, and it prints one
markdown table per experiment (the run directory's parent folder): the test bound's mean +- standard
deviation (ddof = 1) over the seeds of each (estimator, warm-up) per K, with the number of seeds.
A run evaluated twice counts once (its last line).

Usage (shell)::

    python benchmarks/final_likelihood.py runs/sigmoid-belief-network-mini/00001 --iw 5000 --max_eval 0 \\
        --data_root ../shared/data --out reports/sbn-L5000.jsonl
    python benchmarks/final_likelihood.py --summarize reports/sbn-L5000.jsonl
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from typing import Any, Dict, Iterable, List, Tuple

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


def summarize(lines: Iterable[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Mean and standard deviation over seeds of the lines of :func:`evaluate_run`.

    Arguments:
        lines: dictionaries as :func:`evaluate_run` returns them (``path``, ``estimator``, ``K``,
            ``seed``, ``warmup``, ``iw_test``, ``test_points``, ``test_L``); a later line of the
            same ``path`` replaces an earlier one.

    Returns:
        one dictionary per (experiment, iw_test, test_points, estimator, warmup, K), sorted by these:
        the keys and ``mean``, ``sd`` (ddof = 1; NaN for one seed), ``n`` and ``seeds`` (sorted).
        The experiment is the name of the run directory's parent folder.

    Example:
        >>> rows = summarize([{"path": f"/r/sbn/s{s}", "estimator": "vimco", "K": 5, "seed": s, "warmup": 0,
        ...                    "iw_test": 5000, "test_points": 100, "test_L": v} for s, v in [(1, -2.0), (2, -4.0)]])
        >>> [(r["experiment"], r["mean"], round(r["sd"], 4), r["n"], r["seeds"]) for r in rows]
        [('sbn', -3.0, 1.4142, 2, [1, 2])]
    """
    last: Dict[str, Dict[str, Any]] = {}
    for line in lines:
        if "path" not in line:
            raise ValueError(f"line {line!r} has no 'path'; expected a line written by evaluate_run")
        last[os.path.normpath(line["path"])] = line
    groups: Dict[Tuple, List[Dict[str, Any]]] = {}
    for path, line in last.items():
        key = (os.path.basename(os.path.dirname(path)), int(line["iw_test"]), int(line["test_points"]),
               str(line["estimator"]), float(line.get("warmup") or 0), int(line["K"]))
        groups.setdefault(key, []).append(line)
    rows = []
    for key in sorted(groups):
        values = [float(line["test_L"]) for line in groups[key]]
        n = len(values)
        mean = sum(values) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
        names = ("experiment", "iw_test", "test_points", "estimator", "warmup", "K")
        rows.append({**dict(zip(names, key)), "mean": mean, "sd": sd, "n": n,
                     "seeds": sorted(line["seed"] for line in groups[key])})
    return rows


def summary_markdown(rows: List[Dict[str, Any]]) -> str:
    """Markdown tables of :func:`summarize`'s rows: one per experiment (and iw_test, test points),
    one line per (estimator, warm-up steps), one column per K, cells ``mean ± sd (n)``."""
    out: List[str] = []
    tables: Dict[Tuple, List[Dict[str, Any]]] = {}
    for row in rows:
        tables.setdefault((row["experiment"], row["iw_test"], row["test_points"]), []).append(row)
    for (experiment, iw, points), table in tables.items():
        ks = sorted({row["K"] for row in table})
        lines = sorted({(row["estimator"], row["warmup"]) for row in table})
        cells = {(row["estimator"], row["warmup"], row["K"]): row for row in table}
        out += [f"{experiment}: test L_{iw} on {points} test points, mean ± sd over seeds (n seeds)", "",
                "| estimator | warm-up steps | " + " | ".join(f"K = {k}" for k in ks) + " |",
                "|---|---:|" + "---:|" * len(ks)]
        for estimator, warmup in lines:
            row = []
            for k in ks:
                cell = cells.get((estimator, warmup, k))
                if cell is None:
                    row.append("")
                elif cell["n"] == 1:
                    row.append(f"{cell['mean']:.1f} (1)")
                else:
                    row.append(f"{cell['mean']:.1f} ± {cell['sd']:.1f} ({cell['n']})")
            out.append(f"| {estimator} | {warmup:g} | " + " | ".join(row) + " |")
        out.append("")
    return "\n".join(out)


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories of run.py (with config.json and checkpoint.pt); "
                        "with --summarize, JSON-lines files written by --out")
    parser.add_argument("--summarize", action="store_true",
                        help="print mean +- sd over seeds of the JSON-lines files given (markdown tables) and exit")
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
    if args.summarize:
        lines = []
        for name in args.runs:
            with open(name) as f:
                lines += [json.loads(text) for text in f if text.strip()]
        print(summary_markdown(summarize(lines)))
        return 0
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
