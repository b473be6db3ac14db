"""Drift and diffusion of the SDE approximations of SGA (Cao & Guo §3).

With the joint state ``u = (θ, ω)`` and the game's field

    b0(u) = (−g_θ(u), g_ω(u))                                     (eq. 9)

the three SDEs are ``du = b(u) dt + σ(u) dW`` with

* ``sml-sde``  (eq. 7):  ``b = b0``; weak order 1 with respect to SML.
* ``alt-sde``  (eq. 8):  ``b = b0 + η b1``,
  ``b1 = −½ (∇b0) b0 − (∇_ω g_θ · g_ω, 0)``                       (eq. 10)
  weak order 2 with respect to ALT.
* ``sml2-sde`` (eq. 14): ``b = b0 − (η/2)(∇b0) b0``; weak order 2 with respect
  to SML *with the joint covariance*.

``(∇b0) b0`` and ``∇_ω g_θ · g_ω`` are Jacobian-vector products of the field:
no Hessian is ever built.

The diffusion satisfies ``σσᵀ = (η/B) Σ`` (eq. 11, ``β = 2B/η``) where Σ is
the covariance of the per-sample field ``G_k = (−g_θ^k, g_ω^k)``:

* ``blockdiag``: Σ's θθ and ωω blocks only, as printed in eq. (11); right for
  ALT, whose two players see independent batches.
* ``joint``: the full Σ, off-diagonal block included; right for SML, whose
  two players share one batch.

A sample of ``σ(u) ΔW`` never forms Σ: with ``n`` per-sample fields of a term,
``σ = (η/(B n))^{1/2} [G_1 − Ḡ, …, G_n − Ḡ]`` is ``dim × n`` and

    σ ΔW = (η/(B n))^{1/2} Σ_k (ΔW_k − mean ΔW) G_k ,

which is the field of the weighted loss ``Σ_k (ΔW_k − mean ΔW) J_k``: one
backward pass. Independent terms add their contributions, each with its own
Brownian coordinates. The block-diagonal noise uses independent coordinates
for the two players.

That is the default noise sampler, ``noise="samples"``: ``n`` normals per term
(per player for ``blockdiag``) and sub-step, and no ``dim × dim`` matrix ever.
When the state is small beside the data (``dim ≪ n``: the tanh WGAN has
``dim = 2`` and 64 samples), ``noise="covariance"`` draws ``dim`` normals
instead and multiplies them by the symmetric square root of ``(η/B) Σ(u)``
(from an eigendecomposition, so a singular Σ is fine). The law of ``σ(u) ΔW``
is the same Gaussian, ``N(0, h (η/B) Σ(u))``, so the SDE is the same (exact in
law); the paths for a given key differ. It costs ``O(n·dim + dim³)`` per
sub-step: use it for small games only.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import equinox as eqx
import jax
import jax.numpy as jnp

from ..games.base import Game

__all__ = ["SDE", "make_sde", "SDEName", "Covariance", "NoiseSampler", "NOISE_SAMPLERS", "SDE_NAMES", "COVARIANCES", "default_covariance", "b0", "b1",
           "b0_jacobian_b0"]

#: The SDEs of SGA: SML-SDE (eq. 7), ALT-SDE (drift b0 + η b1) and the order-2 SML model (eq. 14).
SDEName = Literal["sml-sde", "alt-sde", "sml2-sde"]
#: The noise covariance: block-diagonal (independent batches, ALT) or joint (a shared batch, SML).
Covariance = Literal["blockdiag", "joint"]
#: How ``σ(u) ΔW`` is drawn: per-sample Brownian coordinates, or ``dim`` normals times ``((η/B)Σ)^{1/2}``.
NoiseSampler = Literal["samples", "covariance"]
NOISE_SAMPLERS: tuple[str, ...] = get_args(NoiseSampler)
SDE_NAMES: tuple[str, ...] = get_args(SDEName)
COVARIANCES: tuple[str, ...] = get_args(Covariance)

# Which discrete scheme each SDE approximates, and to which weak order.
SDE_TARGET = {"sml-sde": ("sml", 1), "alt-sde": ("alt", 2), "sml2-sde": ("sml", 2)}


def default_covariance(sde_name: str) -> str:
    """The covariance that is right for the scheme the SDE models."""
    return "blockdiag" if SDE_TARGET[sde_name][0] == "alt" else "joint"


# b0, b1 and the SDE's coefficients are compiled as one program each (eqx.filter_jit), so an
# eager call (outside jit) is one dispatch, not one compilation per operation; inside a jitted
# program they are inlined.
@eqx.filter_jit
def b0(game: Game, u: jax.Array) -> jax.Array:
    """The field ``b0(u) = (−g_θ, g_ω)`` of eq. (9)."""
    g_theta, g_omega = game.gradients(*game.split(u))
    return game.join(-g_theta, g_omega)


@eqx.filter_jit
def b0_jacobian_b0(game: Game, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(b0(u), (∇b0)(u) b0(u))`` by one forward-mode JVP."""
    field = lambda v: b0(game, v)
    value, tangent_fn = jax.linearize(field, u)
    return value, tangent_fn(value)


@eqx.filter_jit
def b1(game: Game, u: jax.Array) -> jax.Array:
    """``b1 = −½(∇b0)b0 − (∇_ω g_θ · g_ω, 0)`` of eq. (10), by JVPs."""
    value, jb = b0_jacobian_b0(game, u)
    theta, omega = game.split(u)
    g_omega = game.split(value)[1]
    g_theta_of_omega = lambda om: game.gradients(theta, om)[0]
    _, mixed = jax.jvp(g_theta_of_omega, (omega,), (g_omega,))
    return -0.5 * jb - game.join(mixed, jnp.zeros_like(omega))


class SDE(eqx.Module):
    """``du = b(u) dt + σ(u) dW``: one of the SDE approximations of SGA on ``game``.

    Build with :func:`make_sde`. ``eta`` is the learning rate (one SGA step is
    time ``eta``; a scalar array, so it is traced), ``batch_size`` the
    minibatch size ``B``.
    """

    game: Game
    eta: jax.Array  # traced: SDEs that differ in η alone share one compilation
    name: str = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)
    covariance: str = eqx.field(static=True)
    noise: str = eqx.field(static=True, default="samples")

    @eqx.filter_jit
    def drift(self, u: jax.Array) -> jax.Array:
        """``b(u)`` of the SDE ``self.name``."""
        if self.name == "sml-sde":
            return b0(self.game, u)
        if self.name == "alt-sde":
            return b0(self.game, u) + self.eta * b1(self.game, u)
        value, jb = b0_jacobian_b0(self.game, u)
        return value - 0.5 * self.eta * jb

    @property
    def noise_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shape of the Brownian increment for each term of the game."""
        if self.noise == "covariance":
            return ((self.game.dim,),)
        per_player = 2 if self.covariance == "blockdiag" else 1
        return tuple((per_player, t.size) for t in self.game.terms)

    @property
    def noise_dim(self) -> int:
        return sum(math.prod(shape) for shape in self.noise_shapes)

    @eqx.filter_jit  # dense and for small games: one program when called eagerly
    def noise_covariance(self, u: jax.Array) -> jax.Array:
        """``σσᵀ = (η/B) Σ(u)``, dense ``(dim, dim)``; Σ's off-diagonal block dropped for ``blockdiag``."""
        game = self.game
        cov = game.gradient_covariance(*game.split(u))
        if self.covariance == "blockdiag":
            dt = game.d_theta
            cov = cov.at[:dt, dt:].set(0.0).at[dt:, :dt].set(0.0)
        return (self.eta / self.batch_size) * cov

    def covariance_root(self, u: jax.Array) -> jax.Array:
        """The symmetric square root of :meth:`noise_covariance` (eigenvalues clipped at 0)."""
        w, v = jnp.linalg.eigh(self.noise_covariance(u))
        return (v * jnp.sqrt(jnp.maximum(w, 0.0))) @ v.T

    @eqx.filter_jit
    def diffusion_times(self, u: jax.Array, dw: tuple[jax.Array, ...]) -> jax.Array:
        """``σ(u) ΔW``: one weighted backward pass per term (no Σ formed), or ``Σ^{1/2} ΔW``."""
        if self.noise == "covariance":
            return self.covariance_root(u) @ dw[0]
        return self._pullbacks(u, dw, with_field=False)[1]

    @eqx.filter_jit
    def drift_and_diffusion_times(self, u: jax.Array, dw: tuple[jax.Array, ...]):
        """``(b(u), σ(u) ΔW)``, sharing the forward pass of the per-sample losses where it can.

        For ``sml-sde`` with the default sampler the field ``b0`` and the noise
        are both vector–Jacobian products of the same per-sample losses (with
        the cotangents ``1/n`` and the centred ``ΔW_k``), so one forward pass
        per term and one batched backward pass give both. The other SDEs'
        drifts take Jacobian-vector products of the field, computed apart.
        """
        if self.name == "sml-sde" and self.noise == "samples":
            return self._pullbacks(u, dw, with_field=True)
        return self.drift(u), self.diffusion_times(u, dw)

    def _pullbacks(self, u, dw, with_field: bool):
        """``(b0(u) or None, σ(u) ΔW)`` from one forward pass per term (two if non-zero-sum)."""
        game = self.game
        theta, omega = game.split(u)
        field_theta, field_omega = jnp.zeros_like(theta), jnp.zeros_like(omega)
        out_theta, out_omega = jnp.zeros_like(theta), jnp.zeros_like(omega)
        for term, w in zip(game.terms, dw):
            w = w - jnp.mean(w, axis=-1, keepdims=True)
            w_theta, w_omega = (w[0], w[1]) if self.covariance == "blockdiag" else (w[0], w[0])
            scale = jnp.sqrt(self.eta / (self.batch_size * term.size))
            # Σ_k c_k ∇J_k is the vector–Jacobian product of the per-sample losses with c:
            # c = ΔW (centred) for the noise, c = 1/n for the field's term mean.
            per_sample = lambda th, om, loss: jax.vmap(loss, (None, None, 0))(th, om, term.data)
            _, pullback_d = jax.vjp(lambda th, om: per_sample(th, om, term.loss), theta, omega)
            if term.generator_loss is None:
                pullback_g = pullback_d  # zero-sum term: one forward pass serves both players
            else:
                _, pullback_g = jax.vjp(lambda th, om: per_sample(th, om, term.generator_loss),
                                        theta, omega)
            if with_field:
                mean = jnp.full_like(w_theta, 1.0 / term.size)
                g_theta = jax.vmap(pullback_g)(jnp.stack([mean, w_theta]))[0]
                g_omega = jax.vmap(pullback_d)(jnp.stack([mean, w_omega]))[1]
                field_theta, field_omega = field_theta - g_theta[0], field_omega + g_omega[0]
                out_theta, out_omega = out_theta - scale * g_theta[1], out_omega + scale * g_omega[1]
            else:
                out_theta = out_theta - scale * pullback_g(w_theta)[0]
                out_omega = out_omega + scale * pullback_d(w_omega)[1]
        field = game.join(field_theta, field_omega) if with_field else None
        return field, game.join(out_theta, out_omega)

    @eqx.filter_jit  # dense and for small games: one program when called eagerly
    def diffusion_matrix(self, u: jax.Array) -> jax.Array:
        """Dense ``σ(u)``, shape ``(dim, noise_dim)``, for small games, tests and diffrax."""
        flat = jnp.eye(self.noise_dim)

        def column(e):
            return self.diffusion_times(u, self.unflatten_noise(e))

        return jax.vmap(column, out_axes=1)(flat)

    def unflatten_noise(self, flat: jax.Array) -> tuple[jax.Array, ...]:
        parts, start = [], 0
        for shape in self.noise_shapes:
            size = math.prod(shape)
            parts.append(flat[start : start + size].reshape(shape))
            start += size
        return tuple(parts)

    def sample_noise(self, key: jax.Array, dt) -> tuple[jax.Array, ...]:
        """Brownian increments over a step ``dt``, one array per term."""
        keys = jax.random.split(key, len(self.noise_shapes))
        return tuple(jnp.sqrt(dt) * jax.random.normal(k, s) for k, s in zip(keys, self.noise_shapes))


def make_sde(
    game: Game,
    name: SDEName,
    eta: float,
    batch_size: int,
    covariance: Covariance | None = None,
    noise: NoiseSampler = "samples",
) -> SDE:
    """Build one of the SDE approximations of SGA on ``game`` (see module docstring).

    ``covariance`` defaults to the one that is right for the scheme the SDE
    models: ``blockdiag`` for ``alt-sde``, ``joint`` for the SML SDEs.
    ``noise`` picks how ``σ(u) ΔW`` is drawn (see the module docstring): the
    same SDE either way.
    """
    if name not in SDE_NAMES:
        raise ValueError(f"sde must be one of {SDE_NAMES}, got {name!r}")
    if covariance is None:
        covariance = default_covariance(name)
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {COVARIANCES}, got {covariance!r}")
    if not (eta > 0 and eta < float("inf")):
        raise ValueError(f"eta must be positive and finite, got {eta!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if noise not in NOISE_SAMPLERS:
        raise ValueError(f"noise must be one of {NOISE_SAMPLERS}, got {noise!r}")
    return SDE(game=game, name=name, eta=jnp.asarray(float(eta)), batch_size=int(batch_size),
               covariance=covariance, noise=noise)
