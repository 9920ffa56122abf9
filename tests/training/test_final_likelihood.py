"""benchmarks/final_likelihood.py: a finished run's test L_K from its checkpoint, against the exact
log-likelihood of the Gaussian mixture toy (a sum over its 20 components)."""
from __future__ import annotations

import importlib.util
import json
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


def _line(path, estimator, K, seed, value, warmup=0, iw_test=5000, test_points=100):
    return {"run": Path(path).name, "path": path, "estimator": estimator, "K": K, "seed": seed, "warmup": warmup,
            "iw_test": iw_test, "test_points": test_points, "test_L": value, "seconds": 1.0}


def test_summary_is_the_mean_and_sample_sd_over_seeds_per_estimator_warmup_and_k():
    import statistics

    values = {(est, w, K): [-200.0 - K / 10 - 3 * w / 250 - s * (1 + K / 50) for s in (1, 2, 3)]
              for est, w in (("ovis-gamma1", 0), ("ovis-gamma1", 250), ("vimco-arithmetic", 0)) for K in (5, 10, 50)}
    lines = [_line(f"/r/sbn-mini/{est}-w{w}-K{K}-seed{s}", est, K, s, v[s - 1], warmup=w)
             for (est, w, K), v in values.items() for s in (1, 2, 3)]
    lines.append(_line("/r/vae-mini/a-K5-seed1", "ovis-gamma1", 5, 1, -100.0))  # another experiment, same names
    rows = _script().summarize(lines)
    assert len(rows) == 9 + 1
    for row in rows:
        if row["experiment"] == "vae-mini":
            assert row["mean"] == -100.0 and row["n"] == 1 and math.isnan(row["sd"])
            continue
        v = values[(row["estimator"], row["warmup"], row["K"])]
        assert row["n"] == 3 and row["seeds"] == [1, 2, 3]
        assert row["mean"] == pytest.approx(statistics.fmean(v), abs=1e-12)
        assert row["sd"] == pytest.approx(statistics.stdev(v), abs=1e-12)


def test_summary_counts_a_run_evaluated_twice_once_and_refuses_lines_without_path():
    script = _script()
    lines = [_line("/r/sbn/a", "vimco", 5, 1, -10.0), _line("/r/sbn/b", "vimco", 5, 2, -20.0),
             _line("/r/sbn/./a", "vimco", 5, 1, -12.0)]  # the same run again: the last line counts
    (row,) = script.summarize(lines)
    assert row["n"] == 2 and row["mean"] == -16.0 and row["sd"] == pytest.approx(math.sqrt(32.0))
    with pytest.raises(ValueError, match="no 'path'"):
        script.summarize([{"run": "a", "estimator": "vimco", "K": 5, "seed": 1, "test_L": -1.0}])


def test_summarize_command_prints_one_table_per_experiment_with_a_column_per_k(tmp_path, capsys):
    lines = [_line(f"/r/sbn/v{K}-{s}", "vimco-arithmetic", K, s, -200.0 - s) for K in (5, 50) for s in (1, 2, 3)]
    lines += [_line("/r/sbn/o5-1", "ovis-gamma1", 5, 1, -199.04, warmup=250)]
    out = tmp_path / "L.jsonl"
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert _script().main(["--summarize", str(out)]) == 0
    text = capsys.readouterr().out
    assert "sbn: test L_5000 on 100 test points" in text
    assert "| estimator | warm-up steps | K = 5 | K = 50 |" in text
    assert "| ovis-gamma1 | 250 | -199.0 (1) |  |" in text  # one seed: no sd; K = 50 not run: empty
    assert "| vimco-arithmetic | 0 | -202.0 ± 1.0 (3) | -202.0 ± 1.0 (3) |" in text
