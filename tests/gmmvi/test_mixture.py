import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, MultivariateNormal, Normal

from ovis.gmmvi.mixture import GaussianMixture, gaussian_log_densities


def random_mixture(K, D, diagonal, seed=0):
    g = torch.Generator().manual_seed(seed)
    lw = torch.randn(K, generator=g, dtype=torch.float64)
    means = 3 * torch.randn(K, D, generator=g, dtype=torch.float64)
    if diagonal:
        chols = 0.5 + torch.rand(K, D, generator=g, dtype=torch.float64)
    else:
        A = torch.randn(K, D, D, generator=g, dtype=torch.float64)
        chols = torch.linalg.cholesky(A @ A.transpose(1, 2) + 0.5 * torch.eye(D, dtype=torch.float64))
    return GaussianMixture(lw, means, chols)


def torch_reference(q):
    cat = Categorical(logits=q.log_weights)
    if q.diagonal:
        comp = Independent(Normal(q.means, q.chols), 1)
    else:
        comp = MultivariateNormal(q.means, scale_tril=q.chols)
    return MixtureSameFamily(cat, comp), comp


@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("K,D", [(1, 1), (3, 2), (7, 5)])
def test_log_density_matches_mixture_same_family(diagonal, K, D):
    q = random_mixture(K, D, diagonal, seed=K * 10 + D)
    ref, comp = torch_reference(q)
    x = 4 * torch.randn(50, D, dtype=torch.float64)
    torch.testing.assert_close(q.log_density(x), ref.log_prob(x))
    torch.testing.assert_close(q.component_log_densities(x), comp.log_prob(x.unsqueeze(1)).T)


@pytest.mark.parametrize("diagonal", [False, True])
def test_chunked_component_densities_equal_unchunked(diagonal):
    q = random_mixture(9, 3, diagonal)
    x = torch.randn(40, 3, dtype=torch.float64)
    full = gaussian_log_densities(x, q.means, q.chols, chunk=100)
    for chunk in (1, 2, 4):
        torch.testing.assert_close(gaussian_log_densities(x, q.means, q.chols, chunk=chunk), full)


@pytest.mark.parametrize("diagonal", [False, True])
def test_log_density_grad_matches_autograd(diagonal):
    q = random_mixture(4, 3, diagonal)
    x = torch.randn(20, 3, dtype=torch.float64, requires_grad=True)
    ref, _ = torch_reference(q)
    (g_ref,) = torch.autograd.grad(ref.log_prob(x).sum(), x)
    lp, g, comp = q.log_density_and_grad(x.detach())
    torch.testing.assert_close(g, g_ref)
    torch.testing.assert_close(lp, ref.log_prob(x).detach())


@pytest.mark.parametrize("diagonal", [False, True])
def test_sampling_moments(diagonal):
    torch.manual_seed(0)
    q = random_mixture(2, 2, diagonal)
    x, mapping = q.sample_from_components(torch.tensor([20000, 30000]))
    assert (mapping[:20000] == 0).all() and (mapping[20000:] == 1).all()
    for k, sl in ((0, slice(0, 20000)), (1, slice(20000, None))):
        xs = x[sl]
        torch.testing.assert_close(xs.mean(0), q.means[k], atol=0.06, rtol=0)
        cov = q.covs[k] if not diagonal else torch.diag(q.covs[k])
        torch.testing.assert_close(torch.cov(xs.T), cov, atol=0.12, rtol=0.05)
    y, m = q.sample(40000)
    torch.testing.assert_close(torch.bincount(m, minlength=2).double() / 40000., q.weights, atol=0.01, rtol=0)


def test_entropy_matches_torch():
    q = random_mixture(3, 4, False)
    torch.testing.assert_close(q.component_entropies(), MultivariateNormal(q.means, scale_tril=q.chols).entropy())


def test_add_and_remove_components_keep_bookkeeping_aligned():
    q = GaussianMixture.from_init(2, 3, 0.0, 1.0, initial_cov=1.0, max_reward_history_length=6)
    q.add_component(0.5, torch.ones(2, dtype=torch.float64), 2 * torch.eye(2, dtype=torch.float64), 50.0, 1.0)
    assert q.num_components == 4
    assert q.unique_component_ids.tolist() == [0, 1, 2, 3]
    assert torch.isclose(q.weights.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(q.covs[3], 2 * torch.eye(2, dtype=torch.float64))
    q.remove_components(torch.tensor([2, 0]))
    assert q.unique_component_ids.tolist() == [1, 3]
    for name in GaussianMixture._bookkeeping:
        assert getattr(q, name).shape[0] == 2, name
    assert q.reward_history.shape == (2, 6)
    torch.testing.assert_close(q.means[1], torch.ones(2, dtype=torch.float64))


def test_state_dict_round_trip():
    q = random_mixture(3, 2, False)
    r = random_mixture(3, 2, False, seed=5)
    r.load_state_dict(q.state_dict())
    x = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(r.log_density(x), q.log_density(x))


def test_bad_shapes_are_rejected():
    with pytest.raises(ValueError, match="inconsistent shapes"):
        GaussianMixture(torch.zeros(2), torch.zeros(3, 2), torch.ones(3, 2))


def test_remembered_log_densities_are_used_only_for_the_same_samples_and_components():
    torch.manual_seed(0)
    q = GaussianMixture.from_init(2, 3, 0.0, 1.0, initial_cov=1.0)
    x, _ = q.sample(7)
    fake = torch.zeros(3, 7, dtype=torch.float64)
    q.remember_log_densities(x, fake)
    assert q.component_log_densities(x) is fake
    assert not torch.equal(q.component_log_densities(x.clone()), fake)      # another tensor: computed
    q.replace_components(q.means + 1.0, q.chols)                            # an update: forgotten
    torch.testing.assert_close(q.component_log_densities(x),
                               torch.stack([torch.distributions.MultivariateNormal(m, scale_tril=L).log_prob(x)
                                            for m, L in zip(q.means, q.chols)]))
    with pytest.raises(ValueError, match="expected log-densities of shape"):
        q.remember_log_densities(x, torch.zeros(2, 7, dtype=torch.float64))
