"""MLP GANs: an equinox generator and discriminator as one stochastic min-max game.

Both networks are ``eqx.nn.MLP``s; their parameters are flattened with
:func:`jax.flatten_util.ravel_pytree` into the game's ``theta`` and
``omega``. Losses, with ``D`` the discriminator's logit and ``σ`` the sigmoid:

* ``vanilla``: ``Φ = log σ(D(x)) + log(1 − σ(D(G(z))))`` (Goodfellow et al.),
* ``non-saturating``: ω ascends the same Φ, θ instead minimises ``−log σ(D(G(z)))``,
* ``wgan``: ``Φ = D(x) − D(G(z))``,
* ``wgan-gp``: WGAN, and the discriminator also pays
  ``λ (‖∇_x D(x̂)‖ − 1)²`` at ``x̂ = εx + (1 − ε)G(z)`` (Gulrajani et al.), over a
  third term of pre-drawn triples ``(z, x, ε)``; the generator does not see it.

Every loss is additive in the real and the fake sample, so the game has a
real term (the data) and a fake term (``n_latent`` pre-drawn latent points),
which equals the paper's i.i.d. sampling of pairs (see
:mod:`gandyn.games.base`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

from .gan_terms import FakeNonSaturatingTerm, FakeTerm, GradientPenaltyTerm, RealTerm
from .base import Game, LossTerm, with_weight_decay, zero_loss

__all__ = ["MLPGAN", "mlp_gan", "MLP_LOSSES"]

MLP_LOSSES = ("vanilla", "non-saturating", "wgan", "wgan-gp")


@dataclass(frozen=True)
class MLPGAN:
    """An MLP GAN: the game, and how to turn ``theta`` into generated samples."""

    game: Game
    unravel_generator: Callable
    unravel_discriminator: Callable
    latent_dim: int

    def generate(self, theta, z) -> jax.Array:
        """Samples ``G_θ(z)`` for latent points ``z`` of shape ``(n, latent_dim)``.

        One compiled program per architecture and shape when called eagerly.
        """
        return _apply(self.unravel_generator, theta, jnp.asarray(z))

    def discriminate(self, omega, x) -> jax.Array:
        """The discriminator's logits ``D_ω(x)`` for samples ``x`` of shape ``(n, d)``."""
        return _apply(self.unravel_discriminator, omega, jnp.asarray(x))[:, 0]


@eqx.filter_jit
def _apply(unravel, params, x):
    """The network ``unravel(params)`` on every row of ``x`` (``unravel`` is static)."""
    return jax.vmap(unravel(params))(x)


def _flat(model):
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    return flat, _Unravel(unravel, static)


class _Unravel:
    """``v -> model``: a flat parameter vector back into its equinox network."""

    def __init__(self, unravel, static):
        self.unravel, self.static = unravel, static

    def __call__(self, v):
        return eqx.combine(self.unravel(v), self.static)


@functools.lru_cache(maxsize=None)
def _networks(shape: "_Shape") -> tuple[_Unravel, _Unravel]:
    """``(unravel_generator, unravel_discriminator)`` of networks of ``shape``.

    Unravelling depends on the architecture only, never on the weights, so one
    pair serves every game of that architecture.
    """
    g, d = _build(shape, *jax.random.split(jax.random.key(0)))
    return _flat(g)[1], _flat(d)[1]


@dataclass(frozen=True)
class _Shape:
    """The architecture: data and latent dimensions, each network's width and hidden layers."""

    data_dim: int
    latent_dim: int
    g_hidden: int
    g_depth: int
    d_hidden: int
    d_depth: int


@eqx.filter_jit  # one program per architecture (built eagerly, every layer compiles its own)
def _build(shape: _Shape, kg, kd):
    generator = eqx.nn.MLP(shape.latent_dim, shape.data_dim, shape.g_hidden, shape.g_depth,
                           activation=jax.nn.relu, key=kg)
    discriminator = eqx.nn.MLP(shape.data_dim, 1, shape.d_hidden, shape.d_depth,
                               activation=jax.nn.leaky_relu, key=kd)
    return generator, discriminator


# Each per-sample loss is a frozen dataclass of the architecture and the loss's own
# parameters, so equal MLP GANs are equal games and share their compilations (see games.base).
@dataclass(frozen=True)
class _Loss:
    shape: _Shape
    wgan: bool

    def D(self, omega, x):
        return _networks(self.shape)[1](omega)(x)[0]

    def G(self, theta, zi):
        return _networks(self.shape)[0](theta)(zi)


class _Real(RealTerm, _Loss):
    pass


class _Fake(FakeTerm, _Loss):
    pass


class _FakeNonSaturating(FakeNonSaturatingTerm, _Loss):
    pass


@dataclass(frozen=True)
class _GradientPenalty(GradientPenaltyTerm, _Loss):
    weight: float = 10.0


def mlp_gan(data, *, latent_dim: int = 2, hidden: int = 32, depth: int = 2,
            loss: str = "vanilla", gp_weight: float = 10.0, weight_decay: float = 0.0,
            n_latent: int = 256, n_penalty: int = 256, seed: int = 0,
            generator_hidden: int | None = None, generator_depth: int | None = None,
            discriminator_hidden: int | None = None, discriminator_depth: int | None = None
            ) -> MLPGAN:
    """An MLP GAN on the samples ``data`` (shape ``(n, d)``); see the module docstring.

    ``hidden`` and ``depth`` (width and number of hidden layers) size both
    networks unless ``generator_…`` or ``discriminator_…`` say otherwise.
    """
    g_hidden, g_depth = generator_hidden or hidden, generator_depth or depth
    d_hidden, d_depth = discriminator_hidden or hidden, discriminator_depth or depth
    if loss not in MLP_LOSSES:
        raise ValueError(f"loss must be one of {MLP_LOSSES}, got {loss!r}")
    data = jnp.asarray(data, dtype=float)
    if data.ndim != 2 or data.shape[0] < 1:
        raise ValueError("data must be a non-empty (n, d) array")
    for name, v in (("latent_dim", latent_dim), ("hidden", g_hidden), ("depth", g_depth),
                    ("hidden", d_hidden), ("depth", d_depth),
                    ("n_latent", n_latent), ("n_penalty", n_penalty)):
        if not (isinstance(v, int) and v >= 1):
            raise ValueError(f"{name} must be a positive integer")
    if gp_weight < 0 or weight_decay < 0:
        raise ValueError("gp_weight and weight_decay must be non-negative")
    shape = _Shape(int(data.shape[1]), latent_dim, g_hidden, g_depth, d_hidden, d_depth)
    kg, kd, kz, kp = jax.random.split(jax.random.key(seed), 4)
    generator, discriminator = _build(shape, kg, kd)
    theta0, _ = _flat(generator)
    omega0, _ = _flat(discriminator)
    unravel_g, unravel_d = _networks(shape)
    z = jax.random.normal(kz, (n_latent, latent_dim))
    wgan = loss in ("wgan", "wgan-gp")
    ns = loss == "non-saturating"
    terms = [LossTerm(loss=_Real(shape, wgan), data=data, generator_loss=zero_loss if ns else None),
             LossTerm(loss=_Fake(shape, wgan), data=z,
                      generator_loss=_FakeNonSaturating(shape, wgan) if ns else None)]
    if loss == "wgan-gp":
        k1, k2, k3 = jax.random.split(kp, 3)
        triples = {"z": jax.random.normal(k1, (n_penalty, latent_dim)),
                   "x": data[jax.random.randint(k2, (n_penalty,), 0, data.shape[0])],
                   "eps": jax.random.uniform(k3, (n_penalty,))}
        terms.append(LossTerm(loss=_GradientPenalty(shape, wgan, float(gp_weight)), data=triples,
                              generator_loss=zero_loss))
    game = Game(terms=tuple(terms), theta0=theta0, omega0=omega0, name=f"mlp-{loss}")
    return MLPGAN(with_weight_decay(game, weight_decay), unravel_g, unravel_d, latent_dim)
