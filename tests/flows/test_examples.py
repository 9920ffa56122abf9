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


def test_tfp_benchmark_maps_the_tutorial_weights_exactly():
    """ovis' state derivatives after ``load_tutorial_weights`` are TFP's inverse dynamics ``-f(1 - s, z)``.

    The reference evaluates the tutorial's ``MLP_ODE`` (input ``[t, t, z]``) from the raw weights with
    numpy; zuko applies TFP's last bijector first.
    """
    import sys

    import numpy as np
    import torch

    sys.path.insert(0, str(EXAMPLES))
    bench = _load_path(EXAMPLES.parent / "benchmarks" / "ffjord_vs_tfp.py")
    weights = bench.tutorial_weights(3)
    assert len(weights) == 4 and weights[0][0][0].shape == (4, 8) and not np.any(weights[0][1][0])
    flow = _load("ffjord_moons").make_flow(exact=True)
    bench.load_tutorial_weights(flow, weights)

    def f_tfp(ws, bs, t, z):
        h = np.concatenate([np.full_like(z, t), z], -1)
        for i, (w, b) in enumerate(zip(ws, bs)):
            h = h @ w.astype(np.float64) + b
            if i < len(ws) - 1:
                h = np.tanh(h)
        return h

    rng = np.random.default_rng(0)
    z = rng.standard_normal((7, 2))
    for s in (0.0, 0.3, 1.0):
        for transform, (ws, bs) in zip(flow.transform.transforms, weights[::-1]):
            ours = transform.f(torch.tensor(s), torch.as_tensor(z, dtype=torch.float32)).detach().numpy()
            np.testing.assert_allclose(ours, -f_tfp(ws, bs, 1.0 - s, z), atol=1e-5)


def _load_path(path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
