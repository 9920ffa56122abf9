import math

import torch

from ovis.gmmvi.mixture import GaussianMixture
from ovis.gmmvi.sample_db import SampleDB


def brute_background(db, n):
    """Independent reference: loop over the newest samples and their Gaussians."""
    start = max(0, len(db) - n)
    maps = db.mapping[start:].tolist()
    ids = sorted(set(maps))
    out = []
    for x in db.samples[start:]:
        terms = []
        for i in ids:
            w = maps.count(i) / len(maps)
            L = db.chols[i]
            d = torch.distributions.MultivariateNormal(db.means[i], scale_tril=L) if L.dim() == 2 else \
                torch.distributions.Independent(torch.distributions.Normal(db.means[i], L), 1)
            terms.append(math.log(w) + float(d.log_prob(x)))
        out.append(float(torch.logsumexp(torch.tensor(terms), 0)))
    return torch.tensor(out, dtype=torch.float64)


def fill(db, diagonal, rounds=3):
    torch.manual_seed(0)
    for r in range(rounds):
        q = GaussianMixture.from_init(2, 3, float(r), 2.0, use_diagonal_covs=diagonal, initial_cov=1.0 + r)
        x, m = q.sample_from_components(torch.tensor([2, 3, 4]))
        db.add_samples(x, q.means, q.chols, -x.pow(2).sum(1), -2 * x, m)


def test_newest_samples_background_matches_brute_force():
    for diagonal in (False, True):
        db = SampleDB(2, diagonal, keep_samples=True)
        fill(db, diagonal)
        assert len(db) == 27 and db.num_samples_written == 27 and db.means.shape[0] == 9
        for n in (5, 9, 20, 100):
            bg, x, m, lp, g = db.get_newest_samples(n)
            assert x.shape[0] == min(n, 27)
            torch.testing.assert_close(bg, brute_background(db, n))
            torch.testing.assert_close(lp, -x.pow(2).sum(1))
            torch.testing.assert_close(db.means[m].shape, x.shape)


def test_max_samples_thins_every_second_sample_and_keeps_gaussians_consistent():
    db = SampleDB(2, False, keep_samples=True, max_samples=20)
    fill(db, False, rounds=2)
    assert len(db) == 18
    x_before, maps = db.samples.clone(), db.mapping.clone()
    means_before = db.means[maps].clone()
    fill(db, False, rounds=1)        # 18 + 9 > 20: keep every second one first
    assert len(db) == 9 + 9
    torch.testing.assert_close(db.samples[:9], x_before[::2])
    torch.testing.assert_close(db.means[db.mapping[:9]], means_before[::2])
    assert db.num_samples_written == 27


def test_without_keep_samples_only_the_last_batch_is_kept():
    db = SampleDB(2, False, keep_samples=False)
    fill(db, False, rounds=2)
    assert len(db) == 9 and db.means.shape[0] == 3 and db.num_samples_written == 18


def test_empty_db_and_random_sample():
    db = SampleDB(3, False)
    bg, x, m, lp, g = db.get_newest_samples(10)
    assert x.shape == (0, 3) and bg.shape == (0,)
    fill(SampleDB(2, False), False)
    db = SampleDB(2, False)
    fill(db, False)
    s, lp = db.get_random_sample(5)
    assert s.shape == (5, 2)
    torch.testing.assert_close(lp, -s.pow(2).sum(1))


def test_state_dict_round_trip():
    db = SampleDB(2, False)
    fill(db, False)
    other = SampleDB(2, False)
    other.load_state_dict(db.state_dict())
    torch.testing.assert_close(other.get_newest_samples(10)[0], db.get_newest_samples(10)[0])
    assert other.num_samples_written == 27


def brute_component_log_densities(db, x, gaussians):
    rows = []
    for i in gaussians:
        L = db.chols[i]
        d = torch.distributions.MultivariateNormal(db.means[i], scale_tril=L) if L.dim() == 2 else \
            torch.distributions.Independent(torch.distributions.Normal(db.means[i], L), 1)
        rows.append(d.log_prob(x))
    return torch.stack(rows)


def test_cached_backgrounds_over_interleaved_adds_and_windows():
    """The GMMVI pattern (a window of reused samples, new samples added, a larger window), also
    across thinning and with the cache disabled, against the brute-force background."""
    for diagonal in (False, True):
        for max_cache in (SampleDB.max_cache_numbers, 0):
            db = SampleDB(2, diagonal, keep_samples=True, max_samples=30)
            db.max_cache_numbers = max_cache
            torch.manual_seed(1)
            for r in range(8):
                bg, x, _, _, _ = db.get_newest_samples(12)
                torch.testing.assert_close(bg, brute_background(db, 12))
                q = GaussianMixture.from_init(2, 3, 0.3 * r, 2.0, use_diagonal_covs=diagonal, initial_cov=1.0 + r)
                x, m = q.sample_from_components(torch.tensor([2, 3, 1 + r % 3]))
                db.add_samples(x, q.means, q.chols, -x.pow(2).sum(1), -2 * x, m)
                n = 12 + x.shape[0]
                bg, x, _, _, _ = db.get_newest_samples(n)
                torch.testing.assert_close(bg, brute_background(db, n))
                comp = db.newest_gaussians_log_densities(3)                 # the Gaussians just added
                if max_cache:
                    torch.testing.assert_close(comp, brute_component_log_densities(db, x, range(len(db.means) - 3,
                                                                                             len(db.means))))
                else:
                    assert comp is None
                bg, _, _, _, _ = db.get_newest_samples(5)                    # a smaller window in between
                torch.testing.assert_close(bg, brute_background(db, 5))
            assert db.num_samples_written > len(db)                         # thinning happened


def test_newest_gaussians_log_densities_is_forgotten_after_an_add():
    db = SampleDB(2, False, keep_samples=True)
    fill(db, False, rounds=2)
    db.get_newest_samples(9)
    assert db.newest_gaussians_log_densities(3) is not None
    fill(db, False, rounds=1)
    assert db.newest_gaussians_log_densities(3) is None
