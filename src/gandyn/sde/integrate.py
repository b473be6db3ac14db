"""Fixed-step integrators for the SDEs of SGA, with Richardson extrapolation.

One *interval* is one SGA step, of length ``η``; it is split into ``substeps``
steps of size ``h = η / substeps``, each one of

* ``euler`` (Euler–Maruyama)::

      u ← u + b(u) h + σ(u) ΔW,   ΔW ~ N(0, h I);

* ``heun`` (drift predictor–corrector, the default)::

      ū = u + b(u) h + σ(u) ΔW,   u ← u + ½(b(u) + b(ū)) h + σ(u) ΔW.

Euler–Maruyama has weak order 1 in ``h``. ``heun`` evaluates σ at ``u`` only,
so it stays consistent with the Itô SDE; it is weak order 2 for additive
noise (Kloeden & Platen, eq. 15.1.2 with constant σ) and keeps order 1 for
state-dependent σ, whose error terms carry the small factor ``η/B`` here, so
its error constant is far smaller than Euler's for the SDEs of SGA. The
integrator's own error must sit far below the modelling error being
measured.
With ``richardson=True`` each run carries two solutions on the *same*
Brownian path, one with ``2·substeps`` and one with ``substeps`` steps (the
coarse increments are sums of pairs of fine ones), and observables are
evaluated as the Talay–Tubaro extrapolation ``2 f(fine) − f(coarse)``, whose
bias is ``O(h²)``. Sharing the path keeps the extrapolation's variance close
to that of a single solution.
"""

from __future__ import annotations

from typing import Callable, Literal, get_args

import equinox as eqx
import jax
import jax.numpy as jnp

from ..runs import RunStatistics, run_many
from .coefficients import SDE

__all__ = ["Integrator", "INTEGRATORS", "SDEStep", "heun_step", "euler_maruyama_step", "make_sde_step",
           "richardson_observables", "simulate_sde"]


#: The fixed-step integrators: drift predictor–corrector (the default) and Euler–Maruyama.
Integrator = Literal["heun", "euler"]
INTEGRATORS: tuple[str, ...] = get_args(Integrator)


def euler_maruyama_step(sde: SDE, u: jax.Array, dw: tuple[jax.Array, ...], h) -> jax.Array:
    """``u + b(u) h + σ(u) ΔW``."""
    drift, noise = sde.drift_and_diffusion_times(u, dw)
    return u + drift * h + noise


def heun_step(sde: SDE, u: jax.Array, dw: tuple[jax.Array, ...], h) -> jax.Array:
    """``u + ½(b(u) + b(ū)) h + σ(u) ΔW`` with ``ū = u + b(u) h + σ(u) ΔW``."""
    drift, noise = sde.drift_and_diffusion_times(u, dw)
    predictor = u + drift * h + noise
    return u + 0.5 * (drift + sde.drift(predictor)) * h + noise


class SDEStep(eqx.Module):
    """``step(key, state) -> state`` over one interval of length ``sde.eta``.

    The state is ``u`` (shape ``(dim,)``), or ``(fine, coarse)`` stacked
    (shape ``(2, dim)``) when ``richardson`` is set. A callable pytree whose
    learning rate and number of sub-steps are traced, so
    :func:`gandyn.runs.run_many` compiles one program per (SDE kind, game,
    integrator, shapes) and reuses it across step sizes and calls.
    """

    sde: SDE
    substeps: jax.Array  # traced, like sde.eta: one compilation for every step size
    richardson: bool = eqx.field(static=True)
    integrator: str = eqx.field(static=True)

    def __call__(self, key, state):
        sde = self.sde
        one_step = heun_step if self.integrator == "heun" else euler_maruyama_step
        h = sde.eta / self.substeps
        if not self.richardson:
            def body(i, u):
                return one_step(sde, u, sde.sample_noise(jax.random.fold_in(key, i), h), h)
            return jax.lax.fori_loop(0, self.substeps, body, state)

        h_fine = h / 2

        def body(i, state):
            fine, coarse = state[0], state[1]
            dw1 = sde.sample_noise(jax.random.fold_in(key, 2 * i), h_fine)
            dw2 = sde.sample_noise(jax.random.fold_in(key, 2 * i + 1), h_fine)
            fine = one_step(sde, fine, dw1, h_fine)
            # The fine solution's second step and the coarse step (the sum of both
            # increments) as one vmapped step: two copies of the step to compile, not three.
            dw = tuple(jnp.stack([b, a + b]) for a, b in zip(dw1, dw2))
            return jax.vmap(one_step, (None, 0, 0, 0))(sde, jnp.stack([fine, coarse]), dw,
                                                       jnp.stack([h_fine, h]))

        return jax.lax.fori_loop(0, self.substeps, body, state)


def make_sde_step(sde: SDE, substeps: int = 8, richardson: bool = False,
                  integrator: str = "heun") -> SDEStep:
    """``step(key, state) -> state`` over one interval of length ``sde.eta`` (see :class:`SDEStep`)."""
    if not (isinstance(substeps, int) and substeps >= 1):
        raise ValueError(f"substeps must be a positive integer, got {substeps!r}")
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {INTEGRATORS}, got {integrator!r}")
    return SDEStep(sde, jnp.asarray(substeps, jnp.int32), bool(richardson), integrator)


class _Extrapolated(eqx.Module):
    observables: Callable = eqx.field(static=True)
    with_correction: bool = eqx.field(static=True, default=False)

    def __call__(self, state):
        fine, coarse = self.observables(state[0]), self.observables(state[1])
        estimate = 2.0 * fine - coarse
        return jnp.concatenate([estimate, fine - coarse]) if self.with_correction else estimate


def richardson_observables(observables: Callable[[jax.Array], jax.Array],
                           with_correction: bool = False):
    """``state -> 2 f(fine) − f(coarse)`` for a stacked ``(fine, coarse)`` state.

    With ``with_correction`` the correction ``f(fine) − f(coarse)`` follows the
    estimate: it estimates the fine solution's own integrator error.
    """
    return _Extrapolated(observables, with_correction)


def simulate_sde(
    sde: SDE,
    n_steps: int,
    n_runs: int,
    key: jax.Array,
    observables: Callable[[jax.Array], jax.Array],
    *,
    substeps: int = 8,
    richardson: bool = False,
    integrator: str = "heun",
    u0=None,
    raw_observables: bool = False,
    **run_options,
) -> RunStatistics:
    """Simulate ``n_runs`` paths of ``sde`` over ``n_steps`` intervals of length ``η``.

    Statistics are recorded at the SGA grid times ``t = kη`` (every
    ``record_every`` intervals), so they compare one-to-one with
    :func:`gandyn.sga.simulate_sga`. With ``richardson`` the observables are
    extrapolated, ``2 f(fine) − f(coarse)``, unless ``raw_observables`` is set,
    in which case ``observables`` receives the stacked ``(fine, coarse)`` state.
    """
    u0 = sde.game.u0 if u0 is None else jnp.asarray(u0)
    step = make_sde_step(sde, substeps, richardson, integrator)
    if richardson:
        obs = observables if raw_observables else richardson_observables(observables)
        return run_many(step, jnp.stack([u0, u0]), n_steps, n_runs, key, obs, **run_options)
    return run_many(step, u0, n_steps, n_runs, key, observables, **run_options)
