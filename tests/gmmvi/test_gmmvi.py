import os
import random
import time

import pytest
import torch

from ovis.gmmvi import GMMVI, all_codewords, default_algorithm_config, merge
from ovis.gmmvi.targets import GaussianMixtureTarget

MEANS = torch.tensor([[-4.0, -4.0], [-4.0, 4.0], [4.0, -4.0], [4.0, 4.0]], dtype=torch.float64)
COVS = torch.stack([torch.tensor([[1.0, 0.5], [0.5, 1.0]]), torch.tensor([[0.5, 0.0], [0.0, 1.5]]),
                    torch.tensor([[1.0, -0.6], [-0.6, 1.0]]), 0.7 * torch.eye(2)]).double()


def four_modes():
    return GaussianMixtureTarget(torch.full((4,), 0.25), MEANS, COVS)


def init(K=8, diagonal=False):
    return {"model_initialization": dict(num_initial_components=K, prior_mean=0.0, prior_scale=5.0,
                                         initial_cov=1.0, use_diagonal_covs=diagonal)}


@pytest.mark.parametrize("codeword", ["SAMTRON", "ZAMTRUX"])
def test_full_covariance_gmm_finds_all_four_modes(codeword):
    torch.manual_seed(0)
    cfg = merge(default_algorithm_config(codeword), init(6))
    cfg["sample_selector_config"].update(desired_samples_per_component=50, ratio_reused_samples_to_desired=1.0)
    g = GMMVI.build_from_config(cfg, four_modes())
    for _ in range(60):
        g.train_iter()
    q = g.model
    nearest = torch.cdist(MEANS, q.means).argmin(1)
    # every mode has its own component with about a quarter of the weight ...
    assert len(set(nearest.tolist())) == 4
    assert (torch.cdist(MEANS, q.means).min(1).values < 0.3).all()
    torch.testing.assert_close(q.weights[nearest], torch.full((4,), 0.25, dtype=torch.float64), atol=0.05, rtol=0)
    # ... and the fit is close to exact: -ELBO = KL(q || p) (log Z = 0)
    assert -g.elbo(20000)["elbo"] < 0.05


def test_codeword_and_descriptive_type_strings_build_the_same():
    cfg = default_algorithm_config("SAMTRON")
    letters = dict(cfg, **{k: l for k, l in zip([k for k in cfg if k.endswith("_type")], "SAMTRON")})
    t = four_modes()
    runs = []
    for c in (cfg, letters):
        torch.manual_seed(0)
        g = GMMVI.build_from_config(merge(c, init()), t)
        for _ in range(3):
            g.train_iter()
        runs.append(g)
    torch.testing.assert_close(runs[0].model.means, runs[1].model.means)


def test_unknown_keys_and_options_are_errors():
    cfg = merge(default_algorithm_config("SAMTRON"), init())
    with pytest.raises(ValueError, match="unknown GMMVI configuration key"):
        GMMVI.build_from_config(dict(cfg, temprature=1.0), four_modes())
    bad = merge(cfg, {"sample_selector_config": {"desired_samples": 3}})
    with pytest.raises(ValueError, match="unknown option.*desired_samples"):
        GMMVI.build_from_config(bad, four_modes())
    with pytest.raises(ValueError, match="unknown sample selector 'component'"):
        GMMVI.build_from_config(dict(cfg, sample_selector_type="component"), four_modes())


def test_state_dict_resume_continues_identically():
    cfg = merge(default_algorithm_config("SAMTRON"), init(4))
    cfg["num_component_adapter_config"].update(add_iters=3, del_iters=4)
    torch.manual_seed(0)
    a = GMMVI.build_from_config(cfg, four_modes())
    for _ in range(6):
        a.train_iter()
    b = GMMVI.build_from_config(cfg, four_modes())
    state, rng = a.state_dict(), torch.get_rng_state()
    b.load_state_dict(state)
    for _ in range(6):
        a.train_iter()
    torch.set_rng_state(rng)
    for _ in range(6):
        b.train_iter()
    torch.testing.assert_close(a.model.means, b.model.means)
    torch.testing.assert_close(a.model.log_weights, b.model.log_weights)
    assert a.num_target_evaluations == b.num_target_evaluations


def test_callable_target_needs_dimensions():
    cfg = merge(default_algorithm_config("SAMTRON"), init(1))
    with pytest.raises(ValueError, match="num_dimensions"):
        GMMVI.build_from_config(cfg, lambda x: -x.pow(2).sum(-1))
    g = GMMVI.build_from_config(cfg, lambda x: -x.pow(2).sum(-1), num_dimensions=3)
    g.train_iter()
    assert g.model.num_dimensions == 3


# ---------------------------------------------------------------------- all 432 code words
CODEWORDS = all_codewords()
RUN_ALL = os.environ.get("OVIS_GMMVI_ALL_CODEWORDS", "") not in ("", "0")
SELECTED = CODEWORDS if RUN_ALL else sorted(random.Random(14).sample(CODEWORDS, 24))


def small_config(codeword, diagonal):
    cfg = merge(default_algorithm_config(codeword), init(3, diagonal))
    cfg["sample_selector_config"]["desired_samples_per_component"] = 40
    cfg["num_component_adapter_config"] = {k: v for k, v in cfg["num_component_adapter_config"].items()}
    if codeword[1] == "A":
        cfg["num_component_adapter_config"].update(add_iters=5, del_iters=6, num_database_samples=500)
    return cfg


@pytest.mark.parametrize("codeword", SELECTED)
def test_codeword_runs_20_iterations_with_finite_elbo(codeword):
    torch.manual_seed(0)
    diagonal = CODEWORDS.index(codeword) % 2 == 1
    g = GMMVI.build_from_config(small_config(codeword, diagonal), four_modes())
    for _ in range(20):
        g.train_iter()
    elbo = g.elbo(500)["elbo"]
    assert torch.isfinite(torch.tensor(elbo)), codeword
    assert torch.isfinite(g.model.means).all() and torch.isfinite(g.model.chols).all()
    assert torch.isclose(g.model.weights.sum(), torch.tensor(1.0, dtype=torch.float64))
