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

import importlib

# The public namespace, loaded on first use: ``import gandyn`` (and ``gandyn --help``) stays
# light, and ``gandyn.kernel`` or ``gandyn.make_sde`` imports JAX only when it is reached.
_SUBPACKAGES = ("analysis", "games", "sde", "kernel", "schedules", "studies", "datasets", "errors")
_NAMES = {
    "Game": "games", "LossTerm": "games", "make_game": "games",
    "RunStatistics": "runs", "run_many": "runs",
    "SDE": "sde", "make_sde": "sde", "simulate_sde": "sde",
    "SGAConfig": "sga", "sga_step": "sga", "simulate_sga": "sga",
    "InputError": "errors",
}

__all__ = ["__version__", *_SUBPACKAGES, *_NAMES]


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
