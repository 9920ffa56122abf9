"""``ovis report`` / ``python report.py``: flags, exit codes, messages."""
import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from ovis.cli import main
from ovis.reporting.aggregate import PivotSpec
from ovis.reporting.cli import add_arguments, config_from_args, parse_ylims

REPO = Path(__file__).resolve().parents[2]


def _args(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_flags_to_config():
    cfg = config_from_args(_args(
        "--exp", "mini", "--keys", "dataset, estimator,iw", "--metrics", "test:loss/L_k,train:grads/snr",
        "--pivot_metrics", "max:test:loss/L_k,avg:train:grads/snr", "--include", "ovis,vimco", "--include", "iw=16",
        "--exclude", "gamma0", "--ylims", "test:loss/L_k:-100:-80", "--ylims", "max:test:loss/L_k::-85,train:grads/snr:0.1:",
        "--error", "sem", "--downsample", "50", "--only_finished"))
    assert cfg.exp_dir == Path("runs/mini") and cfg.out == Path("reports/mini")
    assert list(cfg.keys) == ["dataset", "estimator", "iw"]
    assert cfg.metrics == ["test:loss/L_k", "train:grads/snr"]
    assert cfg.pivot_metrics == [PivotSpec("max", "test:loss/L_k"), PivotSpec("mean", "train:grads/snr")]
    assert cfg.include == [["ovis", "vimco"], ["iw=16"]] and cfg.exclude == ["gamma0"]
    assert cfg.ylims == {"test:loss/L_k": (-100.0, -80.0), "max:test:loss/L_k": (None, -85.0),
                         "train:grads/snr": (0.1, None)}
    assert cfg.error == "sem" and cfg.downsample == 50 and cfg.only_finished


def test_root_alone_is_the_experiment():
    cfg = config_from_args(_args("--root", "somewhere/exp1", "--out", "o"))
    assert cfg.exp_dir == Path("somewhere/exp1") and cfg.out == Path("o")


@pytest.mark.parametrize("item", ["test:loss/L_k:-100", "loss/L_k:1:2", "test:loss/L_k:a:b"])
def test_bad_ylims(item):
    with pytest.raises(ValueError, match="--ylims"):
        parse_ylims([item])


def test_exit_codes(experiment_dir, tmp_path, capsys):
    root, exp = str(experiment_dir.parent), experiment_dir.name
    out = tmp_path / "out"
    assert main(["report", "--root", root, "--exp", exp, "--metrics", "test:loss/L_k", "--out", str(out),
                 "--formats", "png"]) == 0
    assert (out / "curves" / "test-loss-L_k.png").is_file() and not (out / "curves" / "test-loss-L_k.pdf").exists()
    assert main(["report", "--root", root, "--exp", exp, "--metrics", "loss/L_k"]) == 2
    assert "not of the form 'split:group/name'" in capsys.readouterr().err
    assert main(["report", "--root", root, "--exp", exp, "--metrics", "test:loss/L_k", "--include", "zzz",
                 "--out", str(tmp_path / "o2")]) == 1
    assert "no run selected" in capsys.readouterr().err
    assert main(["report", "--root", str(tmp_path), "--exp", "missing"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_report_script(experiment_dir, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, str(REPO / "report.py"), "--root", str(experiment_dir.parent), "--exp", experiment_dir.name,
         "--keys", "dataset,estimator,iw", "--pivot_metrics", "max:test:loss/L_k", "--out", str(out),
         "--formats", "png"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "report: 24 run(s) read" in proc.stderr
    assert (out / "pivot.md").is_file() and (out / "pivot" / "max-test-loss-L_k.png").is_file()
    help_text = subprocess.run([sys.executable, str(REPO / "report.py"), "--help"], capture_output=True,
                               text=True, cwd=tmp_path, timeout=120).stdout
    assert "usage: report.py" in help_text and "--pivot_metrics" in help_text


@pytest.mark.parametrize("flags,message", [
    (["--metrics", "test:loss/Lk"], "report: --metrics: metric 'test:loss/Lk' matches no selected run "
                                    "(did you mean test:loss/L_k"),
    (["--metrics", "test:loss/L_k", "--keys", "estimator,seeed"],
     "report: --keys: key 'seeed' matches no selected run (did you mean seed?)"),
])
def test_report_py_with_a_misspelt_metric_or_key_exits_2_and_writes_nothing(experiment_dir, tmp_path, flags, message):
    out = tmp_path / "report"
    cmd = [sys.executable, str(REPO / "report.py"), "--root", str(experiment_dir), "--out", str(out), *flags]
    proc = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[0].startswith(message), proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
