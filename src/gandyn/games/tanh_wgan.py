"""The tanh WGAN of Cao & Guo §4.2.

Critic ``D_ω(x) = tanh(ω·x)``, generator ``G_θ(z) = tanh(θ z)`` (θ a
``d_x × d_z`` matrix, flattened), WGAN loss

    Φ(θ, ω) = mean_j D_ω(x_j) − mean_i D_ω(G_θ(z_i)) .

The loss is additive in the real and the fake sample, so the game has two
terms, one over the ``M`` data points and one over the ``N`` latent points;
drawing ``B`` i.i.d. pairs from the ``N × M`` product set is the same as
drawing ``B`` of each independently (see :mod:`gandyn.games.base`). All
coefficients are bounded with bounded derivatives, as Theorems 1, 2 and 6 ask.

Built-in data (seeded): latent ``z_i ~ U(0, 1)^{d_z}`` and real samples
``x_j = tanh(θ* z'_j)`` from a target generator ``θ*``, so the game has a
generator that matches the data.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .base import Game, LossTerm

__all__ = ["tanh_wgan"]


def real_term(theta, omega, x_j):
    """``D_ω(x_j) = tanh(ω·x_j)``."""
    return jnp.tanh(omega @ x_j)


def fake_term(theta, omega, z_i):
    """``−D_ω(G_θ(z_i))`` with ``G_θ(z) = tanh(θ z)``, θ a ``d_x × d_z`` matrix (``d_x = |ω|``)."""
    generated = jnp.tanh(theta.reshape(omega.shape[0], -1) @ z_i)
    return -jnp.tanh(omega @ generated)


def tanh_wgan(
    n_latent: int = 32,
    n_data: int = 32,
    d_z: int = 1,
    d_x: int = 1,
    theta_star: float = 1.5,
    theta0: float | list = 0.5,
    omega0: float | list = 0.5,
    seed: int = 0,
) -> Game:
    """The §4.2 tanh WGAN with ``n_latent × n_data`` data pairs."""
    if n_latent < 1 or n_data < 1 or d_z < 1 or d_x < 1:
        raise ValueError("n_latent, n_data, d_z and d_x must be positive")
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.0, 1.0, size=(n_latent, d_z))
    z_target = rng.uniform(0.0, 1.0, size=(n_data, d_z))
    theta_star_m = np.full((d_x, d_z), float(theta_star))
    x = np.tanh(z_target @ theta_star_m.T)

    th0 = np.broadcast_to(np.asarray(theta0, dtype=float), (d_x * d_z,)).copy()
    om0 = np.broadcast_to(np.asarray(omega0, dtype=float), (d_x,)).copy()
    return Game(
        terms=(LossTerm(loss=real_term, data=jnp.asarray(x)),
               LossTerm(loss=fake_term, data=jnp.asarray(z))),
        theta0=jnp.asarray(th0),
        omega0=jnp.asarray(om0),
        name="tanh-wgan",
    )
