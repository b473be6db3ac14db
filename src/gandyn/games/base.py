"""Stochastic min-max games as per-sample losses over finite data sets.

A game is ``min_θ max_ω Φ(θ, ω)`` with (Cao & Guo eq. 2)

    Φ(θ, ω) = Σ_terms  mean_k  J_term(θ, ω, sample_k).

Each *term* owns a finite data set. A minibatch of size ``B`` draws ``B``
indices i.i.d. and uniformly from every term's data set, independently across
terms. For a GAN whose per-pair loss is additive in a real and a fake part,
``J(D(x_j), D(G(z_i))) = J_real(D(x_j)) + J_fake(D(G(z_i)))`` (vanilla, WGAN,
non-saturating), the two-term form with terms over ``{x_j}`` and ``{z_i}`` is
*exactly* the paper's sampling of i.i.d. pairs ``(z_I, x_J)`` from the product
set, at cost ``N + M`` instead of ``N·M`` per full gradient. A single term over
an explicit product set is also allowed.

The players' parameters are flat vectors ``theta`` (``d_theta``) and ``omega``
(``d_omega``); models written with equinox are flattened with
:func:`jax.flatten_util.ravel_pytree` (see :mod:`gandyn.games.mlp`).

Non-zero-sum games (non-saturating GAN, WGAN-GP where the penalty is the
discriminator's alone) give each term a ``generator_loss`` that θ minimises
while ω maximises ``loss``. The vector field of the game is then

    b0(θ, ω) = ( −∇_θ Φ_G(θ, ω),  ∇_ω Φ(θ, ω) )          (Cao & Guo eq. 9)

and everything downstream (SGA, the SDEs) only uses this field and its
per-sample versions.

A game's identity: its losses are static (part of what is compiled), its data
and initial point are arrays (traced). Two games compare equal, and share
every compiled program, when their losses compare equal and their arrays have
the same shapes. The built-in games write their losses as module-level
functions or frozen dataclasses of their parameters, so rebuilding a game
(as the CLI and the report do) reuses the compilations; a user's game gets
the same by doing likewise (a closure made afresh on every call is a new
function each time and compiles anew).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

__all__ = ["LossTerm", "Game", "make_game", "with_weight_decay", "zero_loss", "WeightDecay"]

PerSampleLoss = Callable[[Array, Array, PyTree], Array]


class LossTerm(eqx.Module):
    """One additive term of the game: a per-sample loss and its data set.

    ``loss(theta, omega, sample)`` is the per-sample value of Φ's term that ω
    ascends; ``generator_loss`` (default: the same function) is the one θ
    descends. ``data`` is a pytree whose leaves share a leading axis of length
    ``size``.
    """

    loss: PerSampleLoss = eqx.field(static=True)
    data: PyTree
    generator_loss: Optional[PerSampleLoss] = eqx.field(static=True, default=None)

    @property
    def size(self) -> int:
        return int(jax.tree_util.tree_leaves(self.data)[0].shape[0])

    def theta_loss(self) -> PerSampleLoss:
        return self.loss if self.generator_loss is None else self.generator_loss


class Game(eqx.Module):
    """A stochastic min-max game: additive loss terms plus an initial point.

    Build one with :func:`make_game` or a constructor in :mod:`gandyn.games`.
    """

    terms: tuple[LossTerm, ...]
    theta0: Array
    omega0: Array
    name: str = eqx.field(static=True, default="game")

    @property
    def d_theta(self) -> int:
        return int(self.theta0.shape[0])

    @property
    def d_omega(self) -> int:
        return int(self.omega0.shape[0])

    @property
    def dim(self) -> int:
        return self.d_theta + self.d_omega

    @property
    def zero_sum(self) -> bool:
        return all(t.generator_loss is None for t in self.terms)

    # -- values and gradients ------------------------------------------------

    # The entry points below are compiled as one program each (eqx.filter_jit: the game's
    # arrays are traced, its losses static), so calling them eagerly, outside jit, costs one
    # dispatch instead of one compilation and dispatch per operation; inside a jitted program
    # they are inlined as usual.
    @eqx.filter_jit
    def value(self, theta: Array, omega: Array) -> Array:
        """Φ(θ, ω): the full-data loss (the one ω ascends)."""
        return sum(_term_mean(t.loss, t.data, theta, omega) for t in self.terms)

    @eqx.filter_jit
    def generator_value(self, theta: Array, omega: Array) -> Array:
        """Φ_G(θ, ω): the full-data loss θ descends (Φ itself for zero-sum games)."""
        return sum(_term_mean(t.theta_loss(), t.data, theta, omega) for t in self.terms)

    @eqx.filter_jit
    def gradients(self, theta: Array, omega: Array) -> tuple[Array, Array]:
        """Full gradients ``(g_θ, g_ω)`` of Cao & Guo eq. (3)."""
        if self.zero_sum:  # one backward pass gives both players' gradients
            return jax.grad(self.value, argnums=(0, 1))(theta, omega)
        g_theta = jax.grad(self.generator_value, argnums=0)(theta, omega)
        g_omega = jax.grad(self.value, argnums=1)(theta, omega)
        return g_theta, g_omega

    @eqx.filter_jit
    def batch_gradients(
        self, theta: Array, omega: Array, indices: tuple[Array, ...]
    ) -> tuple[Array, Array]:
        """Minibatch gradients ``(g_θ^B, g_ω^B)`` of Cao & Guo eq. (4).

        ``indices[i]`` holds the batch's indices into term ``i``'s data set.
        """

        def value_g(th, om):
            return sum(
                _term_mean(t.theta_loss(), _take(t.data, idx), th, om)
                for t, idx in zip(self.terms, indices)
            )

        def value_d(th, om):
            return sum(
                _term_mean(t.loss, _take(t.data, idx), th, om)
                for t, idx in zip(self.terms, indices)
            )

        if self.zero_sum:
            return jax.grad(value_d, argnums=(0, 1))(theta, omega)
        return jax.grad(value_g, 0)(theta, omega), jax.grad(value_d, 1)(theta, omega)

    def sample_indices(self, key: Array, batch_size: int) -> tuple[Array, ...]:
        """One minibatch: ``batch_size`` i.i.d. uniform indices per term."""
        keys = jax.random.split(key, len(self.terms))
        return tuple(
            jax.random.randint(k, (batch_size,), 0, t.size) for k, t in zip(keys, self.terms)
        )

    @eqx.filter_jit  # one program, not one dispatch per operation, when called eagerly
    def per_sample_fields(self, theta: Array, omega: Array) -> tuple[Array, ...]:
        """Per-sample field vectors ``(−g_θ^k, g_ω^k)`` for every term, shape ``(n_term, dim)``.

        Only for small games and tests: it materialises ``n × dim`` numbers.
        """
        out = []
        for t in self.terms:
            gth = jax.vmap(jax.grad(t.theta_loss(), 0), (None, None, 0))(theta, omega, t.data)
            gom = jax.vmap(jax.grad(t.loss, 1), (None, None, 0))(theta, omega, t.data)
            out.append(jnp.concatenate([-gth, gom], axis=1))
        return tuple(out)

    @eqx.filter_jit
    def gradient_covariance(self, theta: Array, omega: Array) -> Array:
        """Σ: covariance of the per-sample field ``(−g_θ^k, g_ω^k)``, dense ``(dim, dim)``.

        Terms are sampled independently, so Σ is the sum of the terms'
        covariances. Its θθ and ωω blocks are Cao & Guo's Σ_θ and Σ_ω; the
        off-diagonal block is what simultaneous updates share.
        Dense: use it on small games and in tests only.
        """
        cov = jnp.zeros((self.dim, self.dim))
        for fields in self.per_sample_fields(theta, omega):
            centred = fields - fields.mean(axis=0)
            cov = cov + centred.T @ centred / fields.shape[0]
        return cov

    def split(self, u: Array) -> tuple[Array, Array]:
        """Split a joint state ``u = (θ, ω)`` into its two players."""
        return u[..., : self.d_theta], u[..., self.d_theta :]

    def join(self, theta: Array, omega: Array) -> Array:
        return jnp.concatenate([theta, omega], axis=-1)

    @property
    def u0(self) -> Array:
        return self.join(self.theta0, self.omega0)


def make_game(
    loss: PerSampleLoss,
    data: PyTree,
    theta0,
    omega0,
    *,
    generator_loss: Optional[PerSampleLoss] = None,
    name: str = "custom",
) -> Game:
    """A one-term game from a per-sample loss ``loss(theta, omega, sample)``.

    Example (a bilinear game with noisy data)::

        data = jax.random.normal(key, (256, 2))
        game = make_game(lambda th, om, x: th @ om + th @ x[:1] - om @ x[1:],
                         data, theta0=[1.0], omega0=[1.0])
    """
    theta0 = jnp.atleast_1d(jnp.asarray(theta0, dtype=float))
    omega0 = jnp.atleast_1d(jnp.asarray(omega0, dtype=float))
    if theta0.ndim != 1 or omega0.ndim != 1:
        raise ValueError("theta0 and omega0 must be flat vectors")
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("data must contain at least one array")
    n = leaves[0].shape[0] if leaves[0].ndim else 0
    if n < 1 or any(leaf.ndim == 0 or leaf.shape[0] != n for leaf in leaves):
        raise ValueError("every data array needs the same, non-zero leading (sample) axis")
    term = LossTerm(loss=loss, data=jax.tree_util.tree_map(jnp.asarray, data),
                    generator_loss=generator_loss)
    return Game(terms=(term,), theta0=theta0, omega0=omega0, name=name)


def zero_loss(theta: Array, omega: Array, sample: PyTree) -> Array:
    """A per-sample loss that is 0: the ``generator_loss`` of a term θ does not see."""
    return jnp.zeros(())


@dataclass(frozen=True)
class WeightDecay:
    """The per-sample loss ``(λ/2)(|θ|² − |ω|²)`` of :func:`with_weight_decay`."""

    lam: float

    def __call__(self, theta: Array, omega: Array, sample: PyTree) -> Array:
        return 0.5 * self.lam * (theta @ theta - omega @ omega)


def _take(data: PyTree, idx: Array) -> PyTree:
    return jax.tree_util.tree_map(lambda a: a[idx], data)


def _term_mean(loss: PerSampleLoss, data: PyTree, theta: Array, omega: Array) -> Array:
    return jnp.mean(jax.vmap(loss, (None, None, 0))(theta, omega, data))


def with_weight_decay(game: Game, lam: float) -> Game:
    """``game`` with L2 regularisation ``λ`` on both players.

    θ minimises ``Φ + (λ/2)|θ|²`` and ω maximises ``Φ − (λ/2)|ω|²``, so the
    field becomes ``b0 − λu``: for a bounded field this makes the drift
    dissipative (Theorem 6, 6.b) on every shell with ``λ|u| > sup|b0|``. The
    penalty is a deterministic extra term (no minibatch noise).
    """
    if not (lam >= 0):
        raise ValueError(f"weight decay must be non-negative, got {lam!r}")
    if lam == 0:
        return game

    term = LossTerm(loss=WeightDecay(float(lam)), data=jnp.zeros((1, 1)))
    return Game(terms=game.terms + (term,), theta0=game.theta0, omega0=game.omega0,
                name=f"{game.name}+wd{lam:g}")
