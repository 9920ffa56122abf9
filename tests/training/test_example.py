"""example.py runs (a user-defined model, OVIS, gradient statistics) in seconds."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_example_runs():
    proc = subprocess.run([sys.executable, str(ROOT / "example.py")], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("epoch 1:") and "test L_1000" in lines[0]
    assert lines[-1].startswith("gradients of the inference network:") and "snr" in lines[-1]
