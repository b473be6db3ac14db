"""Fluctuation–dissipation relations of SGA and its SDEs (Cao & Guo §4.3).

At stationarity every test function ``V`` has ``E[𝒜V] = 0`` for an SDE's
generator ``𝒜`` (eq. 16), and ``E[V(u') − V(u)] = 0`` for a discrete chain.
``V = Φ`` gives FDR1 and ``V = ½|u|²`` gives FDR2; each is reported as a left
side and three right sides, all expectations over the stationary law, with
``β⁻¹ = η/(2B)``, ``g = ∇Φ``, ``H = ∇²Φ``, Σ the per-sample covariance:

FDR1 (Theorem 7)::

    lhs          = E[ |g_θ|² − |g_ω|² ]
    rhs          = β⁻¹ E Tr(Σ_θ H_θθ + Σ_ω H_ωω) − (η/2) E[g_θᵀH_θθ g_θ + g_ωᵀH_ωω g_ω]
                   (the η term for ALT / ALT-SDE only: Theorem 7 as printed and its SML form)

FDR2 (Theorem 9)::

    lhs          = E[ θᵀg_θ − ωᵀg_ω ]
    rhs          = β⁻¹ E Tr(Σ_θ + Σ_ω)

``rhs_discrete`` keeps the discrete chain's own second-order terms
(docs/long_run.md; for SGD this is Yaida's discrete FDR). With the field
``G = (−g_θ, g_ω)``:

* SML (``Δu = η G^B``, one batch), exact for FDR2 on every game and for FDR1
  when Φ is quadratic::

      FDR1: β⁻¹ E Tr(H Σ_joint) + (η/2) E[Gᵀ H G]
      FDR2: β⁻¹ E Tr Σ + (η/2) E|g|²

* ALT (``ω' = ω + η g_ω^B``, then ``θ`` sees ``ω'`` through a second batch),
  exact when Φ is quadratic. With ``g_θ' = g_θ(θ, ω') = g_θ + η H_θω g_ω^B``,
  whose moments over the batch are ``E g_θ' = g_θ + η H_θω g_ω`` and
  ``E[g_θ'ᵀ P g_θ'] = E[g_θ']ᵀ P E[g_θ'] + (η²/B) Tr(H_ωθ P H_θω Σ_ω)``::

      FDR1: β⁻¹ Tr(Σ_θ H_θθ + Σ_ω H_ωω) + (η/2)(g_ωᵀH_ωω g_ω + E[g_θ'ᵀH_θθ g_θ'])
            − (E|g_θ'|² − |g_θ|²)
      FDR2: β⁻¹ Tr Σ + (η/2)(|g_ω|² + E|g_θ'|²) − η θᵀH_θω g_ω

  At stationarity ``g`` is ``O(√(η/B))``, so the ``η²`` terms of ``g_θ'`` are
  as large as the ``η`` corrections and must be kept.

``rhs_model`` is the exact identity for the dynamics actually simulated: for
an SDE with drift ``b`` and noise covariance ``(η/B)Σ_c``,
``E[𝒜V] = 0`` gives ``lhs = β⁻¹ E Tr(H Σ_c) + E[(b − b0)ᵀ∇V]`` (FDR1) and
``lhs = β⁻¹ E Tr Σ + E[(b − b0)ᵀ u]`` (FDR2); for a discrete scheme it is
``rhs_discrete``.

Every quantity is a function of the state, so Monte Carlo averages them
over stationary samples and the exact route integrates them against the
stationary Gaussian of a linear-quadratic game. Zero-sum games only.

The FDR of any update rule (:func:`update_fdr`). FDR2 above is for SGA. For
any optimiser, with ``Δ`` the update it applies (``θ' = θ + Δ``: SGD,
momentum, Adam, extragradient, with or without weight decay), stationarity
of ``E|θ|²`` gives, for each player separately (indeed for any subset of the
coordinates),

    E[O_L] = E[O_R],     O_L = −θ·Δ,     O_R = ½|Δ|²,

which for SGD (``Δ = −ηg``) is ``E[θ·g] = (η/2)E|g|²``: Yaida's first FDR (2019)
without momentum, and FDR2's ``lhs = rhs_discrete`` one player at a time. Per step
``O_L − O_R = −½(|θ'|² − |θ|²)``, so the relation holds on every bounded
stationary orbit, a deterministic cycle included (see
:mod:`gandyn.schedules.rule` for how the schedule tells the two apart).
"""

from __future__ import annotations

from typing import Literal, Optional

import equinox as eqx
import jax
import jax.numpy as jnp

from ..games.base import Game
from ..sde.coefficients import SDE_NAMES, b0, make_sde
from ..sga import SCHEMES

__all__ = ["FDRIntegrands", "value_and_hessian", "FDR_RELATIONS", "FDR_TERMS", "FDR_FIELDS",
           "FDR_GAPS", "MODELS", "StationaryModel", "fdr_integrands", "with_gaps", "player_labels",
           "update_fdr"]

#: The two relations and the four sides each is reported with.
FDR_RELATIONS = ("fdr1", "fdr2")
FDR_TERMS = ("lhs", "rhs", "rhs_discrete", "rhs_model")

#: The per-state quantities returned by :func:`fdr_integrands`, in order.
FDR_FIELDS = tuple(f"{r}_{t}" for r in FDR_RELATIONS for t in FDR_TERMS)

#: The paired differences ``lhs − rhs…`` appended by :func:`with_gaps`, in order.
FDR_GAPS = tuple(f"{r}_gap_{t}" for r in FDR_RELATIONS for t in FDR_TERMS[1:])

#: Stationary dynamics an FDR can be evaluated for: a scheme or one of its SDEs.
MODELS: tuple[str, ...] = SCHEMES + SDE_NAMES
StationaryModel = Literal[MODELS]  # type: ignore[valid-type]


def with_gaps(values: jax.Array) -> jax.Array:
    """``values`` (ordered as :data:`FDR_FIELDS`) followed by the gaps of :data:`FDR_GAPS`.

    The paired differences have much tighter Monte Carlo intervals than the
    difference of two separately estimated means.
    """
    index = {name: i for i, name in enumerate(FDR_FIELDS)}
    gaps = [values[index[f"{r}_lhs"]] - values[index[f"{r}_{t}"]]
            for r in FDR_RELATIONS for t in FDR_TERMS[1:]]
    return jnp.concatenate([values, jnp.stack(gaps)])


class FDRIntegrands(eqx.Module):
    """``u ->`` the FDR integrands and their gaps (:func:`with_gaps`), as one callable pytree.

    With ``with_state`` the state ``u`` and ``|u|²`` follow. A module (the game's
    arrays are leaves, the rest static) rather than a closure, so equal
    studies share one compiled chain (see :func:`gandyn.runs.run_many`).
    """

    game: Game
    eta: float = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)
    model: str = eqx.field(static=True)
    covariance: Optional[str] = eqx.field(static=True, default=None)
    with_state: bool = eqx.field(static=True, default=False)

    def __call__(self, u: jax.Array) -> jax.Array:
        values = with_gaps(fdr_integrands(self.game, u, self.eta, self.batch_size, self.model,
                                          self.covariance))
        if not self.with_state:
            return values
        return jnp.concatenate([values, u, jnp.atleast_1d(u @ u)])


@eqx.filter_jit
def value_and_hessian(f: FDRIntegrands, u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(f(u), ∇²f(u))`` of the integrands, compiled once per (game, settings, shape).

    Every integrand is quadratic on a linear-quadratic game, so under a
    Gaussian law ``N(m, S)`` its mean is ``f(m) + ½ Tr(∇²f · S)`` exactly.
    """
    return f(u), jax.hessian(f)(u)


@eqx.filter_jit  # one program, not one dispatch per operation, when called eagerly
def fdr_integrands(game: Game, u: jax.Array, eta: float, batch_size: int, model: str,
                   covariance: str | None = None) -> jax.Array:
    """The integrands of both FDRs at state ``u`` for ``model``, ordered as :data:`FDR_FIELDS`.

    ``model`` is ``alt``, ``sml`` or an SDE name (then ``covariance`` picks
    its noise; the default is the one :func:`gandyn.sde.make_sde` picks).
    Uses a dense Hessian and Σ: games of up to a few hundred parameters.
    Compiled once per game structure and settings (a Python ``eta`` is part of
    the program; an array ``eta`` is traced).
    """
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if not game.zero_sum:
        raise ValueError("the FDRs are stated for a zero-sum game (one loss Φ)")
    beta_inv = eta / (2.0 * batch_size)
    dt = game.d_theta
    theta, omega = game.split(u)
    g_theta, g_omega = game.gradients(theta, omega)
    grad = jnp.concatenate([g_theta, g_omega])
    field = jnp.concatenate([-g_theta, g_omega])
    H = jax.hessian(lambda v: game.value(*game.split(v)))(u)
    H_tt, H_to, H_oo = H[:dt, :dt], H[:dt, dt:], H[dt:, dt:]
    Sigma = game.gradient_covariance(theta, omega)  # covariance of the per-sample field G_k
    Sigma_block = Sigma.at[:dt, dt:].set(0.0).at[dt:, :dt].set(0.0)
    alt_like = model in ("alt", "alt-sde")

    fdr1_lhs = g_theta @ g_theta - g_omega @ g_omega
    noise_block = beta_inv * jnp.trace(Sigma_block @ H)
    eta_quad = 0.5 * eta * (g_theta @ H_tt @ g_theta + g_omega @ H_oo @ g_omega)
    fdr1_rhs = noise_block - (eta_quad if alt_like else 0.0)
    fdr2_lhs = theta @ g_theta - omega @ g_omega
    fdr2_rhs = beta_inv * jnp.trace(Sigma)

    if alt_like:
        S_oo = Sigma[dt:, dt:]
        mean_gt = g_theta + eta * H_to @ g_omega  # E g_θ(θ, ω')

        def second(P):  # E[g_θ'ᵀ P g_θ'] over the discriminator's batch
            return mean_gt @ P @ mean_gt + eta**2 / batch_size * jnp.trace(H_to.T @ P @ H_to @ S_oo)

        sq_gt = second(jnp.eye(dt))
        fdr1_discrete = (noise_block + 0.5 * eta * (g_omega @ H_oo @ g_omega + second(H_tt))
                         - (sq_gt - g_theta @ g_theta))
        fdr2_discrete = (fdr2_rhs + 0.5 * eta * (g_omega @ g_omega + sq_gt)
                         - eta * theta @ H_to @ g_omega)
    else:
        fdr1_discrete = beta_inv * jnp.trace(Sigma @ H) + 0.5 * eta * field @ H @ field
        fdr2_discrete = fdr2_rhs + 0.5 * eta * grad @ grad

    if model in SDE_NAMES:
        sde = make_sde(game, model, eta, batch_size, covariance)
        noise = Sigma if sde.covariance == "joint" else Sigma_block
        extra_drift = sde.drift(u) - b0(game, u)
        fdr1_model = beta_inv * jnp.trace(noise @ H) + extra_drift @ grad
        fdr2_model = fdr2_rhs + extra_drift @ u
    else:
        fdr1_model, fdr2_model = fdr1_discrete, fdr2_discrete
    return jnp.stack([fdr1_lhs, fdr1_rhs, fdr1_discrete, fdr1_model,
                      fdr2_lhs, fdr2_rhs, fdr2_discrete, fdr2_model])


def player_labels(params, players=None) -> list:
    """The player each leaf of ``params`` belongs to, in ``jax.tree_util.tree_leaves`` order.

    ``players`` is ``None`` (one player, ``"all"``), a name (one player of that
    name), a pytree of names with the structure of ``params`` or a prefix of it
    (``("generator", "discriminator")`` for ``params = (θ, ω)``, whatever
    ``θ`` and ``ω`` are), or a function of ``params`` returning one (as for
    ``optax.multi_transform``).
    """
    n_leaves = len(jax.tree_util.tree_leaves(params))
    labels = players(params) if callable(players) else players
    if labels is None or isinstance(labels, str):
        return [labels or "all"] * n_leaves
    try:
        full = jax.tree_util.tree_map(
            lambda label, sub: jax.tree_util.tree_map(lambda _: label, sub), labels, params)
    except ValueError as err:
        raise ValueError("players must have the structure of params or of a prefix of it: "
                         f"{err}") from None
    leaves = jax.tree_util.tree_leaves(full)
    if len(leaves) != n_leaves or not all(isinstance(x, str) for x in leaves):
        raise ValueError("players must give every leaf of params a name (a string)")
    return leaves


def update_fdr(params, updates, players=None) -> dict:
    """Per player, the two sides ``(O_L, O_R) = (−θ·Δ, ½|Δ|²)`` of the FDR of any update.

    ``params`` are the parameters *before* the update and ``updates`` the
    update ``Δ`` that is applied to them (``optax.apply_updates(params,
    updates)``); ``players`` as in :func:`player_labels`. Returns
    ``{name: (O_L, O_R)}``; at stationarity each player's ``E O_L = E O_R``
    (see the module docstring). The optax transformation
    :func:`gandyn.schedules.scale_by_fdr` tests this relation as it trains.
    """
    labels = player_labels(params, players)
    leaves_p = jax.tree_util.tree_leaves(params)
    leaves_u = jax.tree_util.tree_leaves(updates)
    if len(leaves_u) != len(leaves_p):
        raise ValueError("updates must have the structure of params")
    out = {}
    for label, p, u in zip(labels, leaves_p, leaves_u):
        o_left, o_right = out.get(label, (0.0, 0.0))
        out[label] = (o_left - jnp.vdot(p, u).real, o_right + 0.5 * jnp.vdot(u, u).real)
    return out
