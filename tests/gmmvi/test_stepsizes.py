import pytest
import torch

from ovis.gmmvi.choices import COMPONENT_STEPSIZES, WEIGHT_STEPSIZES
from ovis.gmmvi.mixture import GaussianMixture


def mixture():
    return GaussianMixture(torch.zeros(3, dtype=torch.float64), torch.zeros(3, 2, dtype=torch.float64),
                           torch.ones(3, 2, dtype=torch.float64), max_reward_history_length=3)


def test_component_rules():
    q = mixture()
    cur = torch.tensor([0.5, 0.5, 0.002], dtype=torch.float64)
    floor = COMPONENT_STEPSIZES.build("R", q, min_stepsize=0.01)
    q.reward_history = torch.zeros(3, 3, dtype=torch.float64)
    assert floor.update_stepsize(cur).tolist() == [0.425, 0.425, 0.01]
    assert torch.equal(COMPONENT_STEPSIZES.build("F", q).update_stepsize(cur), cur)
    q.num_received_updates = torch.tensor([0.0, 1.0, 4.0], dtype=torch.float64)
    d = COMPONENT_STEPSIZES.build("decaying", q, initial_stepsize=2.0, annealing_exponent=0.5)
    torch.testing.assert_close(d.update_stepsize(cur), torch.tensor([2.0, 1.0, 2 / 3], dtype=torch.float64))
    q.reward_history = torch.tensor([[0, 1, 2], [0, 2, 1], [0, 2, 2]], dtype=torch.float64)
    r = COMPONENT_STEPSIZES.build("R", q, min_stepsize=0.001, max_stepsize=0.55)
    torch.testing.assert_close(r.update_stepsize(cur), torch.tensor([0.55, 0.425, 0.0017], dtype=torch.float64))


def test_weight_rules():
    q = mixture()
    assert WEIGHT_STEPSIZES.build("X", q, initial_stepsize=0.3).update_stepsize() == 0.3
    g = WEIGHT_STEPSIZES.build("G", q, initial_stepsize=1.0, annealing_exponent=1.0)
    assert [g.update_stepsize() for _ in range(3)] == [1.0, 0.5, 1 / 3]
    n = WEIGHT_STEPSIZES.build("improvement-based", q, initial_stepsize=0.5)
    q.reward_history[:, -1] = 1.0
    assert n.update_stepsize() == pytest.approx(0.575)       # better than the initial -inf
    assert n.update_stepsize() == pytest.approx(0.575 * 0.85)  # same ELBO: not better
    q.reward_history[:, -1] = 2.0
    assert n.update_stepsize() == pytest.approx(0.575 * 0.85 * 1.15)


def test_bad_values_and_unknown_options():
    q = mixture()
    with pytest.raises(ValueError, match="initial_stepsize must be a positive number"):
        COMPONENT_STEPSIZES.build("F", q, initial_stepsize=-1.0)
    with pytest.raises(Exception, match="unknown option"):
        WEIGHT_STEPSIZES.build("N", q, stepsize_inc=1.2)
