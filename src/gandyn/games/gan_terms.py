"""The per-sample loss terms of a GAN, written once over a discriminator ``D`` and a generator ``G``.

A game's loss class supplies ``D(omega, x)`` (a scalar logit or critic value),
``G(theta, z)`` (one generated sample) and ``wgan``; mixing one of these terms
in gives the per-sample loss (the value the discriminator ascends):

* real term: ``D(x)`` (WGAN) or ``log σ(D(x)) = −softplus(−D(x))``;
* fake term: ``−D(G(z))`` (WGAN) or ``log(1 − σ(D(G(z)))) = −softplus(D(G(z)))``;
* non-saturating generator term: ``softplus(−D(G(z))) = −log σ(D(G(z)))``;
* gradient penalty (Gulrajani et al. 2017): ``−weight · (‖∇ₓD(x̂)‖ − 1)²`` at
  ``x̂ = ε x + (1 − ε) G(z)``, the generated sample held fixed.

The game's classes stay its own (``class _Real(RealTerm, _Loss)``), so losses of
different games never compare equal.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["RealTerm", "FakeTerm", "FakeNonSaturatingTerm", "GradientPenaltyTerm"]


class RealTerm:
    def __call__(self, theta, omega, x):
        return self.D(omega, x) if self.wgan else -jax.nn.softplus(-self.D(omega, x))


class FakeTerm:
    def __call__(self, theta, omega, z):
        logit = self.D(omega, self.G(theta, z))
        return -logit if self.wgan else -jax.nn.softplus(logit)


class FakeNonSaturatingTerm:
    def __call__(self, theta, omega, z):
        return jax.nn.softplus(-self.D(omega, self.G(theta, z)))


class GradientPenaltyTerm:
    """Needs a ``weight`` field beside ``D`` and ``G``; ``s`` holds ``x``, ``z`` and ``eps``."""

    def __call__(self, theta, omega, s):
        fake = jax.lax.stop_gradient(self.G(theta, s["z"]))
        x_hat = s["eps"] * s["x"] + (1 - s["eps"]) * fake
        grad_norm = jnp.linalg.norm(jax.grad(lambda x: self.D(omega, x))(x_hat))
        return -self.weight * (grad_norm - 1.0) ** 2
