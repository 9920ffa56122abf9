import json
import subprocess
import sys
from pathlib import Path

from ovis.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_ovis_gmmvi_runs_and_resumes(tmp_path, capsys):
    args = ["gmmvi", "--target", "gmm20", "--set", "environment_config.num_dimensions=2",
            "--set", "sample_selector_config.desired_samples_per_component=20", "--iterations", "4",
            "--log-every", "2", "--eval-samples", "50", "--run-dir", str(tmp_path), "--no-progress", "--seed", "2"]
    assert main(args) == 0
    assert "iteration 4: -ELBO" in capsys.readouterr().out
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["sample_selector_config"]["desired_samples_per_component"] == 20
    args[args.index("4")] = "6"
    assert main(args) == 0
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["split"]) for r in rows] == [(s, split) for s in (2, 4, 6) for split in ("train", "eval")]
    assert json.loads((tmp_path / "status.json").read_text())["status"] == "success"
    assert list(tmp_path.glob("events.out.tfevents.*"))


def test_yaml_config_and_errors(tmp_path, capsys):
    cfg = tmp_path / "c.yml"
    cfg.write_text("sample_selector_config:\n  desired_samples_per_component: 10\ntemperature: 1.0\n")
    assert main(["gmmvi", "--target", "gmm20", "--codeword", "ZEPTFUX", "--config", str(cfg), "--set",
                 "environment_config.num_dimensions=2", "--iterations", "2", "--eval-samples", "20",
                 "--run-dir", str(tmp_path / "r"), "--no-progress"]) == 0
    saved = json.loads((tmp_path / "r" / "config.json").read_text())
    assert saved["ng_estimator_type"] == "MORE" and saved["sample_selector_config"][
        "desired_samples_per_component"] == 10


def test_run_gmmvi_entry_point_help():
    out = subprocess.run([sys.executable, str(ROOT / "run_gmmvi.py"), "--help"], capture_output=True, text=True,
                         cwd=ROOT)
    assert out.returncode == 0 and out.stdout.startswith("usage: run_gmmvi.py")
    assert "--codeword" in out.stdout
