"""SGA against exact references: Lemma 11 by enumeration, LQ exact moment recursions."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.lq_exact import sga_moments
from gandyn.analysis.test_functions import make_test_function
from gandyn.games import linear_quadratic, tanh_wgan
from gandyn.sde import b0
from gandyn.sga import SGAConfig, sga_step, simulate_sga


def _enumerated_one_step(game, scheme, eta, u):
    """Exact E[Δ] and E[ΔΔᵀ] of one B = 1 step by enumerating every batch."""
    th, om = game.split(u)
    sizes = [t.size for t in game.terms]
    batches = [tuple(jnp.array([i]) for i in idx) for idx in itertools.product(*map(range, sizes))]
    deltas = []
    if scheme == "alt":
        for bw, bt in itertools.product(batches, batches):
            om1 = om + eta * game.batch_gradients(th, om, bw)[1]
            th1 = th - eta * game.batch_gradients(th, om1, bt)[0]
            deltas.append(np.concatenate([th1 - th, om1 - om]))
    else:
        for b in batches:
            g_th, g_om = game.batch_gradients(th, om, b)
            deltas.append(np.concatenate([-eta * g_th, eta * g_om]))
    d = np.array(deltas)
    return d.mean(axis=0), d.T @ d / len(d)


@pytest.mark.parametrize("scheme", ["alt", "sml"])
def test_one_step_moments_follow_lemma_11(scheme):
    """Lemma 11: E Δ = η b0 + η²(−∇_ω g_θ · g_ω, 0) + O(η³) (ALT; SML has no η² term), and
    E ΔΔᵀ = η²(Σ/B + b0 b0ᵀ) + O(η³) with Σ block-diagonal for ALT, joint for SML."""
    game = tanh_wgan(n_latent=3, n_data=3, d_z=1, d_x=2, seed=0)
    u = game.u0 + jnp.array([0.2, -0.1, 0.3, 0.4])[: game.dim]
    th, om = game.split(u)
    field = np.asarray(b0(game, u))
    dt = game.d_theta
    mixed = np.asarray(jax.jit(jax.jacfwd(lambda o: game.gradients(th, o)[0]))(om)) @ field[dt:]
    Sigma = np.array(game.gradient_covariance(th, om))
    if scheme == "alt":
        Sigma[:dt, dt:] = 0
        Sigma[dt:, :dt] = 0
        second_order = np.concatenate([-mixed, np.zeros(game.d_omega)])
    else:
        second_order = np.zeros(game.dim)
    remainders = []
    for eta in (0.1, 0.05):
        m1, m2 = _enumerated_one_step(game, scheme, eta, u)
        r1 = m1 - (eta * field + eta**2 * second_order)
        r2 = m2 - eta**2 * (Sigma + np.outer(field, field))
        remainders.append((np.abs(r1).max(), np.abs(r2).max()))
    (a1, a2), (b1_, b2) = remainders
    if scheme == "alt":
        # O(η³): halving η divides the remainders by about 8.
        assert a1 / b1_ == pytest.approx(8, rel=0.25)
        assert a2 / b2 == pytest.approx(8, rel=0.25)
    else:
        # One SML step is η times one batch mean: both moments are exact, with the
        # joint covariance (the shared batch correlates the players' noise).
        assert max(a1, a2, b1_, b2) < 1e-14


def test_sga_step_samples_the_enumerated_law():
    game = tanh_wgan(n_latent=3, n_data=3, seed=1)
    eta = 0.3
    cfg = SGAConfig("alt", eta, batch_size=1)
    m1, m2 = _enumerated_one_step(game, "alt", eta, game.u0)
    n = 40_000
    keys = jax.random.split(jax.random.key(0), n)
    d = np.asarray(jax.jit(jax.vmap(lambda k: sga_step(game, cfg, k, game.u0)))(keys)) - np.asarray(game.u0)
    se = d.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(d.mean(axis=0) - m1) < 4.5 * se)


@pytest.mark.parametrize("scheme,n_disc,eta_omega", [("alt", 1, None), ("alt", 2, 0.15),
                                                     ("sml", 1, None), ("sml", 3, 0.05)])
def test_monte_carlo_sga_matches_exact_lq_moments(generic_lq_spec, scheme, n_disc, eta_omega):
    spec = generic_lq_spec
    game = linear_quadratic(spec)
    eta, B, n_steps, paths = 0.1, 2, 10, 20_000
    cfg = SGAConfig(scheme, eta, B, eta_omega=eta_omega, n_disc=n_disc)
    fns = [make_test_function(name, 2, 2) for name in ("sq-norm", "theta[0]*omega[1]", "omega[0]")]
    stats = simulate_sga(game, cfg, n_steps, paths, jax.random.key(1),
                         lambda u: jnp.stack([f(u) for f in fns]), record_every=5)
    means, seconds = sga_moments(spec, scheme, eta, n_steps, B, eta_omega=eta_omega, n_disc=n_disc)
    for i, step in enumerate(stats.steps):
        exact = np.array([f.expectation(means[step], seconds[step]) for f in fns])
        z = np.abs(stats.mean[i] - exact) / np.maximum(stats.standard_error[i], 1e-300)
        assert np.all((z < 4.5) | (np.abs(stats.mean[i] - exact) < 1e-12)), (step, z)


@pytest.mark.parametrize("kwargs", [dict(scheme="adam"), dict(eta_theta=0.0), dict(eta_theta=-1.0),
                                    dict(batch_size=0), dict(n_disc=0), dict(eta_omega=float("nan"))])
def test_sga_config_rejects_bad_values(kwargs):
    base = dict(scheme="alt", eta_theta=0.1, batch_size=4)
    base.update(kwargs)
    with pytest.raises(ValueError):
        SGAConfig(**base)
