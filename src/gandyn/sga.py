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
from typing import Callable, Literal, Optional, get_args

import equinox as eqx
import jax
import jax.numpy as jnp

from .games.base import Game
from .runs import RunStatistics, run_many

__all__ = ["SGAConfig", "SGAStep", "sga_step", "make_sga_step", "simulate_sga", "Scheme",
           "SCHEMES", "sub_steps", "apply_sub_steps"]

#: The two schemes: alternating (ALT) and simultaneous (SML).
Scheme = Literal["alt", "sml"]
SCHEMES: tuple[str, ...] = get_args(Scheme)


@dataclass(frozen=True)
class SGAConfig:
    """Hyper-parameters of one SGA scheme.

    ``eta_omega`` defaults to ``eta_theta`` (the paper's single η).
    """

    scheme: Scheme
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


def sub_steps(scheme: str, n_disc: int = 1) -> tuple[str, ...]:
    """The sub-updates of one step of ``scheme``, in order: ``"omega"``, ``"theta"`` or ``"both"``.

    ALT: ``n_disc`` discriminator updates, then the generator's (at the new ω);
    SML: ``n_disc − 1`` discriminator updates, then both players from one
    evaluation. Every implementation of a scheme (the stochastic step here,
    the mean map of :mod:`gandyn.analysis.game_spectrum`, the exact moments of
    :mod:`gandyn.analysis.lq_exact`) follows this sequence.
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if not (isinstance(n_disc, int) and n_disc >= 1):
        raise ValueError(f"n_disc must be a positive integer, got {n_disc!r}")
    if scheme == "alt":
        return ("omega",) * n_disc + ("theta",)
    return ("omega",) * (n_disc - 1) + ("both",)


def apply_sub_steps(theta, omega, gradients, scheme: str, eta_theta, eta_omega, n_disc: int = 1):
    """``(θ, ω)`` after one step of ``scheme`` with ``gradients(i, θ, ω) -> (g_θ, g_ω)``.

    ``i`` is the index of the sub-update (for its minibatch); each player
    descends/ascends its own gradient: ``θ ← θ − η_θ g_θ``, ``ω ← ω + η_ω g_ω``.
    """
    for i, who in enumerate(sub_steps(scheme, n_disc)):
        g_theta, g_omega = gradients(i, theta, omega)
        if who in ("theta", "both"):
            new_theta = theta - eta_theta * g_theta
        else:
            new_theta = theta
        if who in ("omega", "both"):
            omega = omega + eta_omega * g_omega
        theta = new_theta
    return theta, omega


def sga_step(game: Game, config: SGAConfig, key: jax.Array, u: jax.Array) -> jax.Array:
    """One SGA step of ``config.scheme`` from the joint state ``u = (θ, ω)``.

    Every sub-update draws its own minibatch; the last one (the generator's
    in ALT, the joint one in SML) uses the last of ``n_disc + 1`` keys.
    """
    return _step(game, config.scheme, config.batch_size, config.n_disc, config.eta_theta,
                 config.eta_omega, key, u)


def _step(game, scheme, batch_size, n_disc, eta_theta, eta_omega, key, u):
    theta, omega = game.split(u)
    keys = jax.random.split(key, n_disc + 1)
    last = len(sub_steps(scheme, n_disc)) - 1

    def gradients(i, theta, omega):
        k = keys[-1] if i == last else keys[i]
        return game.batch_gradients(theta, omega, game.sample_indices(k, batch_size))

    theta, omega = apply_sub_steps(theta, omega, gradients, scheme, eta_theta, eta_omega, n_disc)
    return game.join(theta, omega)


class SGAStep(eqx.Module):
    """``step(key, u) -> u'``: one SGA step as a callable pytree.

    The game's arrays and the learning rates are leaves (traced), the scheme,
    batch size and ``n_disc`` static: :func:`gandyn.runs.run_many` compiles
    one program per (scheme, game, shapes) and reuses it across learning rates
    and across calls with an equal game.
    """

    game: Game
    eta_theta: jax.Array
    eta_omega: jax.Array
    scheme: str = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)
    n_disc: int = eqx.field(static=True)

    def __call__(self, key: jax.Array, u: jax.Array) -> jax.Array:
        return _step(self.game, self.scheme, self.batch_size, self.n_disc, self.eta_theta,
                     self.eta_omega, key, u)


def make_sga_step(game: Game, config: SGAConfig) -> SGAStep:
    """``step(key, u) -> u'`` for :func:`gandyn.runs.run_many`."""
    return SGAStep(game, jnp.asarray(float(config.eta_theta)), jnp.asarray(float(config.eta_omega)),
                   config.scheme, config.batch_size, config.n_disc)


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

