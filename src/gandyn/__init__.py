"""gandyn: training dynamics of GANs and other stochastic min-max games.

Quick tour::

    import jax, jax.numpy as jnp
    import gandyn

    game = gandyn.games.tanh_wgan()                        # Cao & Guo §4.2
    cfg = gandyn.SGAConfig("alt", eta_theta=0.1, batch_size=64)
    stats = gandyn.simulate_sga(game, cfg, n_steps=20, n_runs=10_000,
                                key=jax.random.key(0), observables=lambda u: jnp.array([u @ u]))
    sde = gandyn.make_sde(game, "alt-sde", eta=0.1, batch_size=64)
    paths = gandyn.simulate_sde(sde, 20, 10_000, jax.random.key(1),
                                lambda u: jnp.array([u @ u]), substeps=10)
    print(stats.mean[-1] - paths.mean[-1])                # weak error at T = 2
"""

__version__ = "0.1.0"

from . import analysis, games, sde
from .games import Game, LossTerm, make_game
from .runs import RunStatistics, run_many
from .sde import SDE, make_sde, simulate_sde
from .sga import SGAConfig, sga_step, simulate_sga

__all__ = ["__version__", "games", "sde", "analysis", "Game", "LossTerm", "make_game",
           "RunStatistics", "run_many", "SGAConfig", "sga_step", "simulate_sga", "SDE",
           "make_sde", "simulate_sde"]
