import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.games import dirac_gan, tanh_wgan
from gandyn.runs import RunStatistics, run_many
from gandyn.sga import SGAConfig, simulate_sga


def _noisy_growth(key, u):
    # Multiplicative random walk: runs with a large draw blow up past the bound.
    return u * (1.0 + 2.0 * jax.random.normal(key, u.shape))


def _reference(n_runs, n_steps, key, bound):
    """A plain NumPy/Python replay of the same chains, run by run."""
    alive_at = np.zeros(n_steps + 1, dtype=int)
    values = [[] for _ in range(n_steps + 1)]
    for r in range(n_runs):
        rk = jax.random.fold_in(key, r)
        u = np.array([1.0])
        alive = True
        values[0].append(u[0]); alive_at[0] += 1
        for t in range(n_steps):
            new = np.asarray(_noisy_growth(jax.random.fold_in(rk, t), jnp.asarray(u)))
            if alive and np.all(np.isfinite(new)) and np.linalg.norm(new) <= bound:
                u = new
            else:
                alive = False
            if alive:
                values[t + 1].append(u[0]); alive_at[t + 1] += 1
    return np.array([np.mean(v) if v else 0.0 for v in values]), alive_at


def test_divergence_is_counted_and_excluded():
    key = jax.random.key(4)
    stats = run_many(_noisy_growth, jnp.array([1.0]), 6, 40, key, lambda u: u, bound=50.0,
                     chunk_size=16)
    mean_ref, alive_ref = _reference(40, 6, key, 50.0)
    np.testing.assert_array_equal(stats.count, alive_ref)
    np.testing.assert_allclose(stats.mean[:, 0], mean_ref, rtol=1e-10)
    assert stats.n_diverged[-1] > 0


def test_same_seed_same_numbers_and_chunking_does_not_matter():
    game = tanh_wgan(n_latent=8, n_data=8)
    cfg = SGAConfig("sml", 0.2, 4)
    f = lambda u: jnp.stack([u @ u, u[0]])
    a = simulate_sga(game, cfg, 4, 300, jax.random.key(9), f, chunk_size=300)
    b = simulate_sga(game, cfg, 4, 300, jax.random.key(9), f, chunk_size=64)
    c = simulate_sga(game, cfg, 4, 300, jax.random.key(10), f, chunk_size=300)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
    np.testing.assert_allclose(a.variance, b.variance, rtol=1e-9, atol=1e-20)
    assert not np.allclose(a.mean[-1], c.mean[-1])


def test_merge_equals_pooled_statistics():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 2)), rng.normal(size=(11, 2)) + 3
    stat = lambda v: RunStatistics(np.array([0]), v.mean(0)[None], v.var(0, ddof=1)[None],
                                   np.array([len(v)]), len(v))
    merged = stat(x).merge(stat(y))
    pooled = np.vstack([x, y])
    np.testing.assert_allclose(merged.mean[0], pooled.mean(0))
    np.testing.assert_allclose(merged.variance[0], pooled.var(0, ddof=1))


def test_unregularised_dirac_sml_diverges_and_is_reported():
    """Simultaneous GDA on the Dirac-GAN spirals out (Mescheder et al.): a result, not a crash."""
    game = dirac_gan("wgan", theta0=1.0, omega0=1.0)
    stats = simulate_sga(game, SGAConfig("sml", 0.5, 1), 200, 8, jax.random.key(0),
                         lambda u: jnp.atleast_1d(u @ u), bound=100.0)
    assert stats.n_diverged[-1] == 8 and stats.count[-1] == 0


def test_run_many_validates():
    with pytest.raises(ValueError):
        run_many(_noisy_growth, jnp.ones(1), 5, 10, jax.random.key(0), lambda u: u, record_every=2)
    with pytest.raises(ValueError):
        run_many(_noisy_growth, jnp.ones(1), 5, 0, jax.random.key(0), lambda u: u)
