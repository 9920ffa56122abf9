import math

import numpy as np
import pytest
import torch

from ovis.gmmvi.targets import (TARGETS, CallableTarget, LogisticRegression, PlanarRobot, as_target,
                                load_logistic_data, make_gmm, make_stm, make_target)


def test_registry_lists_the_paper_targets():
    for name in ("gmm20", "stm20", "breast-cancer", "breast-cancer-mb", "german-credit", "german-credit-mb",
                 "planar-robot-4"):
        assert name in TARGETS
    with pytest.raises(ValueError, match="unknown GMMVI target"):
        make_target("gmm21")


def test_gmm_is_normalized_in_2d():
    t = make_gmm(num_dimensions=2, seed=3)
    g = torch.linspace(-70, 70, 561, dtype=torch.float64)          # step 0.25
    X, Y = torch.meshgrid(g, g, indexing="ij")
    p = t.log_density(torch.stack((X.reshape(-1), Y.reshape(-1)), 1)).exp()
    assert float(p.sum() * 0.25 ** 2) == pytest.approx(1.0, abs=5e-3)
    assert t.log_normalizer == 0.0
    t20 = make_gmm(seed=0)
    assert t20.num_dimensions == 20 and t20.means.shape == (10, 20)
    assert (t20.means.abs() <= 50).all()


def test_stm_matches_scipy():
    from scipy.stats import multivariate_t
    t = make_stm(num_dimensions=3, seed=1)
    x = 10 * torch.randn(7, 3, dtype=torch.float64)
    ref = np.log(sum(w * multivariate_t(loc=m, shape=S, df=2).pdf(x.numpy())
                     for w, m, S in zip(t.log_weights.exp().numpy(), t.means.numpy(), t.scales.numpy())))
    np.testing.assert_allclose(t.log_density(x).numpy(), ref, rtol=1e-10)


def test_gradients_match_finite_differences():
    torch.manual_seed(0)
    for t, scale in ((make_stm(num_dimensions=4), 3.0), (PlanarRobot(5), 0.3), (make_gmm(3, seed=2), 5.0)):
        x = scale * torch.randn(5, t.num_dimensions, dtype=torch.float64)
        lp, g = t.log_density_and_grad(x)
        eps = 1e-6
        for d in range(t.num_dimensions):
            e = torch.zeros_like(x); e[:, d] = eps
            fd = (t.log_density(x + e) - t.log_density(x - e)) / (2 * eps)
            np.testing.assert_allclose(g[:, d].numpy(), fd.numpy(), rtol=1e-5, atol=1e-5)


def test_closed_form_gradients_match_autograd(tmp_path):
    """GMM and full-batch logistic regression compute their gradients in closed form; autograd through
    their log_density (the base class's path) is the independent reference."""
    from ovis.gmmvi.targets import Target
    rng = np.random.default_rng(1)
    write_files(tmp_path, rng)
    bc = make_target("breast-cancer", data_path=str(tmp_path / "breast_cancer.data"))
    torch.manual_seed(0)
    for t, scale in ((make_gmm(4, seed=5), 20.0), (bc, 0.5)):
        x = scale * torch.randn(9, t.num_dimensions, dtype=torch.float64)
        lp, g = t.log_density_and_grad(x)
        lp_ref, g_ref = Target.log_density_and_grad(t, x)
        np.testing.assert_allclose(lp.numpy(), lp_ref.numpy(), rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(g.numpy(), g_ref.numpy(), rtol=1e-10, atol=1e-10)
        assert not g.requires_grad


def test_planar_robot_kinematics_and_density():
    r = PlanarRobot(10)
    th = torch.zeros(2, 10, dtype=torch.float64)
    th[1, 0] = math.pi / 2
    torch.testing.assert_close(r.forward_kinematics(th), torch.tensor([[10.0, 0.0], [0.0, 10.0]],
                                                                      dtype=torch.float64))
    # a folded pose, checked against the prior and the best goal's likelihood computed independently
    pose = torch.zeros(1, 10, dtype=torch.float64)
    pose[0, 0] = math.pi / 2
    pose[0, 7], pose[0, 8], pose[0, 9] = math.pi, math.pi, -math.pi
    pos = r.forward_kinematics(pose)
    prior = torch.distributions.Normal(torch.zeros(10, dtype=torch.float64), r.prior_stds).log_prob(pose).sum()
    goal_term = max(float(torch.distributions.MultivariateNormal(g, 1e-4 * torch.eye(2, dtype=torch.float64))
                          .log_prob(pos)) for g in r.goals)
    assert float(r.log_density(pose)) == pytest.approx(float(prior) + goal_term)


def write_files(tmp_path, rng):
    X = rng.normal(3.0, 2.0, (40, 30))
    y = (rng.random(40) < 0.5).astype(float)
    bc = np.hstack((np.arange(40)[:, None], y[:, None], X))
    np.savetxt(tmp_path / "breast_cancer.data", bc)
    G = rng.normal(1.0, 3.0, (30, 24))
    yg = 1 + (rng.random(30) < 0.3)
    np.savetxt(tmp_path / "german.data-numeric", np.hstack((G, yg[:, None])))
    return X, y, G, yg - 1


def reference_log_posterior(X, y, w):
    Z = np.hstack((np.ones((len(X), 1)), X / X.std(0)))
    logits = w @ Z.T
    ll = (y * -np.logaddexp(0, -logits) + (1 - y) * -np.logaddexp(0, logits)).sum(1)
    prior = (-0.5 * (w / 10.0) ** 2 - math.log(10.0) - 0.5 * math.log(2 * math.pi)).sum(1)
    return ll + prior


def test_logistic_regression_files_and_preprocessing(tmp_path):
    rng = np.random.default_rng(0)
    X, y, G, yg = write_files(tmp_path, rng)
    bc = make_target("breast-cancer", data_path=str(tmp_path / "breast_cancer.data"))
    gc = make_target("GermanCredit", data_path=str(tmp_path / "german.data-numeric"))
    assert bc.num_dimensions == 31 and gc.num_dimensions == 25
    w = rng.normal(0, 0.3, (6, 31))
    np.testing.assert_allclose(bc.log_density(torch.tensor(w)).numpy(), reference_log_posterior(X, y, w))
    wg = rng.normal(0, 0.3, (6, 25))
    np.testing.assert_allclose(gc.log_density(torch.tensor(wg)).numpy(), reference_log_posterior(G, yg, wg))
    with pytest.raises(ValueError, match="german.data-numeric"):
        make_target("german-credit")


def test_breast_cancer_from_sklearn():
    X, y = load_logistic_data("breast_cancer")
    assert X.shape == (569, 31) and set(np.unique(y)) == {0.0, 1.0}
    np.testing.assert_allclose(X[:, 0], 1.0)
    np.testing.assert_allclose(X[:, 1:].std(0), 1.0)


@pytest.mark.parametrize("own", [True, False])
def test_minibatch_is_unbiased_for_the_full_batch(tmp_path, own):
    rng = np.random.default_rng(1)
    write_files(tmp_path, rng)
    full = make_target("breast-cancer", data_path=str(tmp_path / "breast_cancer.data"))
    mb = make_target("breast-cancer-mb", data_path=str(tmp_path / "breast_cancer.data"), batch_size=8,
                     use_own_batch_per_sample=own)
    torch.manual_seed(0)
    w = torch.tensor(rng.normal(0, 0.3, (1, 31)))
    exact = full.log_density(w)
    if own:
        # 5 samples get the 5 disjoint batches of one shuffled pass: their mean is the full-batch value
        torch.testing.assert_close(mb.log_density(w.expand(5, 31)).mean(), exact[0])
    ests = torch.cat([mb.log_density(w) for _ in range(2000)])
    assert float(ests.std()) > 0
    assert float((ests.mean() - exact).abs()) < 4 * float(ests.std()) / math.sqrt(2000)


def test_as_target_wraps_callables():
    t = as_target(lambda x: -x.pow(2).sum(-1), 3)
    assert isinstance(t, CallableTarget)
    lp, g = t.log_density_and_grad(torch.ones(2, 3, dtype=torch.float64))
    torch.testing.assert_close(g, -2 * torch.ones(2, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="callable"):
        as_target(3.0, 3)


def test_stm20_use_matlab_target_false_is_accepted_and_true_is_an_error():
    from ovis.gmmvi.configs import default_experiment_config
    env = default_experiment_config("stm20")["environment_config"]
    assert env["use_matlab_target"] is False
    assert make_target("STM", **env).num_dimensions == 20
    with pytest.raises(ValueError, match="use_matlab_target"):
        make_target("STM", **{**env, "use_matlab_target": True})
