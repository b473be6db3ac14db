"""Weak orders: exact slopes on linear-quadratic games, Monte Carlo against exact."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.lq_exact import sde_moments, van_loan_integral
from gandyn.analysis.test_functions import make_test_function
from gandyn.analysis.weak_error import (Comparison, bootstrap_order, exact_weak_error, fit_order,
                                        monte_carlo_weak_error)
from gandyn.games import linear_quadratic
from gandyn.sde import make_sde, simulate_sde

ETAS = [0.1, 0.05, 0.025, 0.0125]


def _orders(spec, comps, test="sq-norm", etas=ETAS, batch_size=1):
    tf = make_test_function(test, spec.d_theta, spec.d_omega)
    return exact_weak_error(spec, comps, etas, 2.0, batch_size, tf)


def test_exact_slopes_match_theorems(generic_lq_spec):
    res = _orders(generic_lq_spec, [Comparison("alt", "alt-sde"), Comparison("sml", "sml-sde"),
                                    Comparison("sml", "sml2-sde", "joint"),
                                    Comparison("alt", "sml-sde")])
    alt, sml, sml2, alt_vs_sml = res
    assert alt.order_max == pytest.approx(2.0, abs=0.1)
    assert sml.order_max == pytest.approx(1.0, abs=0.15)
    assert sml2.order_max == pytest.approx(2.0, abs=0.1)
    assert alt_vs_sml.order_max == pytest.approx(1.0, abs=0.15)
    assert alt.covariance == "blockdiag" and sml.covariance == "joint"


def test_blockdiag_covariance_breaks_order_two_for_sml(generic_lq_spec):
    """With the block-diagonal σ the cross moment θω sees the dropped correlation at O(η)."""
    joint, block = _orders(generic_lq_spec, [Comparison("sml", "sml2-sde", "joint"),
                                             Comparison("sml", "sml2-sde", "blockdiag")],
                           test="theta[0]*omega[1]", etas=[0.02, 0.01, 0.005, 0.0025])
    assert joint.order_max == pytest.approx(2.0, abs=0.15)
    assert block.order_max == pytest.approx(1.0, abs=0.15)
    assert any("block-diagonal" in n for n in block.notes)


def test_alt_sde_with_joint_covariance_is_worse(generic_lq_spec):
    (alt,) = _orders(generic_lq_spec, [Comparison("alt", "alt-sde", "joint")], test="theta[0]*omega[1]")
    assert alt.order_max < 1.5


def test_van_loan_matches_quadrature():
    rng = np.random.default_rng(0)
    F = rng.normal(size=(3, 3)) - 2 * np.eye(3)
    G = rng.normal(size=(3, 3))
    Gamma = G @ G.T
    phi, Q = van_loan_integral(F, Gamma, 0.7)
    from scipy.integrate import quad_vec
    from scipy.linalg import expm

    ref = quad_vec(lambda s: expm(F * s) @ Gamma @ expm(F * s).T, 0, 0.7)[0]
    np.testing.assert_allclose(phi, expm(0.7 * F), atol=1e-12)
    np.testing.assert_allclose(Q, ref, atol=1e-9)


@pytest.mark.parametrize("integrator,richardson,noise", [
    ("heun", True, "samples"), ("euler", True, "samples"), ("heun", False, "samples"),
    ("heun", True, "covariance")])
def test_simulated_sde_matches_ornstein_uhlenbeck_moments(generic_lq_spec, integrator, richardson,
                                                          noise):
    spec = generic_lq_spec
    game = linear_quadratic(spec)
    # A bias of 4.5 standard errors fails: 0.03 standard deviations of an observable at 20 000
    # paths, 0.06 at 6000, where the covariance root costs an eigendecomposition per path and
    # substep. (Neither resolves the joint against the block-diagonal covariance, 0.001–0.005
    # here: tests/test_sde_coefficients.py checks the covariances themselves exactly.)
    eta, B, n, paths = 0.2, 1, 5, 20_000 if noise == "samples" else 6000
    fns = [make_test_function(t, 2, 2) for t in ("sq-norm", "theta[0]*omega[1]", "theta[1]")]
    obs = lambda u: jnp.stack([f(u) for f in fns])
    for name in ("alt-sde", "sml2-sde"):
        sde = make_sde(game, name, eta, B, noise=noise)
        stats = simulate_sde(sde, n, paths, jax.random.key(2), obs, substeps=8,
                             richardson=richardson, integrator=integrator)
        m, S = sde_moments(spec, name, sde.covariance, eta, n, B)
        exact = np.array([f.expectation(m[-1], S[-1]) for f in fns])
        z = np.abs(stats.mean[-1] - exact) / stats.standard_error[-1]
        assert np.all(z < 4.5), (name, z)


def test_monte_carlo_study_agrees_with_exact(generic_lq_spec):
    spec = generic_lq_spec
    game = linear_quadratic(spec)
    tf = make_test_function("sq-norm", 2, 2)
    comps = [Comparison("alt", "alt-sde"), Comparison("sml", "sml-sde")]
    etas = [0.4, 0.2]
    exact = exact_weak_error(spec, comps, etas, 2.0, 1, tf)
    # 10 000 paths: the tolerance below is the study's own interval, so fewer paths widen it
    # (by √2 from 20 000) without making the test flaky; the integrator check does not depend on it.
    mc = monte_carlo_weak_error(game, comps, etas, 2.0, 1, tf, paths=10_000, seed=3)
    for ex, m in zip(exact, mc):
        for e_exact, e_mc, (lo, hi), e_signed in zip(ex.signed_error_final, m.signed_error_final,
                                                    m.error_final_ci, m.signed_error_final):
            half = (hi - lo) / 2 if lo > 0 else hi - abs(e_signed)
            # 95% interval half-width → 4.5 standard errors is ~2.3 half-widths.
            assert abs(e_exact - e_mc) < 2.3 * half + 1e-12
        assert all(i < 0.2 * abs(e) for i, e in zip(m.integrator_error, ex.signed_error_final))
        assert m.order_final_ci[0] <= m.order_final <= m.order_final_ci[1]
        assert set(m.n_diverged) == {"0.4", "0.2"}


def test_fit_and_bootstrap_order():
    etas = np.array([0.4, 0.2, 0.1])
    assert fit_order(etas, 3 * etas**2) == pytest.approx(2.0)
    assert np.isnan(fit_order(etas, [1.0, 0.0, 0.5]))
    lo, hi = bootstrap_order(etas, 3 * etas**2, 1e-6 * np.ones(3))
    assert lo < 2.0 < hi and hi - lo < 0.01
    lo, hi = bootstrap_order(etas, 3 * etas**2, 0.5 * 3 * etas**2)
    assert hi - lo > 0.5  # noisy errors: a wide, honest interval
