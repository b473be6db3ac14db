"""Dirac-GAN (Mescheder, Geiger & Nowozin 2018) with its loss variants.

Generator: a point mass at ``θ ∈ R^d``. Discriminator: linear, ``D_ω(x) = ω·x``.
Real data: a finite set of points ``x_j`` (the Dirac at 0 when ``data_std = 0``;
a seeded Gaussian cloud around 0 otherwise, which makes the game stochastic).

    Φ(θ, ω) = mean_j f(D_ω(x_j)) + f(−D_ω(θ)) − (γ/2)|ω|²

with ``f(t) = −log(1 + e^{−t})`` (vanilla), ``f(t) = t`` (WGAN); for the
non-saturating loss the generator instead minimises ``−f(D_ω(θ))``. The
discriminator's L2 penalty ``γ`` (weight decay) makes the equilibrium
``(0, 0)`` locally attracting for gradient descent–ascent; without it
simultaneous GDA spirals outwards (Mescheder et al., §2).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .base import Game, LossTerm, zero_loss

__all__ = ["dirac_gan", "DIRAC_LOSSES"]

DIRAC_LOSSES = ("vanilla", "non-saturating", "wgan")


def _f(loss: str, t):
    """``f(t)``: ``t`` for WGAN, ``−log(1 + e^{−t})`` otherwise."""
    return t if loss == "wgan" else -jax.nn.softplus(-t)


# The losses are frozen dataclasses of their parameters, so equal games are equal (see games.base).
@dataclass(frozen=True)
class _Real:
    loss: str
    reg: float

    def __call__(self, theta, omega, x_j):
        return _f(self.loss, omega @ x_j) - 0.5 * self.reg * omega @ omega


@dataclass(frozen=True)
class _Fake:
    loss: str

    def __call__(self, theta, omega, _):
        return _f(self.loss, -(omega @ theta))


@dataclass(frozen=True)
class _FakeNonSaturating:
    loss: str

    def __call__(self, theta, omega, _):
        # Non-saturating: θ minimises −f(D(θ)) = softplus(−ωθ).
        return -_f(self.loss, omega @ theta)


def dirac_gan(
    loss: str = "vanilla",
    dim: int = 1,
    theta0: float | list = 1.0,
    omega0: float | list = 1.0,
    reg: float = 0.0,
    data_std: float = 0.0,
    n_data: int = 16,
    seed: int = 0,
) -> Game:
    """Dirac-GAN in ``dim`` dimensions; see the module docstring."""
    if loss not in DIRAC_LOSSES:
        raise ValueError(f"loss must be one of {DIRAC_LOSSES}, got {loss!r}")
    if dim < 1 or n_data < 1:
        raise ValueError("dim and n_data must be positive")
    if reg < 0 or data_std < 0:
        raise ValueError("reg and data_std must be non-negative")
    rng = np.random.default_rng(seed)
    x = data_std * rng.standard_normal((n_data, dim))
    if data_std > 0:
        x -= x.mean(axis=0)  # keep the equilibrium at exactly θ = 0

    # Two terms: the real samples and the (deterministic) generated point.
    ns = loss == "non-saturating"
    real = LossTerm(loss=_Real(loss, float(reg)), data=jnp.asarray(x),
                    generator_loss=zero_loss if ns else None)
    fake = LossTerm(loss=_Fake(loss), data=jnp.zeros((1, 1)),
                    generator_loss=_FakeNonSaturating(loss) if ns else None)
    th0 = np.broadcast_to(np.asarray(theta0, dtype=float), (dim,)).copy()
    om0 = np.broadcast_to(np.asarray(omega0, dtype=float), (dim,)).copy()
    return Game(terms=(real, fake), theta0=jnp.asarray(th0), omega0=jnp.asarray(om0),
                name=f"dirac-{loss}")
