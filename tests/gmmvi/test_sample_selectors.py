import pytest
import torch

from ovis.gmmvi.mixture import GaussianMixture
from ovis.gmmvi.sample_db import SampleDB
from ovis.gmmvi.sample_selectors import (ComponentBasedSampleSelector, MixtureBasedSampleSelector,
                                         effective_sample_size)
from ovis.gmmvi.targets import CallableTarget


def setup(K=3):
    torch.manual_seed(0)
    q = GaussianMixture.from_init(2, K, 0.0, 3.0, initial_cov=1.0)
    db = SampleDB(2, False)
    calls = []
    target = CallableTarget(lambda x: (calls.append(x.shape[0]), -0.5 * x.pow(2).sum(1))[1], 2)
    return q, db, target, calls


def test_effective_sample_size():
    assert float(effective_sample_size(torch.zeros(10, dtype=torch.float64),
                                       torch.zeros(10, dtype=torch.float64))) == pytest.approx(10.0)
    lw = torch.tensor([[0.0, -1e9, -1e9], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(effective_sample_size(lw, torch.zeros(3)), torch.tensor([1.0, 3.0]))


def test_component_based_draws_desired_per_component_then_tops_up():
    q, db, target, calls = setup()
    sel = ComponentBasedSampleSelector(target, q, db, desired_samples_per_component=20,
                                       ratio_reused_samples_to_desired=1.0)
    x, mapping, bg, lp, g = sel.select_samples()
    assert x.shape == (60, 2) and db.num_samples_written == 60
    torch.testing.assert_close(lp, -0.5 * x.pow(2).sum(1))
    torch.testing.assert_close(g, -x)                                 # autograd gradient of the target
    assert torch.bincount(mapping - mapping.min()).tolist() == [20, 20, 20]
    # unchanged model: the reused 60 samples give each component an effective size <= 20; top up >= 1 each
    x2, mapping2, bg2, _, _ = sel.select_samples()
    new = db.num_samples_written - 60
    assert 3 <= new <= 60 and x2.shape[0] == 60 + new
    torch.testing.assert_close(bg2, db.get_newest_samples(60 + new)[0])


def test_mixture_based_draws_from_the_mixture_without_gradients():
    q, db, target, calls = setup()
    sel = MixtureBasedSampleSelector(target, q, db, desired_samples_per_component=50)
    sel.requires_gradients = False
    x, mapping, bg, lp, g = sel.select_samples()
    assert x.shape == (50, 2) and (g == 0).all()
    # background = the drawing components, weighted by their share of the samples
    counts = torch.bincount(mapping - mapping.min(), minlength=3).double()
    ref = torch.logsumexp(q.component_log_densities(x) + (counts / 50).log().unsqueeze(1), 0)
    torch.testing.assert_close(bg, ref)
