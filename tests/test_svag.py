"""SVAG chains (gandyn.sde.svag, gandyn.analysis.svag) against independent references.

* l = 1 is plain SGA, step for step, for the same key (both schemes, n_disc 1 and 2);
* c± and the noise amplification by enumerating every pair of batches of a small data set:
  the combined field has the minibatch field's mean and l·Σ/B as covariance;
* the b1 estimate from two independent batches is unbiased (enumeration);
* exact SVAG moments on a linear-quadratic game against a NumPy recursion whose noise
  moments come from enumeration (not from the l·Σ/B formula), and the JAX chain against them
  by Monte Carlo;
* the exact error against the OU limit falls as 1/l (fitted slope), both schemes; Richardson
  in 1/l removes most of it;
* on the tanh WGAN, SVAG at large l agrees with the per-sample SDE within Monte Carlo intervals.
"""

import itertools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.lq_exact import sde_moments
from gandyn.analysis.svag import (exact_svag_errors, fit_order_in_l, richardson_in_l,
                                  svag_moments)
from gandyn.analysis.test_functions import make_test_function
from gandyn.games import linear_quadratic, tanh_wgan
from gandyn.games.linear_quadratic import exact_data
from gandyn.runs import Z95
from gandyn.sde import b0, b1, make_sde, simulate_sde
from gandyn.sde.svag import (make_svag_step, minibatch_b1, simulate_svag, svag_coefficients,
                             svag_gradients, svag_step)
from gandyn.sga import SGAConfig, make_sga_step, sga_step, simulate_sga

# The tests' own programs run a few steps each: compiled without LLVM's optimisations, which
# take most of their compile time and change nothing they compare (results agree to 1e-17).
O0 = {"xla_backend_optimization_level": 0}


@pytest.mark.parametrize("l", [1, 2, 3, 16, 2.5])
def test_coefficients_keep_the_mean_and_multiply_the_variance_by_l(l):
    c_plus, c_minus = svag_coefficients(l)
    assert c_plus + c_minus == pytest.approx(1.0, abs=1e-15)
    assert c_plus**2 + c_minus**2 == pytest.approx(l, rel=1e-14)
    assert c_plus == pytest.approx((1 + math.sqrt(2 * l - 1)) / 2)


def test_coefficients_reject_l_below_one():
    with pytest.raises(ValueError, match="l must be"):
        svag_coefficients(0.5)
    with pytest.raises(ValueError, match="positive integer"):
        make_svag_step(tanh_wgan(), SGAConfig("alt", 0.1, 2), 0)


@pytest.mark.parametrize("scheme,n_disc", [("alt", 2), ("sml", 1)])
def test_l_equal_one_is_sga_step_for_step(scheme, n_disc):
    """Same key, same batches, same updates: the paths agree to float64 rounding at every step
    (XLA may fuse ``1·g + 0·g'`` differently, so 1 ulp is allowed), and a chain with other keys
    does not (the comparison can fail)."""
    game = tanh_wgan(n_latent=8, n_data=8, d_z=2, d_x=2, seed=1)
    cfg = SGAConfig(scheme, eta_theta=0.3, batch_size=2, eta_omega=0.2, n_disc=n_disc)
    sga = eqx.filter_jit(make_sga_step(game, cfg), compiler_options=O0)
    svag = eqx.filter_jit(make_svag_step(game, cfg, 1), compiler_options=O0)
    k0 = jax.random.key(7)
    np.testing.assert_allclose(svag_step(game, cfg, 1, k0, game.u0),
                               sga_step(game, cfg, k0, game.u0), rtol=0, atol=1e-14)
    u = v = w = game.u0
    for t in range(12):
        k = jax.random.fold_in(k0, t)
        u, v = sga(k, u), svag(k, v)
        w = svag(jax.random.fold_in(jax.random.key(8), t), w)
        np.testing.assert_allclose(v, u, rtol=0, atol=1e-14)
    assert np.max(np.abs(np.asarray(w - u))) > 1e-3


def _first_and_norm(u):
    return jnp.array([u[0], u @ u])


# The Monte Carlo runs of the linear-quadratic game: one compiled chain per scheme, shared by
# every test below that runs it (l and η are traced; the game, f and the paths are the same).
LQ_PATHS = 20_000


def test_l_equal_one_run_statistics_are_sga_statistics(generic_lq_spec):
    game = linear_quadratic(generic_lq_spec)
    cfg = SGAConfig("alt", eta_theta=0.2, batch_size=2)
    f = _first_and_norm
    a = simulate_sga(game, cfg, 5, LQ_PATHS, jax.random.key(3), f)
    b = simulate_svag(game, cfg, 1, 5, LQ_PATHS, jax.random.key(3), f)
    np.testing.assert_allclose(b.mean, a.mean, rtol=0, atol=1e-13)
    np.testing.assert_allclose(b.variance, a.variance, rtol=0, atol=1e-13)


def _all_batches(game, batch_size):
    """Every minibatch (a tuple of index arrays, one per term) with ``batch_size`` draws per term."""
    per_term = [list(itertools.product(range(t.size), repeat=batch_size)) for t in game.terms]
    return [tuple(np.array(idx) for idx in combo) for combo in itertools.product(*per_term)]


def _stack(batches):
    return tuple(jnp.asarray(np.stack([b[i] for b in batches])) for i in range(len(batches[0])))


@eqx.filter_jit(compiler_options=O0)
def _combined(game, th, om, b1_idx, b2_idx, l):
    """The combined field for every pair of batches (l traced: one program per batch size)."""
    return jax.vmap(lambda a, b: svag_gradients(game, th, om, a, b, l))(b1_idx, b2_idx)


@pytest.mark.parametrize("l", [1, 3, 16])
@pytest.mark.parametrize("batch_size", [1, 2])
def test_combined_field_by_enumeration(l, batch_size):
    """E[c₊ĝ_{B1} + c₋ĝ_{B2}] = g and Cov = l·Σ/B over every pair of independent batches."""
    game = tanh_wgan(n_latent=3, n_data=2, d_z=1, d_x=2, seed=2)
    u = game.u0 + jnp.array([0.3, -0.2, 0.1, 0.4])[: game.dim]
    th, om = game.split(u)
    batches = _all_batches(game, batch_size)
    pairs = list(itertools.product(range(len(batches)), repeat=2))
    b1_idx = _stack([batches[i] for i, _ in pairs])
    b2_idx = _stack([batches[j] for _, j in pairs])
    g_th, g_om = _combined(game, th, om, b1_idx, b2_idx, float(l))
    fields = np.concatenate([-np.asarray(g_th), np.asarray(g_om)], axis=1)
    full_th, full_om = game.gradients(th, om)
    np.testing.assert_allclose(fields.mean(0), np.concatenate([-full_th, full_om]),
                               rtol=1e-12, atol=1e-13)
    # Σ from the per-sample fields in NumPy: terms are independent, so their covariances add.
    sigma = sum(np.cov(np.asarray(f).T, bias=True) for f in game.per_sample_fields(th, om))
    centred = fields - fields.mean(0)
    np.testing.assert_allclose(centred.T @ centred / len(fields), l * sigma / batch_size,
                               rtol=1e-10, atol=1e-13)


def test_minibatch_b1_is_unbiased_by_enumeration():
    """Jacobians from batch A, vectors from an independent batch C: the mean is b1 exactly."""
    game = tanh_wgan(n_latent=3, n_data=3, d_z=1, d_x=2, seed=0)
    u = game.u0 + jnp.array([0.2, -0.1, 0.3, 0.4])[: game.dim]
    batches = _all_batches(game, 1)
    pairs = list(itertools.product(range(len(batches)), repeat=2))
    a = _stack([batches[i] for i, _ in pairs])
    c = _stack([batches[j] for _, j in pairs])
    estimates = jax.jit(jax.vmap(lambda x, y: minibatch_b1(game, u, x, y)),
                        compiler_options=O0)(a, c)
    np.testing.assert_allclose(np.asarray(estimates).mean(0), b1(game, u), rtol=1e-11,
                               atol=1e-13)
    # the same batch for both factors is biased: the comparison above can fail
    same = jax.jit(jax.vmap(lambda x: minibatch_b1(game, u, x, x)), compiler_options=O0)(
        _stack(batches))
    assert np.max(np.abs(np.asarray(same).mean(0) - np.asarray(b1(game, u)))) > 1e-4


# --------------------------------------------------------------------------- linear-quadratic


def _numpy_svag_moments(spec, scheme, eta, l, n_intervals, batch_size):
    """E u, E uuᵀ of the SVAG-l chain by a NumPy recursion on (mean, covariance) whose noise
    moments are averages over every pair of minibatches of the game's data points."""
    data = exact_data(spec.data_covariance)                   # the game's per-sample (ξ, ζ)
    dt, dim = spec.d_theta, spec.u0.size
    sign = np.r_[-np.ones(dt), np.ones(dim - dt)]              # field noise: (−ξ, ζ)
    batches = list(itertools.product(range(len(data)), repeat=batch_size))
    means = np.array([data[list(b)].mean(0) for b in batches]) * sign
    c_plus = (1 + math.sqrt(2 * l - 1)) / 2
    c_minus = 1 - c_plus
    combined = (c_plus * means[:, None, :] + c_minus * means[None, :, :]).reshape(-1, dim)
    noise_mean = combined.mean(0)
    noise_cov = np.cov(combined.T, bias=True)
    K = spec.K
    h = eta / l
    theta_mask, omega_mask = (np.arange(dim) < dt).astype(float), (np.arange(dim) >= dt) * 1.0
    # ALT: ω moves, then θ at the new ω, each with its own pair of batches; SML: both, one pair
    plan = [omega_mask, theta_mask] if scheme == "alt" else [theta_mask + omega_mask]
    m, V = spec.u0.astype(float), np.zeros((dim, dim))
    for _ in range(n_intervals * l):
        for mask in plan:
            # u ← u + h·mask·(K u + noise): mean and covariance of an affine map plus noise
            M = np.eye(dim) + h * mask[:, None] * K
            m = M @ m + h * mask * noise_mean
            V = M @ V @ M.T + (h * mask)[:, None] * noise_cov * (h * mask)[None, :]
    return m, V + np.outer(m, m)


@pytest.mark.parametrize("scheme", ["alt", "sml"])
@pytest.mark.parametrize("l", [1, 3])
def test_exact_svag_moments_against_numpy_recursion(generic_lq_spec, scheme, l):
    eta, batch_size, n = 0.2, 2, 5
    m, S = svag_moments(generic_lq_spec, scheme, eta, l, n, batch_size)
    m_ref, S_ref = _numpy_svag_moments(generic_lq_spec, scheme, eta, l, n, batch_size)
    np.testing.assert_allclose(m[-1], m_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(S[-1], S_ref, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("scheme", ["alt", "sml"])
def test_exact_error_falls_as_one_over_l(generic_lq_spec, scheme):
    """Fitted slope of log error on log(1/l) ≈ 1 (the exact errors, no Monte Carlo)."""
    tf = make_test_function("sq-norm", 2, 2)
    ls = [4, 8, 16, 32]
    r = exact_svag_errors(generic_lq_spec, scheme, 0.2, 4, 10, ls, tf)
    assert r.order_in_l == pytest.approx(1.0, abs=0.08)
    assert r.order_in_l == pytest.approx(fit_order_in_l(ls, r.error_final))
    # every error positive and shrinking; the limit is the OU process with the scheme's covariance
    assert all(a > b > 0 for a, b in zip(r.error_final, r.error_final[1:]))
    cov = "blockdiag" if scheme == "alt" else "joint"
    m, S = sde_moments(generic_lq_spec, "sml-sde", cov, 0.2, 10, 4)
    assert r.limit_final == pytest.approx(np.trace(S[-1]), rel=1e-12)
    # Richardson in 1/l: its error is O(1/l²), far below the largest l's own
    assert abs(r.richardson.limit - r.limit_final) < 0.1 * r.error_final[-1]
    assert abs(r.richardson.limit - r.limit_final) < 5 * r.richardson.bias
    # ... and the other covariance is a different limit, which the extrapolation does not approach
    other = sde_moments(generic_lq_spec, "sml-sde", "joint" if scheme == "alt" else "blockdiag",
                        0.2, 10, 4)[1][-1]
    assert abs(np.trace(other) - r.richardson.limit) > 10 * abs(r.richardson.limit - r.limit_final)


def test_richardson_in_l_is_exact_for_a_first_order_error():
    ls, limit = [2, 4, 8], 0.7
    values = [limit + 0.3 / l for l in ls]
    est = richardson_in_l(ls, values, [0.01, 0.01, 0.02])
    assert est.limit == pytest.approx(limit, rel=1e-14)
    assert est.bias == pytest.approx(0.0, abs=1e-14)
    assert est.standard_error == pytest.approx(math.hypot(2 * 0.02, 1 * 0.01))
    assert est.ls == (4, 8)


@pytest.mark.parametrize("scheme", ["alt", "sml"])
def test_jax_chain_has_the_exact_moments(generic_lq_spec, scheme):
    """The JAX SVAG chain on the LQ game: E θ₀ and E|u|² within 4 standard errors of exact."""
    game = linear_quadratic(generic_lq_spec)
    eta, batch_size, l, n, paths = 0.2, 2, 4, 5, LQ_PATHS
    cfg = SGAConfig(scheme, eta, batch_size)
    stats = simulate_svag(game, cfg, l, n, paths, jax.random.key(11), _first_and_norm)
    m, S = svag_moments(generic_lq_spec, scheme, eta, l, n, batch_size)
    exact = np.array([m[-1][0], np.trace(S[-1])])
    se = stats.standard_error[-1]
    assert np.all(np.abs(stats.mean[-1] - exact) < 4 * se), (stats.mean[-1], exact, se)


# --------------------------------------------------------------------------- tanh WGAN


def test_tanh_wgan_large_l_agrees_with_the_per_sample_sde():
    """SVAG-16 of SML against the per-sample SML-SDE (joint covariance) at T = 1: the two
    E|u|² agree within their 95% interval; the noiseless ODE (the chain with l·Σ noise removed)
    lies outside it, so the comparison has the power to fail (8000 paths: the ODE is about 7
    standard errors away)."""
    game = tanh_wgan(n_latent=16, n_data=16, seed=0)
    eta, batch_size, n, paths = 0.25, 1, 4, 8000
    f = lambda u: jnp.atleast_1d(u @ u)  # noqa: E731
    chain = simulate_svag(game, SGAConfig("sml", eta, batch_size), 16, n, paths,
                          jax.random.key(1), f)
    sde = make_sde(game, "sml-sde", eta, batch_size, "joint")
    ref = simulate_sde(sde, n, paths, jax.random.key(2), f, substeps=8)
    diff = chain.mean[-1, 0] - ref.mean[-1, 0]
    se = math.hypot(chain.standard_error[-1, 0], ref.standard_error[-1, 0])
    assert abs(diff) < Z95 * se, (diff, se)
    # the ODE du = b0 dt (Euler, step η/64): what a chain without amplified noise would approach
    h = eta / 64
    u = jax.lax.fori_loop(0, 64 * n, lambda i, u: u + h * b0(game, u), game.u0)
    noiseless_gap = float(u @ u) - ref.mean[-1, 0]
    assert abs(noiseless_gap) > 4 * se, (noiseless_gap, se)


def test_every_l_and_eta_share_one_program(generic_lq_spec):
    """l and η are traced: a sweep over l (and a new η) compiles the chain once."""
    import logging

    game = linear_quadratic(generic_lq_spec)  # the runs of the tests above: their program
    f = _first_and_norm
    simulate_svag(game, SGAConfig("alt", 0.2, 2), 2, 6, LQ_PATHS, jax.random.key(0), f)
    names = []

    class Handler(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Finished XLA compilation of jit("):
                names.append(record.getMessage())

    handler, logger = Handler(logging.DEBUG), logging.getLogger("jax")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with jax.log_compiles(True):
            for l, eta in ((1, 0.2), (8, 0.2), (5, 0.1)):
                simulate_svag(game, SGAConfig("alt", eta, 2), l, 5, LQ_PATHS, jax.random.key(0), f)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)
    assert not [n for n in names if "_run_chunk" in n], names


def test_alt_sde_chain_approaches_the_alt_sde_moments(generic_lq_spec):
    """drift = "alt-sde": the chain's limit is ALT-SDE (drift b0 + η b1, block-diagonal noise).
    On the LQ game the chain's mean follows u ← u + (η/l) F u exactly (E b̂1 = b1), checked by
    Monte Carlo at l = 16; that recursion converges to the exact ALT-SDE mean at order 1 in
    1/l, and ALT-SDE's mean is clearly apart from the b0-limit's."""
    game = linear_quadratic(generic_lq_spec)
    eta, batch_size, n, paths = 0.4, 4, 5, 2000
    stats = simulate_svag(game, SGAConfig("alt", eta, batch_size), 16, n, paths,
                          jax.random.key(5), lambda u: u, drift="alt-sde")
    m_alt, _ = sde_moments(generic_lq_spec, "alt-sde", "blockdiag", eta, n, batch_size)
    m_b0, _ = sde_moments(generic_lq_spec, "sml-sde", "blockdiag", eta, n, batch_size)
    m_chain16 = stats.mean[-1]
    se = stats.standard_error[-1]
    gap = np.abs(m_alt[-1] - m_b0[-1])
    assert np.max(gap) > 0.05
    # The mean of the chain is the exact mean of an affine recursion: u ← u + h(F u) in mean,
    # with F = K + η(−½K² − E) (the ALT-SDE drift matrix); its Euler bias is O(h) = O(η/16).
    from gandyn.analysis.lq_exact import sde_drift_matrix

    F = sde_drift_matrix(generic_lq_spec, "alt-sde", eta)

    def chain_mean(l):
        m = generic_lq_spec.u0.copy()
        for _ in range(l * n):
            m = m + (eta / l) * F @ m
        return m

    assert np.all(np.abs(m_chain16 - chain_mean(16)) < 4 * se), (m_chain16, chain_mean(16), se)
    e16, e32 = (np.max(np.abs(chain_mean(l) - m_alt[-1])) for l in (16, 32))
    assert e16 < 0.2 * np.max(gap) and e32 / e16 == pytest.approx(0.5, abs=0.05)
