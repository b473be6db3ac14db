"""Stochastic gradient descent–ascent: alternating (ALT) and simultaneous (SML).

Cao & Guo §2, with the generalisations people train with: separate rates
``eta_theta``, ``eta_omega`` and ``n_disc`` discriminator steps per generator
step. One SGA step of each scheme (every gradient is a fresh minibatch of size
``B``, drawn i.i.d. with replacement, unless said otherwise):

ALT (eq. ALT)::

    repeat n_disc times:  ω ← ω + η_ω g_ω^B(θ, ω)
    θ ← θ − η_θ g_θ^B̄(θ, ω)              # B̄ a fresh, independent batch

SML (eq. SML)::

    repeat n_disc − 1 times:  ω ← ω + η_ω g_ω^B(θ, ω)
    (θ, ω) ← (θ − η_θ g_θ^B(θ, ω),  ω + η_ω g_ω^B(θ, ω))   # the SAME batch B

With ``n_disc = 1`` and ``eta_theta = eta_omega = η`` these are exactly the
paper's schemes. The state of one run is the joint vector ``u = (θ, ω)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Optional

import equinox as eqx
import jax

from .games.base import Game
from .runs import RunStatistics, run_many

__all__ = ["SGAConfig", "SGAStep", "sga_step", "make_sga_step", "simulate_sga", "SCHEMES"]

SCHEMES = ("alt", "sml")


@dataclass(frozen=True)
class SGAConfig:
    """Hyper-parameters of one SGA scheme.

    ``eta_omega`` defaults to ``eta_theta`` (the paper's single η).
    """

    scheme: Literal["alt", "sml"]
    eta_theta: float
    batch_size: int
    eta_omega: Optional[float] = None
    n_disc: int = 1

    def __post_init__(self):
        if self.scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {self.scheme!r}")
        if self.eta_omega is None:
            object.__setattr__(self, "eta_omega", self.eta_theta)
        for name in ("eta_theta", "eta_omega"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and v > 0 and v == v and v != float("inf")):
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")
        if not (isinstance(self.n_disc, int) and self.n_disc >= 1):
            raise ValueError(f"n_disc must be a positive integer, got {self.n_disc!r}")


def sga_step(game: Game, config: SGAConfig, key: jax.Array, u: jax.Array) -> jax.Array:
    """One SGA step of ``config.scheme`` from the joint state ``u = (θ, ω)``."""
    theta, omega = game.split(u)
    B = config.batch_size
    keys = jax.random.split(key, config.n_disc + 1)
    n_plain = config.n_disc if config.scheme == "alt" else config.n_disc - 1
    for i in range(n_plain):
        _, g_omega = game.batch_gradients(theta, omega, game.sample_indices(keys[i], B))
        omega = omega + config.eta_omega * g_omega
    if config.scheme == "alt":
        g_theta, _ = game.batch_gradients(theta, omega, game.sample_indices(keys[-1], B))
        theta = theta - config.eta_theta * g_theta
    else:
        g_theta, g_omega = game.batch_gradients(theta, omega, game.sample_indices(keys[-1], B))
        theta, omega = theta - config.eta_theta * g_theta, omega + config.eta_omega * g_omega
    return game.join(theta, omega)


class SGAStep(eqx.Module):
    """``step(key, u) -> u'``: one SGA step as a callable pytree.

    Being a module (the game's arrays are leaves, the config static) lets
    :func:`gandyn.runs.run_many` reuse one compilation across calls.
    """

    game: Game
    config: SGAConfig = eqx.field(static=True)

    def __call__(self, key: jax.Array, u: jax.Array) -> jax.Array:
        return sga_step(self.game, self.config, key, u)


def make_sga_step(game: Game, config: SGAConfig) -> SGAStep:
    """``step(key, u) -> u'`` for :func:`gandyn.runs.run_many`."""
    return SGAStep(game, config)


def simulate_sga(
    game: Game,
    config: SGAConfig,
    n_steps: int,
    n_runs: int,
    key: jax.Array,
    observables: Callable[[jax.Array], jax.Array],
    **run_options,
) -> RunStatistics:
    """Run ``n_runs`` independent SGA trainings from ``game.u0`` for ``n_steps`` steps.

    Returns streaming statistics of ``observables(u)`` at every
    ``record_every``-th step (see :func:`gandyn.runs.run_many`).

    Example::

        game = gandyn.games.tanh_wgan()
        cfg = SGAConfig("alt", eta_theta=0.1, batch_size=64)
        stats = simulate_sga(game, cfg, 20, 10_000, jax.random.key(0),
                             lambda u: jnp.array([u @ u]))
        stats.mean[-1], stats.standard_error[-1]
    """
    return run_many(make_sga_step(game, config), game.u0, n_steps, n_runs, key,
                    observables, **run_options)

