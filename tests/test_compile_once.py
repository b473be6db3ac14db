"""Compile once: one program per (scheme or SDE kind, game, shapes), reused across η and calls.

The counts come from JAX's own compilation log, so a change that makes a
learning rate, a step count or a game's identity static again fails here.
"""

import contextlib
import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis import make_test_function
from gandyn.analysis.weak_error import Comparison, monte_carlo_weak_error
from gandyn.games import dirac_gan, linear_quadratic, mlp_gan, tanh_wgan
from gandyn.games.base import with_weight_decay
from gandyn.games.linear_quadratic import make_spec
from gandyn.runs import balanced_chunks, record_capacity, run_many
from gandyn.sga import SGAConfig, simulate_sga


@contextlib.contextmanager
def compilations():
    """Names of the functions XLA compiles inside the block (``jax_log_compiles``)."""
    names: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if message.startswith("Finished XLA compilation of jit("):
                names.append(message.split("jit(", 1)[1].split(")", 1)[0])

    handler = Handler(logging.DEBUG)
    logger = logging.getLogger("jax")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles(True):
            yield names
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _study(game, etas):
    tf = make_test_function("sq-norm", game.d_theta, game.d_omega)
    return monte_carlo_weak_error(game, [Comparison("alt", "alt-sde")], etas, 0.4, 4, tf,
                                  paths=40, seed=3, chunk_size=16)


def test_an_eta_grid_compiles_one_program_per_side():
    game = tanh_wgan(n_latent=6, n_data=6, theta0=0.4, omega0=0.6)
    with compilations() as names:
        _study(game, [0.2, 0.1, 0.05])  # 2, 4 and 8 steps, 4 to 20 sub-steps, 3 chunks each
    assert names.count("_run_chunk") == 2  # one SGA program, one SDE program


def test_a_rebuilt_game_reuses_every_compilation():
    """What the CLI and the report do: the game is built again from its config."""
    first = _study(tanh_wgan(n_latent=6, n_data=6, theta0=0.4, omega0=0.6), [0.2, 0.1])
    with compilations() as names:
        second = _study(tanh_wgan(n_latent=6, n_data=6, theta0=0.4, omega0=0.6), [0.2, 0.1])
    assert "_run_chunk" not in names
    assert first[0].to_json() == second[0].to_json()


@pytest.mark.parametrize("build", [
    lambda **kw: tanh_wgan(n_latent=5, n_data=5, **kw),
    lambda **kw: dirac_gan("non-saturating", reg=0.1, data_std=0.2, n_data=4, **kw),
    lambda **kw: with_weight_decay(tanh_wgan(n_latent=5, n_data=5, **kw), 0.1),
    lambda **kw: linear_quadratic(make_spec([[0.5]], [[1.0]], [[0.5]], [[0.3]], [[0.2]],
                                              [kw["theta0"]], [kw["omega0"]])),
    lambda **kw: mlp_gan(np.ones((8, 2)), hidden=4, depth=1, loss="wgan-gp", n_latent=4,
                         n_penalty=4, seed=int(10 * kw["theta0"])).game,
])
def test_equal_games_are_one_program_and_different_losses_are_not(build):
    a, b, c = build(theta0=0.3, omega0=0.2), build(theta0=0.3, omega0=0.2), build(theta0=0.7, omega0=0.1)
    # Losses are static: equal constructions give equal tree structures (one compilation);
    # the start point and the data are arrays (traced), so they may differ.
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(c)


def test_games_whose_functions_differ_are_different_programs():
    def structure(game):
        return jax.tree_util.tree_structure(game)

    assert structure(dirac_gan("vanilla", reg=0.1)) != structure(dirac_gan("vanilla", reg=0.2))
    assert structure(dirac_gan("vanilla")) != structure(dirac_gan("wgan"))
    lq = lambda a: linear_quadratic(make_spec([[a]], [[1.0]], [[0.5]], [[0.3]], [[0.2]], [1.0], [1.0]))
    assert structure(lq(0.5)) != structure(lq(0.6))
    mlp = lambda hidden, loss: mlp_gan(np.ones((8, 2)), hidden=hidden, depth=1, loss=loss,
                                       n_latent=4).game
    assert structure(mlp(4, "vanilla")) != structure(mlp(5, "vanilla"))
    assert structure(mlp(4, "vanilla")) != structure(mlp(4, "wgan"))
    assert structure(with_weight_decay(tanh_wgan(), 0.1)) != structure(with_weight_decay(tanh_wgan(), 0.2))


def test_learning_rates_and_step_counts_share_a_program_and_keep_their_numbers():
    game = tanh_wgan(n_latent=6, n_data=6, theta0=0.4, omega0=0.6)
    f = make_test_function("sq-norm", 1, 1)
    key = jax.random.key(0)
    simulate_sga(game, SGAConfig("sml", 0.3, 4), 4, 32, key, f)
    with compilations() as names:
        stats = simulate_sga(game, SGAConfig("sml", 0.1, 4), 7, 32, key, f)
    assert "_run_chunk" not in names  # 7 records fit the same 8-row buffer as 4
    # The traced η gives the numbers of an explicit loop with η = 0.1.
    from gandyn.sga import sga_step

    u = jnp.broadcast_to(game.u0, (32, game.dim))
    keys = jax.vmap(lambda r: jax.random.fold_in(key, r))(jnp.arange(32, dtype=jnp.uint32))
    cfg = SGAConfig("sml", 0.1, 4)
    for t in range(7):
        u = jax.vmap(lambda k, v: sga_step(game, cfg, jax.random.fold_in(k, t), v))(keys, u)
    np.testing.assert_allclose(stats.mean[-1, 0], np.mean(np.sum(np.asarray(u, float) ** 2, 1)),
                               rtol=1e-5)


def test_balanced_chunks_cover_every_run_with_little_padding():
    for n_runs in [1, 7, 31, 33, 100, 1000, 8193, 10_000, 40_000]:
        for chunk in [1, 16, 100, 8192]:
            n, size = balanced_chunks(n_runs, chunk)
            assert n * size >= n_runs and (n - 1) * size < n_runs  # no empty chunk
            assert size <= min(chunk, n_runs)  # the memory limit holds
            assert n * size - n_runs < n * 32
    assert balanced_chunks(10_000, 8192) == (2, 5024)  # 10 048 runs computed, not 16 384
    assert record_capacity(0) == 1 and record_capacity(7) == 8 and record_capacity(8) == 16


def test_statistics_do_not_depend_on_the_chunking():
    game = tanh_wgan(n_latent=6, n_data=6, theta0=0.4, omega0=0.6)
    f = make_test_function("sq-norm", 1, 1)
    step = lambda k, u: u + 0.1 * jax.random.normal(k, u.shape)
    a = run_many(step, game.u0, 5, 100, jax.random.key(2), f, chunk_size=100)
    b = run_many(step, game.u0, 5, 100, jax.random.key(2), f, chunk_size=30)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-6)
    np.testing.assert_allclose(a.variance, b.variance, rtol=1e-5)
    assert a.count.tolist() == b.count.tolist() == [100] * 6
