import math

import torch

from ovis.gmmvi.choices import COMPONENT_ADAPTERS
from ovis.gmmvi.mixture import HISTORY_SENTINEL, GaussianMixture
from ovis.gmmvi.sample_db import SampleDB


def setup():
    q = GaussianMixture.from_init(2, 2, 0.0, 1.0, initial_cov=1.0, max_reward_history_length=20)
    q.means = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)
    db = SampleDB(2, False)
    return q, db


def test_add_component_at_highest_reward_with_entropy_between_model_and_prior():
    torch.manual_seed(0)
    q, db = setup()
    x = torch.tensor([[0.0, 0.0], [8.0, 8.0], [1.0, 0.0]], dtype=torch.float64)
    lp = torch.tensor([0.0, -3.0, 0.0], dtype=torch.float64)    # (8, 8): low q, decent target -> best reward
    db.add_samples(x, q.means, q.chols, lp, torch.zeros_like(x), torch.tensor([0, 0, 1]))
    ad = COMPONENT_ADAPTERS.build("A", q, db, None, 0.0, 100.0, add_iters=2, del_iters=5,
                                  thresholds_for_add_heuristic=[1000.0])
    H_model, H_prior = float(q.average_entropy()), float(ad.prior_entropy())
    ad.adapt_number_of_components(2)
    assert q.num_components == 3
    torch.testing.assert_close(q.means[2], torch.tensor([8.0, 8.0], dtype=torch.float64))
    assert math.isclose(float(q.weights[2]), 1e-29 / (1 + 1e-29), rel_tol=1e-6)
    H_new = float(q.component_entropies()[2])
    assert min(H_model, H_prior) - 1e-9 <= H_new <= max(H_model, H_prior) + 1e-9
    cov = q.covs[2]
    torch.testing.assert_close(cov, cov[0, 0] * torch.eye(2, dtype=torch.float64))
    ad.adapt_number_of_components(3)            # not a multiple of add_iters
    assert q.num_components == 3


def test_delete_stagnating_light_old_components_only():
    q, db = setup()
    q.add_component(1e-29, torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64), 50.0, 1.0)
    ad = COMPONENT_ADAPTERS.build("adaptive", q, db, None, 0.0, 1.0, del_iters=6, add_iters=1000,
                                  min_weight_for_del_heuristic=1e-6)
    # component 0, 1: heavy and improving; component 2: stagnating with a tiny weight and old enough
    t = torch.arange(20, dtype=torch.float64)
    q.reward_history = torch.stack([t, t, torch.full((20,), -50.0, dtype=torch.float64)])
    q.weight_history = torch.stack([torch.full((20,), 0.5), torch.full((20,), 0.5),
                                    torch.full((20,), 1e-29)]).double()
    ad.adapt_number_of_components(7)
    assert q.num_components == 2 and q.unique_component_ids.tolist() == [0, 1]


def test_young_components_are_kept():
    q, db = setup()
    ad = COMPONENT_ADAPTERS.build("A", q, db, None, 0.0, 1.0, del_iters=6, add_iters=1000)
    q.reward_history = torch.full((2, 20), HISTORY_SENTINEL, dtype=torch.float64)
    q.reward_history[:, -3:] = -50.0
    q.weight_history = torch.full((2, 20), 1e-29, dtype=torch.float64)
    ad.adapt_number_of_components(7)
    assert q.num_components == 2


def test_fixed_never_changes():
    q, db = setup()
    ad = COMPONENT_ADAPTERS.build("E", q, db, None, None, None)
    for it in range(1, 200):
        ad.adapt_number_of_components(it)
    assert q.num_components == 2
