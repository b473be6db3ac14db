"""A DCGAN-style convolutional GAN on scikit-learn's 8×8 digits, as a stochastic min-max game.

The images stay at their native 8×8 (one channel, pixels scaled to
``[−1, 1]``, :func:`gandyn.datasets.digits`); nothing is padded or upsampled.
Both networks are equinox modules (initialised as PyTorch does, drawn by NumPy
from ``seed``) in the DCGAN pattern (Radford et al. 2016:
strided convolutions in the discriminator, transposed convolutions in the
generator, leaky ReLU in D, ReLU in G, tanh output), at width ``width``
(channels of the first convolution):

* generator ``G_θ``: ``z ∈ R^{latent_dim}`` → linear → ``(4w, 2, 2)`` → ReLU →
  transposed conv 4×4 stride 2 → ``(2w, 4, 4)`` → ReLU → transposed conv 4×4
  stride 2 → ``(w, 8, 8)`` → ReLU → conv 3×3 → ``(1, 8, 8)`` → tanh;
* discriminator ``D_ω``: ``(1, 8, 8)`` → conv 3×3 → ``(w, 8, 8)`` → conv 4×4
  stride 2 → ``(2w, 4, 4)`` → conv 4×4 stride 2 → ``(4w, 2, 2)`` (leaky ReLU
  after each) → linear → one logit.

At the default ``width = 32`` and ``latent_dim = 16`` the game has 337 794
parameters (θ: 172 929, ω: 164 865). There is no batch normalisation: it
couples the samples of a batch, and a game here is a sum of *per-sample*
losses (:mod:`gandyn.games.base`) so that minibatch noise, Σ and the SDEs are
defined; DCGAN without batch norm trains on digits at these sizes.

Losses (``D`` the logit, ``σ`` the sigmoid), as in :mod:`gandyn.games.mlp_gan`:

* ``vanilla``: ``Φ = log σ(D(x)) + log(1 − σ(D(G(z))))`` (Goodfellow et al. 2014);
* ``non-saturating``: ω ascends the same Φ, θ minimises ``−log σ(D(G(z)))``;
* ``wgan``: ``Φ = D(x) − D(G(z))``;
* ``wgan-gp``: WGAN, the discriminator also pays ``λ(‖∇_x D(x̂)‖ − 1)²`` at
  ``x̂ = εx + (1 − ε)G(z)`` (Gulrajani et al. 2017) over pre-drawn triples
  ``(z, x, ε)``; the generator does not see it.

Every loss is additive in the real and the fake sample, so the game has a real
term (the digits) and a fake term (``n_latent`` pre-drawn latent points).
The per-sample losses are module-level frozen dataclasses of the architecture
(``_Shape``) and the unravelling of a flat vector into the networks is cached
per architecture, so equal games compare equal and share their compilations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from .gan_terms import FakeNonSaturatingTerm, FakeTerm, GradientPenaltyTerm, RealTerm
from .base import Game, LossTerm, with_weight_decay, zero_loss

__all__ = ["DCGAN", "dcgan_game", "dcgan", "DCGAN_LOSSES", "IMAGE_SIDE"]

DCGAN_LOSSES = ("vanilla", "non-saturating", "wgan", "wgan-gp")
#: The images are IMAGE_SIDE × IMAGE_SIDE, one channel, flattened to vectors of 64 pixels.
IMAGE_SIDE = 8


@dataclass(frozen=True)
class _Shape:
    """The architecture: latent dimension and width (channels of the first convolution)."""

    latent_dim: int
    width: int


class _Generator(eqx.Module):
    linear: eqx.nn.Linear
    up1: eqx.nn.ConvTranspose2d
    up2: eqx.nn.ConvTranspose2d
    out: eqx.nn.Conv2d
    width: int = eqx.field(static=True)

    def __init__(self, shape: _Shape, key):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        w = shape.width
        self.width = w
        self.linear = eqx.nn.Linear(shape.latent_dim, 4 * w * 2 * 2, key=k1)
        self.up1 = eqx.nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1, key=k2)
        self.up2 = eqx.nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1, key=k3)
        self.out = eqx.nn.Conv2d(w, 1, 3, padding=1, key=k4)

    def __call__(self, z):
        h = jax.nn.relu(self.linear(z)).reshape(4 * self.width, 2, 2)
        h = jax.nn.relu(self.up1(h))
        h = jax.nn.relu(self.up2(h))
        return jnp.tanh(self.out(h)).reshape(-1)


class _Discriminator(eqx.Module):
    conv1: eqx.nn.Conv2d
    conv2: eqx.nn.Conv2d
    conv3: eqx.nn.Conv2d
    linear: eqx.nn.Linear

    def __init__(self, shape: _Shape, key):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        w = shape.width
        self.conv1 = eqx.nn.Conv2d(1, w, 3, padding=1, key=k1)
        self.conv2 = eqx.nn.Conv2d(w, 2 * w, 4, stride=2, padding=1, key=k2)
        self.conv3 = eqx.nn.Conv2d(2 * w, 4 * w, 4, stride=2, padding=1, key=k3)
        self.linear = eqx.nn.Linear(4 * w * 2 * 2, 1, key=k4)

    def __call__(self, x):
        h = x.reshape(1, IMAGE_SIDE, IMAGE_SIDE)
        for conv in (self.conv1, self.conv2, self.conv3):
            h = jax.nn.leaky_relu(conv(h), 0.2)
        return self.linear(h.reshape(-1))[0]


class _Unravel:
    """``v -> model``: a flat parameter vector back into its equinox network."""

    def __init__(self, unravel, static):
        self.unravel, self.static = unravel, static

    def __call__(self, v):
        return eqx.combine(self.unravel(v), self.static)


def _flat(model):
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    return flat, _Unravel(unravel, static)


def _networks(shape: _Shape) -> tuple[_Unravel, _Unravel]:
    """``(unravel_generator, unravel_discriminator)`` for the architecture ``shape`` (cached).

    Unravelling depends on the architecture and the float width only, never on the weights.
    """
    return _unravellers(shape, bool(jax.config.jax_enable_x64))


@functools.lru_cache(maxsize=None)
def _unravellers(shape: _Shape, x64: bool) -> tuple[_Unravel, _Unravel]:
    def zeros(cls):
        # the structure from abstract evaluation: no initialiser runs
        abstract = eqx.filter_eval_shape(cls, shape, jax.random.key(0))
        return jax.tree_util.tree_map(
            lambda x: jnp.zeros(x.shape, x.dtype) if isinstance(x, jax.ShapeDtypeStruct) else x,
            abstract)

    return _flat(zeros(_Generator))[1], _flat(zeros(_Discriminator))[1]


def _initialise(cls, shape: _Shape, seed_sequence) -> eqx.Module:
    """A network of class ``cls`` with PyTorch's default initialisation, drawn by NumPy.

    Every weight and bias of a layer is uniform on ``±1/√fan_in`` with
    ``fan_in = prod(weight.shape[1:])`` (what ``torch.nn.Linear`` and
    ``Conv2d`` do). NumPy, not JAX: the structure comes from abstract
    evaluation, so building a game compiles nothing (JAX's initialisers
    compile a program per layer shape, tens of seconds on a busy CPU).
    """
    rng = np.random.default_rng(seed_sequence)
    module = eqx.filter_eval_shape(cls, shape, jax.random.key(0))
    for name in type(module).__dataclass_fields__:
        layer = getattr(module, name)
        if not isinstance(layer, eqx.Module):
            continue
        bound = 1.0 / np.sqrt(np.prod(layer.weight.shape[1:]))
        draw = lambda x: jnp.asarray(rng.uniform(-bound, bound, x.shape), x.dtype)  # noqa: E731
        layer = eqx.tree_at(lambda m: (m.weight, m.bias), layer,
                            (draw(layer.weight), draw(layer.bias)))
        module = eqx.tree_at(lambda m, name=name: getattr(m, name), module, layer)
    return module


@functools.lru_cache(maxsize=1)
def _digits():
    from ..datasets import digits

    images, labels = digits()
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


@dataclass(frozen=True)
class _Loss:
    shape: _Shape
    wgan: bool

    def D(self, omega, x):
        return _networks(self.shape)[1](omega)(x)

    def G(self, theta, z):
        return _networks(self.shape)[0](theta)(z)


class _Real(RealTerm, _Loss):
    pass


class _Fake(FakeTerm, _Loss):
    pass


class _FakeNonSaturating(FakeNonSaturatingTerm, _Loss):
    pass


@dataclass(frozen=True)
class _GradientPenalty(GradientPenaltyTerm, _Loss):
    weight: float = 10.0


@dataclass(frozen=True)
class DCGAN:
    """A DCGAN game on the digits, and how to turn ``theta`` into images."""

    game: Game
    unravel_generator: Callable
    unravel_discriminator: Callable
    latent_dim: int
    labels: np.ndarray

    def generate(self, theta, z) -> jax.Array:
        """Images ``G_θ(z)``, flattened, shape ``(n, 64)``, for latent points ``z`` ``(n, latent_dim)``."""
        return jax.vmap(self.unravel_generator(theta))(jnp.asarray(z))

    def discriminate(self, omega, x) -> jax.Array:
        return jax.vmap(self.unravel_discriminator(omega))(jnp.asarray(x))


def dcgan(*, loss: str = "non-saturating", seed: int = 0, width: int = 32, latent_dim: int = 16,
          n_data: int | None = None, n_latent: int = 2048, n_penalty: int = 512,
          gp_weight: float = 10.0, weight_decay: float = 0.0, data_seed: int = 0) -> DCGAN:
    """The DCGAN game with its generator (see the module docstring and :func:`dcgan_game`)."""
    if loss not in DCGAN_LOSSES:
        raise ValueError(f"loss must be one of {DCGAN_LOSSES}, got {loss!r}")
    for name, v in (("width", width), ("latent_dim", latent_dim), ("n_latent", n_latent),
                    ("n_penalty", n_penalty)):
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if gp_weight < 0 or weight_decay < 0:
        raise ValueError("gp_weight and weight_decay must be non-negative")
    images, labels = _digits()
    if n_data is not None:
        if not (isinstance(n_data, int) and 1 <= n_data <= len(images)):
            raise ValueError(f"n_data must be an integer in [1, {len(images)}], got {n_data!r}")
        pick = np.random.default_rng(data_seed).permutation(len(images))[:n_data]
        images, labels = images[pick], labels[pick]
    shape = _Shape(latent_dim, width)
    seeds = np.random.SeedSequence(seed).spawn(2)
    _, _, kz, kp = jax.random.split(jax.random.key(seed), 4)
    theta0, _ = _flat(_initialise(_Generator, shape, seeds[0]))
    omega0, _ = _flat(_initialise(_Discriminator, shape, seeds[1]))
    unravel_g, unravel_d = _networks(shape)
    data = jnp.asarray(images, dtype=theta0.dtype)
    z = jax.random.normal(kz, (n_latent, latent_dim), dtype=theta0.dtype)
    wgan = loss in ("wgan", "wgan-gp")
    ns = loss == "non-saturating"
    terms = [LossTerm(loss=_Real(shape, wgan), data=data, generator_loss=zero_loss if ns else None),
             LossTerm(loss=_Fake(shape, wgan), data=z,
                      generator_loss=_FakeNonSaturating(shape, wgan) if ns else None)]
    if loss == "wgan-gp":
        k1, k2, k3 = jax.random.split(kp, 3)
        triples = {"z": jax.random.normal(k1, (n_penalty, latent_dim), dtype=theta0.dtype),
                   "x": data[jax.random.randint(k2, (n_penalty,), 0, data.shape[0])],
                   "eps": jax.random.uniform(k3, (n_penalty,), dtype=theta0.dtype)}
        terms.append(LossTerm(loss=_GradientPenalty(shape, wgan, float(gp_weight)), data=triples,
                              generator_loss=zero_loss))
    game = Game(terms=tuple(terms), theta0=theta0, omega0=omega0, name=f"dcgan-{loss}")
    return DCGAN(with_weight_decay(game, weight_decay), unravel_g, unravel_d, latent_dim,
                 np.asarray(labels))


def dcgan_game(*, loss: str = "non-saturating", seed: int = 0, **options) -> Game:
    """The DCGAN on the 8×8 digits as a :class:`~gandyn.games.Game` (see the module docstring).

    ``seed`` initialises both networks and draws the latent set; ``options``
    are ``width`` (32), ``latent_dim`` (16), ``n_data`` (all 1797 digits),
    ``n_latent`` (2048), ``n_penalty`` (512), ``gp_weight`` (10),
    ``weight_decay`` (0) and ``data_seed`` (0, the subset when ``n_data`` is
    given). Example::

        game = dcgan_game(loss="wgan-gp", seed=0)
        game.d_theta + game.d_omega     # 337 794 parameters
    """
    return dcgan(loss=loss, seed=seed, **options).game
