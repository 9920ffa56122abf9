"""benchmarks/final_likelihood.py: a finished run's test L_K from its checkpoint, against the exact
log-likelihood of the Gaussian mixture toy (a sum over its 20 components)."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
from torch.distributions import Normal

from ovis.models.gmm_toy import component_means
from ovis.runs import load_checkpoint
from ovis.training import factory, parse_args, run, run_directory
from ovis.training.arguments import config_from_args
from ovis.training.data import eval_indices, fetch

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("final_likelihood", ROOT / "benchmarks" / "final_likelihood.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_large_k_bound_of_a_finished_run_matches_the_exact_log_likelihood(tmp_path):
    args = parse_args(["--dataset", "gmm-toy", "--model", "gmm-toy", "--estimator", "reinforce", "--iw", "5",
                       "--bs", "50", "--lr", "0.1", "--nsteps", "30", "--eval_freq", "0", "--max_eval", "40",
                       "--iw_valid", "4", "--iw_test", "4", "--grad_samples", "0",
                       "--threads", "1", "--silent", "--root", str(tmp_path)])
    assert run(args) == 0
    path = run_directory(config_from_args(args))
    result = _script().evaluate_run(path, iw=4000, max_eval=40, batch_size=20, max_rows=1 << 15, seed=0)

    # exact log p_theta(x) = logsumexp_z log softmax(theta)_z + log N(x; mu_z, 5), with the checkpoint's theta
    logits = load_checkpoint(str(Path(path) / "checkpoint.pt"))["model"]["generative_model.logits"]
    assert not torch.allclose(logits, torch.zeros_like(logits))  # the trained prior, not the initial one
    config = config_from_args(args)
    _, _, test = factory.build_datasets(config)
    x = fetch(test, eval_indices(len(test), 40)).double()
    log_px_z = Normal(component_means(20).double(), 5.0).log_prob(x)  # [n, 20]
    exact = float(torch.logsumexp(torch.log_softmax(logits.double(), -1) + log_px_z, -1).mean())
    untrained = float(torch.logsumexp(torch.log_softmax(torch.zeros(20).double(), -1) + log_px_z, -1).mean())
    assert abs(exact - untrained) > 0.3  # so the comparison below tells the checkpoint from the initial model

    assert result["test_points"] == 40 and result["iw_test"] == 4000 and result["step"] == 30
    assert result["test_L"] == pytest.approx(exact, abs=0.06)  # measured: 0.024 below
    assert math.isfinite(result["seconds"])


def test_a_directory_without_checkpoint_is_refused(tmp_path):
    (tmp_path / "config.json").write_text('{"dataset": "gmm-toy"}')
    with pytest.raises(FileNotFoundError, match="no checkpoint.pt"):
        _script().evaluate_run(str(tmp_path), iw=10, max_eval=5, batch_size=5, max_rows=100, seed=0)
