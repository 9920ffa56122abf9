"""ovis.analysis.asymptotic_cli: the asymptotic-variance command line (points, slopes, figure, resume)."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_command_line_writes_points_slopes_and_figure(tmp_path):
    out = tmp_path / "av"
    cmd = [sys.executable, os.path.join(ROOT, "asymptotic_variance.py"), "--estimators", "pathwise-iwae,ovis-gamma0",
           "--Ks", "3,6,12", "--samples", "5", "--points", "8", "--D", "3", "--out", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = (out / "points.jsonl").read_text().splitlines()
    assert len(lines) == 6 and {json.loads(l)["estimator"] for l in lines} == {"pathwise-iwae", "ovis-gamma0"}
    assert "| pathwise-iwae |" in (out / "slopes.md").read_text()
    assert (out / "snr.png").stat().st_size > 1000
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)  # resumes: no new points
    assert again.returncode == 0 and len((out / "points.jsonl").read_text().splitlines()) == 6
    bad = subprocess.run(cmd[:2] + ["--estimators", "ovis-gamma1e400"], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode != 0
