"""The flow examples run end to end at a reduced size and save their figure and numbers."""
from __future__ import annotations

import importlib.util
import json
import math
import pathlib

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("trace", ["exact", "hutchinson"])
def test_ffjord_moons_quick(tmp_path, trace):
    result = _load("ffjord_moons").main(["--steps", "2", "--trace", trace, "--test_size", "256", "--resolution", "40",
                                        "--out", str(tmp_path)])
    tag = "" if trace == "exact" else "_hutchinson"
    assert (tmp_path / f"ffjord_moons{tag}.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / f"ffjord_moons{tag}.json").read_text())
    assert saved["steps"] == 2 and math.isfinite(saved["test_nll"]) and result["test_nll"] == saved["test_nll"]


def test_bijector_gmm_quick(tmp_path):
    result = _load("bijector_gmm").main(["--steps", "30", "--out", str(tmp_path)])
    assert (tmp_path / "bijector_gmm.png").stat().st_size > 10_000
    assert result["steps"] == 30 and result["valid_nll"] < result["initial_valid_nll"]


def test_tfp_benchmark_skips_cleanly_without_tfp(tmp_path):
    import subprocess
    import sys
    script = EXAMPLES.parent / "benchmarks" / "ffjord_vs_tfp.py"
    out = subprocess.run([sys.executable, str(script), "--tfp_python", str(tmp_path / "no-python")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("skipped: no TensorFlow Probability environment")
