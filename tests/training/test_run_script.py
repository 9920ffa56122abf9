"""``python run.py`` on the embedded digits data with the project's SBN (few steps)."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_run_py_digits_sbn(tmp_path):
    cmd = [sys.executable, str(ROOT / "run.py"), "--dataset", "digits", "--model", "sbn", "--estimator", "ovis-gamma1",
           "--iw", "16", "--nsteps", "45", "--eval_freq", "1", "--iw_valid", "10", "--iw_test", "50",
           "--max_eval", "100", "--grad_samples", "5", "--threads", "1", "--silent", "--root", str(tmp_path),
           "--exp", "digits", "--id", "sbn"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = tmp_path / "digits" / "sbn"
    assert json.loads((run_dir / "status.json").read_text())["status"] == "success"
    assert json.loads((run_dir / "config.json").read_text())["model"] == "sbn"
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    # 1297 digits / 32 = 41 steps per epoch: evaluations after epoch 1 and at step 45
    assert [(r["step"], r["split"]) for r in records] == [(s, p) for s in (0, 41, 45) for p in ("train", "valid", "test")]
    assert -60 < records[-1]["loss/L_k"] < 0
    assert (run_dir / "checkpoint.pt").exists() and list(run_dir.glob("events.out.tfevents.*"))
