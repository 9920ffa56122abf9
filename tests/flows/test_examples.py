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


def test_tfp_benchmark_feeds_both_sides_the_same_batches_and_records_a_curve(capsys):
    """One shared permutation per epoch; the ovis side trains on exactly those batches and reports a curve."""
    import sys

    import numpy as np

    sys.path.insert(0, str(EXAMPLES))
    bench = _load_path(EXAMPLES.parent / "benchmarks" / "ffjord_vs_tfp.py")
    orders = bench.batch_order(1, 512, 3)
    assert len(orders) == 3 and all(sorted(o.tolist()) == list(range(512)) for o in orders)
    assert not np.array_equal(orders[0], orders[1])
    np.testing.assert_array_equal(np.concatenate(orders), np.concatenate(bench.batch_order(1, 512, 3)))
    assert bench.eval_epochs(20, 5) == [5, 10, 15, 20] and bench.eval_epochs(7, 3) == [3, 6, 7]
    assert bench.eval_epochs(4, 0) == [4]
    import torch
    threads = torch.get_num_threads()
    try:
        result = bench.run_ovis(2, 1, 256, eval_every=1)
    finally:
        torch.set_num_threads(threads)  # run_ovis pins one thread, as the benchmark's processes do
    assert [e for e, _, _ in result["curve"]] == [1, 2] and result["test_nll"] == result["curve"][-1][1]
    assert len(result["losses"]) == len(result["step_seconds"]) == 2 and len(result["epoch_seconds"]) == 2
    assert np.isfinite(result["test_nll"])
    tfp_like = dict(result, side="tfp", seed=1, versions={"tensorflow": "-"})
    bench.summarize([dict(result, seed=1), tfp_like], 2, 256)
    table = capsys.readouterr().out
    assert "| ovis - TFP (NLL), TFP / ovis (s/epoch) | +0.0000 |" in table and "mean over seeds | +0.0000" in table


def _load_path(path):
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
