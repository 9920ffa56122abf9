"""run.py checks its configuration before it writes or loads anything: one line, exit 2, no run
directory (through the command line as a subprocess), and each check of ovis.training.preflight."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ovis.training import parse_args
from ovis.training.arguments import config_from_args
from ovis.training.preflight import ConfigError, check_device, check_run

ROOT = Path(__file__).resolve().parents[2]


def config(*flags):
    return config_from_args(parse_args(list(flags)))


CASES = [  # flags, words of the one-line message
    (["--estimator", "__import__(os)"], ["--estimator '__import__(os)' is invalid", "ovis-gamma{g}"]),
    (["--dataset", "binmnist"], ["missing file(s) binarized_mnist_train.amat", "--download"]),
    (["--model", "gmm-toy"], ["--model gmm-toy needs --dataset gmm-toy"]),
]
if not torch.cuda.is_available():
    CASES.append((["--device", "cuda"], ["CUDA is not available", "--device cpu"]))


@pytest.mark.parametrize("flags,words", CASES, ids=[c[0][1] for c in CASES])
def test_run_py_rejects_a_bad_configuration_in_one_line_and_writes_nothing(tmp_path, flags, words):
    cmd = [sys.executable, str(ROOT / "run.py"), *flags, "--root", str(tmp_path / "runs"),
           "--data_root", str(tmp_path / "data"), "--nsteps", "1"]
    out = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr  # no traceback
    assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "runs").exists() and not (tmp_path / "data").exists()


def test_debug_shows_the_traceback(tmp_path):
    cmd = [sys.executable, str(ROOT / "run.py"), "--estimator", "nope", "--debug", "--root", str(tmp_path)]
    out = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "Traceback" in out.stderr and "ConfigError" in out.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags,words", [
    (["--dataset", "mnsit"], ["--dataset 'mnsit' is unknown", "'mnist'"]),
    (["--model", "vea"], ["--model 'vea' is unknown", "'vae'"]),
    (["--dataset", "gaussian-toy", "--model", "sbn"], ["goes with --model gaussian-toy"]),
    (["--prior", "normal"], ["--prior normal is invalid for --model sbn"]),
    (["--depth", "2", "--model", "vae"], ["--depth 2 is invalid for --model vae"]),
    (["--estimator", "ovis-gamma1e400"], ["not finite"]),
    (["--device", "cuda:x"], ["--device 'cuda:x' is invalid", "cuda:N"]),
    (["--dataset", "omniglot"], ["chardata.mat", "--download"]),
    (["--dataset", "fashion"], ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz", "fashion"]),
])
def test_each_check_names_the_bad_value_and_the_fix(tmp_path, flags, words):
    with pytest.raises(ConfigError) as err:
        check_run(config(*flags, "--data_root", str(tmp_path)))
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


@pytest.mark.parametrize("flags", [[], ["--dataset", "gmm-toy"], ["--dataset", "gaussian-toy", "--N", "3"],
                                   ["--model", "vae", "--prior", "categorical"], ["--device", "cpu"],
                                   ["--estimator", "tvo-part5-config2"]])
def test_valid_configurations_pass(tmp_path, flags):
    check_run(config(*flags, "--data_root", str(tmp_path)))
    assert list(tmp_path.iterdir()) == []


def test_a_device_index_beyond_the_gpus_is_rejected(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    check_device("cuda:1")
    with pytest.raises(ConfigError, match=r"has 2 CUDA device\(s\) \(cuda:0 to cuda:1\)"):
        check_device("cuda:2")
