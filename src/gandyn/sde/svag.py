"""SVAG chains: the SDE of a game's training simulated from minibatches alone.

Li, Malladi & Arora (2021, "On the validity of modeling SGD with SDEs",
Definition 4.1) simulate the SDE of SGD without its diffusion matrix: the
*stochastic variance amplified gradient* (SVAG) chain with parameter
``l ≥ 1`` draws two independent minibatches ``B1``, ``B2`` per step, combines
their gradients as

    ĝ_l = c₊ ĝ_{B1} + c₋ ĝ_{B2},        c± = (1 ± √(2l − 1)) / 2 ,

and takes steps of size ``η/l``, ``l`` times as many. Since ``c₊ + c₋ = 1``
and ``c₊² + c₋² = l``, the combined gradient has the same mean as one
minibatch gradient and ``l`` times its covariance, ``l Σ/B``. Per unit of
time ``t = k η / l`` the chain then moves the drift ``b0`` and adds noise of
covariance ``(η/l)² · l Σ/B · (l/η) = η Σ/B``, the same as SGA, while its
discretisation (a step of ``η/l``) vanishes: as ``l → ∞`` the chain converges
weakly, at order 1 in ``1/l`` (their Theorem 4.3), to

    du = b0(u) dt + (η/B · Σ(u))^{1/2} dW .

For games, every gradient of a step is replaced by its SVAG combination *per
player and per loss term* (each term draws its two batches of ``B`` i.i.d.
indices independently), and the sub-updates of a step follow the scheme
(:func:`gandyn.sga.sub_steps`):

* ALT: the discriminator's and the generator's sub-updates each draw their own
  pair of batches, so the two players' noises are independent and the limit
  has the block-diagonal covariance (``covariance = "blockdiag"``);
* SML: both players use the gradients of one pair of batches, so the limit has
  the joint covariance, off-diagonal block included (``"joint"``).

The alternation of ALT is a discretisation effect of size ``η`` (the ``η b1``
term of Cao & Guo's ALT-SDE, eq. 8), so it vanishes in the limit: both schemes
converge to the SDE with drift ``b0``, ALT with block-diagonal noise, SML with
joint noise, and the gap between ``l = 1`` and the limit measures the
alternation term on a real network.

Keys. A chain step uses its key exactly as :func:`gandyn.sga.sga_step` does:
sub-update ``i`` draws ``B1`` with the key SGA draws its batch with, and
``B2`` with ``fold_in`` of that key. At ``l = 1`` (``c₊ = 1``, ``c₋ = 0``,
step ``η``) the chain is plain SGA, step for step, for the same key.

Cost per chain step: two minibatch gradients per sub-update, independent of
the size of the data set (the per-sample SDE of :mod:`gandyn.sde.coefficients`
costs a pass over every sample per sub-step).

The order-2 model of ALT at scale (``drift = "alt-sde"``). Cao & Guo's
ALT-SDE (eq. 8) has drift ``b0 + η b1`` with
``b1 = −½(∇b0) b0 − (∇_ω g_θ · g_ω, 0)`` (eq. 10) and block-diagonal noise.
Each product in ``b1`` is estimated without bias by two *independent*
minibatches ``A``, ``C``: ``E[(∇b0^A) b0^C] = (∇b0) b0`` because the factors are
independent means (one JVP of the minibatch field, no Hessian). The chain

    u ← u + (η/l) [ (−ĝ_{l,θ}, ĝ_{l,ω}) + η b̂1 ]

(both players at once; ``ĝ_{l,θ}`` and ``ĝ_{l,ω}`` from independent pairs of
batches, so the noise is block-diagonal; ``η`` inside the bracket is the SGA
rate, fixed as ``l`` grows) converges as ``l → ∞`` to ALT-SDE itself,
``du = (b0 + η b1) dt + (η/B Σ_blockdiag)^{1/2} dW``: the order-2 model of ALT
simulated from minibatches. Cost per step: four minibatch gradients and two
JVPs.
"""

from __future__ import annotations

import math
from typing import Callable, Literal, get_args

import equinox as eqx
import jax
import jax.numpy as jnp

from ..games.base import Game
from ..runs import RunStatistics, run_many
from ..sga import SGAConfig, apply_sub_steps, sub_steps

__all__ = ["svag_coefficients", "svag_gradients", "svag_step", "SVAGStep", "make_svag_step",
           "simulate_svag", "svag_covariance", "minibatch_b1", "SECOND_BATCH", "Drift", "DRIFTS"]

#: The drift the chain converges to: the scheme's own field ``b0``, or ALT-SDE's ``b0 + η b1``.
Drift = Literal["b0", "alt-sde"]
DRIFTS: tuple[str, ...] = get_args(Drift)

#: ``B2`` of sub-update ``i`` is drawn with ``fold_in(key_i, SECOND_BATCH)`` (``B1`` with ``key_i``).
SECOND_BATCH = 0x5BA6


def svag_coefficients(l):
    """``(c₊, c₋) = ((1 + √(2l − 1))/2, (1 − √(2l − 1))/2)``: sum 1, sum of squares ``l``.

    ``l`` may be a Python number (floats returned) or a traced array.
    """
    if isinstance(l, (int, float)):
        if not (l >= 1 and math.isfinite(l)):
            raise ValueError(f"l must be a finite number >= 1, got {l!r}")
        root = math.sqrt(2 * l - 1)
    else:
        root = jnp.sqrt(2 * l - 1)
    return (1 + root) / 2, (1 - root) / 2


def svag_covariance(scheme: str) -> str:
    """The covariance of the limit SDE of ``scheme``'s SVAG chain: ``blockdiag`` (ALT), ``joint`` (SML)."""
    if scheme not in ("alt", "sml"):
        raise ValueError(f"scheme must be 'alt' or 'sml', got {scheme!r}")
    return "blockdiag" if scheme == "alt" else "joint"


def svag_gradients(game: Game, theta, omega, batch1, batch2, l):
    """``c₊ ĝ_{B1} + c₋ ĝ_{B2}`` for both players, with ``batch1``, ``batch2`` index tuples.

    ``batchN[i]`` holds the indices into term ``i``'s data set
    (:meth:`gandyn.games.Game.batch_gradients`).
    """
    c_plus, c_minus = svag_coefficients(l)
    g1 = game.batch_gradients(theta, omega, batch1)
    g2 = game.batch_gradients(theta, omega, batch2)
    return tuple(c_plus * a + c_minus * b for a, b in zip(g1, g2))


def _chain_step(game, scheme, batch_size, n_disc, eta_theta, eta_omega, l, key, u):
    """One SVAG step of size ``η/l``; the keys as in :func:`gandyn.sga._step`."""
    theta, omega = game.split(u)
    keys = jax.random.split(key, n_disc + 1)
    last = len(sub_steps(scheme, n_disc)) - 1

    def gradients(i, theta, omega):
        k = keys[-1] if i == last else keys[i]
        batch1 = game.sample_indices(k, batch_size)
        batch2 = game.sample_indices(jax.random.fold_in(k, SECOND_BATCH), batch_size)
        return svag_gradients(game, theta, omega, batch1, batch2, l)

    theta, omega = apply_sub_steps(theta, omega, gradients, scheme, eta_theta / l,
                                   eta_omega / l, n_disc)
    return game.join(theta, omega)


def minibatch_b1(game: Game, u: jax.Array, batch_a, batch_c) -> jax.Array:
    """An unbiased estimate of ``b1 = −½(∇b0) b0 − (∇_ω g_θ · g_ω, 0)`` (Cao & Guo eq. 10).

    ``−½ (∇b0^A) b0^C − (∇_ω g_θ^A · g_ω^C, 0)``: the Jacobians from batch
    ``A``, the vectors they act on from an independent batch ``C``, by JVPs.
    """
    theta, omega = game.split(u)

    def field(v, batch):
        g_theta, g_omega = game.batch_gradients(*game.split(v), batch)
        return game.join(-g_theta, g_omega)

    field_c = field(u, batch_c)
    _, jb = jax.jvp(lambda v: field(v, batch_a), (u,), (field_c,))
    g_omega_c = game.split(field_c)[1]
    _, mixed = jax.jvp(lambda om: game.batch_gradients(theta, om, batch_a)[0], (omega,),
                       (g_omega_c,))
    return -0.5 * jb - game.join(mixed, jnp.zeros_like(omega))


def _alt_sde_chain_step(game, batch_size, eta, l, key, u):
    """One step of the SVAG chain of ALT-SDE (see the module docstring)."""
    theta, omega = game.split(u)
    k_theta, k_omega, k_a, k_c = jax.random.split(key, 4)

    def pair(k):
        return (game.sample_indices(k, batch_size),
                game.sample_indices(jax.random.fold_in(k, SECOND_BATCH), batch_size))

    g_theta = svag_gradients(game, theta, omega, *pair(k_theta), l)[0]
    g_omega = svag_gradients(game, theta, omega, *pair(k_omega), l)[1]
    b1_hat = minibatch_b1(game, u, game.sample_indices(k_a, batch_size),
                          game.sample_indices(k_c, batch_size))
    return u + (eta / l) * (game.join(-g_theta, g_omega) + eta * b1_hat)


def svag_step(game: Game, config: SGAConfig, l, key: jax.Array, u: jax.Array) -> jax.Array:
    """One step of the SVAG-``l`` chain of ``config`` (step ``η/l``) from ``u = (θ, ω)``.

    ``svag_step(game, config, 1, key, u)`` equals ``sga_step(game, config, key, u)``.
    """
    return _chain_step(game, config.scheme, config.batch_size, config.n_disc,
                       config.eta_theta, config.eta_omega, l, key, u)


class SVAGStep(eqx.Module):
    """``step(key, u) -> u'``: ``l`` SVAG steps of size ``η/l``, one unit ``η`` of time.

    One call covers the time of one SGA step, so :func:`gandyn.runs.run_many`
    records every ``l`` on the same grid ``t = kη`` and :class:`SVAGStep`\\ s
    that differ in ``l`` or in the rates share one compilation (``l`` and the
    rates are traced leaves; the scheme, batch size and ``n_disc`` are static).

    Keys: chain step 0 of the interval uses the interval's key itself, step
    ``i ≥ 1`` uses ``fold_in(key, i)``; so at ``l = 1`` a run is the SGA run
    of :class:`gandyn.sga.SGAStep` with the same keys.
    """

    game: Game
    eta_theta: jax.Array
    eta_omega: jax.Array
    l: jax.Array  # traced: one program for every l
    scheme: str = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)
    n_disc: int = eqx.field(static=True)
    drift: str = eqx.field(static=True, default="b0")

    def chain_step(self, key: jax.Array, u: jax.Array) -> jax.Array:
        """One SVAG step of size ``η/l``."""
        lf = self.l.astype(self.eta_theta.dtype)
        if self.drift == "alt-sde":
            return _alt_sde_chain_step(self.game, self.batch_size, self.eta_theta, lf, key, u)
        return _chain_step(self.game, self.scheme, self.batch_size, self.n_disc,
                           self.eta_theta, self.eta_omega, lf, key, u)

    def __call__(self, key: jax.Array, u: jax.Array) -> jax.Array:
        def body(i, u):
            k = jax.lax.cond(i == 0, lambda: key, lambda: jax.random.fold_in(key, i))
            return self.chain_step(k, u)

        return jax.lax.fori_loop(0, self.l, body, u)


def make_svag_step(game: Game, config: SGAConfig, l: int, drift: Drift = "b0") -> SVAGStep:
    """The SVAG-``l`` chain of ``config`` over intervals of length ``η`` (see :class:`SVAGStep`).

    ``drift = "alt-sde"`` gives the chain of ALT-SDE instead (module
    docstring); it needs ``config`` to be ALT with one rate and ``n_disc = 1``.
    """
    if not (isinstance(l, int) and not isinstance(l, bool) and l >= 1):
        raise ValueError(f"l must be a positive integer, got {l!r}")
    if drift not in DRIFTS:
        raise ValueError(f"drift must be one of {DRIFTS}, got {drift!r}")
    if drift == "alt-sde" and (config.scheme != "alt" or config.n_disc != 1
                               or config.eta_omega != config.eta_theta):
        raise ValueError('drift = "alt-sde" models ALT with n_disc = 1 and eta_omega = eta_theta')
    return SVAGStep(game, jnp.asarray(float(config.eta_theta)),
                    jnp.asarray(float(config.eta_omega)), jnp.asarray(l, jnp.int32),
                    config.scheme, config.batch_size, config.n_disc, drift)


def simulate_svag(
    game: Game,
    config: SGAConfig,
    l: int,
    n_steps: int,
    n_runs: int,
    key: jax.Array,
    observables: Callable[[jax.Array], jax.Array],
    *,
    drift: Drift = "b0",
    **run_options,
) -> RunStatistics:
    """``n_runs`` SVAG-``l`` chains from ``game.u0`` over ``n_steps`` intervals of length ``η``.

    That is ``l · n_steps`` chain steps of ``η/l``; statistics of
    ``observables(u)`` are recorded at ``t = kη`` (every ``record_every``
    intervals), one-to-one with :func:`gandyn.sga.simulate_sga` and
    :func:`gandyn.sde.simulate_sde`.

    Example (the SDE of SML on the tanh WGAN, by its SVAG-16 chain)::

        game = gandyn.games.tanh_wgan()
        cfg = SGAConfig("sml", eta_theta=0.2, batch_size=4)
        stats = simulate_svag(game, cfg, 16, 10, 10_000, jax.random.key(0),
                              lambda u: jnp.array([u @ u]))
    """
    return run_many(make_svag_step(game, config, l, drift), game.u0, n_steps, n_runs, key,
                    observables, **run_options)
