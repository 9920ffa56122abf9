"""Synthetic run directories with known values, in the format run.py writes."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

DATASETS = ("digits", "fashion")
ESTIMATORS = ("ovis-gamma1", "vimco-arithmetic")
KS = (4, 16)
SEEDS = (1, 2, 3)
STEPS = tuple(range(0, 1001, 100))
SNR_SLOPE = {"ovis-gamma1": 0.5, "vimco-arithmetic": -0.5}
OFFSET = {("ovis-gamma1", 4): 2.0, ("ovis-gamma1", 16): 4.0,
          ("vimco-arithmetic", 4): 1.0, ("vimco-arithmetic", 16): 3.0}
DATA_OFFSET = {"digits": 0.0, "fashion": -20.0}


def lk(dataset: str, estimator: str, iw: int, seed: int, step: int) -> float:
    """test:loss/L_k; increasing in step, so its max is its last value; seed adds 1, 2, 3."""
    return -100.0 + 10.0 * (1 - math.exp(-step / 300)) + OFFSET[estimator, iw] + DATA_OFFSET[dataset] + seed


def snr(estimator: str, iw: int, seed: int) -> float:
    """train:grads/snr = K^slope * (1 + seed/100): the mean over seeds is an exact power law."""
    return iw ** SNR_SLOPE[estimator] * (1 + seed / 100)


def write_run(exp_dir: Path, run_id: str, config: Dict[str, Any], rows: Iterable[Dict[str, Any]], *,
              status: Optional[str] = "success", message: str = "", jsonl: bool = True,
              tensorboard: bool = False) -> Path:
    """One run directory; ``rows`` are metrics.jsonl objects ({"step", "split", "group/name": value})."""
    rows = list(rows)
    run_dir = exp_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config))
    if status is not None:
        step = max((r["step"] for r in rows), default=0)
        (run_dir / "status.json").write_text(json.dumps({"status": status, "message": message, "step": step}))
    if jsonl:
        with open(run_dir / "metrics.jsonl", "w") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(run_dir))
        for row in rows:
            for key, value in row.items():
                if key not in ("step", "split"):
                    writer.add_scalar(f"{row['split']}:{key}", value, row["step"])
        writer.close()
    return run_dir


def run_rows(dataset: str, estimator: str, iw: int, seed: int, steps=STEPS) -> List[Dict[str, Any]]:
    rows = []
    for step in steps:
        rows.append({"step": step, "split": "train", "loss/L_k": lk(dataset, estimator, iw, seed, step) - 1,
                     "grads/snr": snr(estimator, iw, seed)})
        rows.append({"step": step, "split": "test", "loss/L_k": lk(dataset, estimator, iw, seed, step)})
    return rows


def build_experiment(exp_dir: Path) -> Path:
    """2 data sets x 2 estimators x 2 K x 3 seeds, all finished."""
    for dataset in DATASETS:
        for estimator in ESTIMATORS:
            for iw in KS:
                for seed in SEEDS:
                    config = {"dataset": dataset, "estimator": estimator, "iw": iw, "seed": seed,
                              "model": "sbn", "lr": 0.001, "iw_valid": 100, "iw_test": 1000}
                    write_run(exp_dir, f"{dataset}-{estimator}-K{iw}-s{seed}", config,
                              run_rows(dataset, estimator, iw, seed))
    return exp_dir
