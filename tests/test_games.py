import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.games import dirac_gan, exact_data, linear_quadratic, make_game, make_spec, tanh_wgan


def test_exact_data_has_exact_moments():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((4, 4))
    cov = m @ m.T
    pts = exact_data(cov)
    np.testing.assert_allclose(pts.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(pts.T @ pts / len(pts), cov, atol=1e-12)


def test_lq_gradients_and_covariance_are_the_closed_forms(generic_lq_spec):
    spec = generic_lq_spec
    game = linear_quadratic(spec)
    th, om = jnp.array([0.3, -1.2]), jnp.array([0.7, 0.1])
    g_th, g_om = game.gradients(th, om)
    np.testing.assert_allclose(g_th, spec.A @ th + spec.C @ om, atol=1e-12)
    np.testing.assert_allclose(g_om, spec.C.T @ th - spec.D @ om, atol=1e-12)
    np.testing.assert_allclose(game.gradient_covariance(th, om), spec.field_covariance, atol=1e-12)


def test_tanh_two_terms_equal_the_pair_average():
    """Cao & Guo eq. (2)-(3) over the N×M product set, written out with NumPy."""
    game = tanh_wgan(n_latent=5, n_data=4, d_z=2, d_x=2, seed=3)
    x = np.asarray(game.terms[0].data)
    z = np.asarray(game.terms[1].data)
    theta = np.array([0.3, -0.2, 0.5, 0.1])
    omega = np.array([0.4, -0.7])

    def pair_loss(th, om):
        G = np.tanh(z @ th.reshape(2, 2).T)  # (N, d_x)
        return np.mean([np.tanh(om @ xj) - np.tanh(om @ gi) for gi, xj in itertools.product(G, x)])

    assert float(game.value(jnp.array(theta), jnp.array(omega))) == pytest.approx(
        pair_loss(theta, omega), abs=1e-12)
    # Gradients against central differences of the NumPy pair average.
    g_th, g_om = game.gradients(jnp.array(theta), jnp.array(omega))
    h = 1e-6
    for i in range(4):
        e = np.zeros(4); e[i] = h
        fd = (pair_loss(theta + e, omega) - pair_loss(theta - e, omega)) / (2 * h)
        assert float(g_th[i]) == pytest.approx(fd, abs=1e-8)
    for j in range(2):
        e = np.zeros(2); e[j] = h
        fd = (pair_loss(theta, omega + e) - pair_loss(theta, omega - e)) / (2 * h)
        assert float(g_om[j]) == pytest.approx(fd, abs=1e-8)
    # Σ over pairs: per-pair gradient vectors, covariance by NumPy.
    G = np.tanh(z @ theta.reshape(2, 2).T)
    fields = []
    for zi, gi, xj in ((zi, gi, xj) for (zi, gi), xj in itertools.product(zip(z, G), x)):
        dG = (1 - gi**2)[:, None] * zi[None, :]  # d G / d theta (d_x × d_z)
        sech_fake = 1 - np.tanh(omega @ gi) ** 2
        g_theta = -(sech_fake * omega[:, None] * dG).reshape(-1)
        g_omega = (1 - np.tanh(omega @ xj) ** 2) * xj - sech_fake * gi
        fields.append(np.concatenate([-g_theta, g_omega]))
    fields = np.array(fields)
    cov = np.cov(fields.T, bias=True)
    np.testing.assert_allclose(game.gradient_covariance(jnp.array(theta), jnp.array(omega)), cov,
                               atol=1e-12)


def test_dirac_field_at_equilibrium_and_non_saturating():
    van = dirac_gan("vanilla", theta0=0.5, omega0=0.3, reg=0.1)
    ns = dirac_gan("non-saturating", theta0=0.5, omega0=0.3, reg=0.1)
    th, om = jnp.array([0.5]), jnp.array([0.3])
    # f(t) = -softplus(-t): f'(t) = sigmoid(-t); with data at 0:
    # dΦ/dθ = -ω f'(-ωθ),  dΦ/dω = f'(0)·0 - θ f'(-ωθ) - reg ω
    s = 1 / (1 + np.exp(-0.15))  # sigmoid(+ωθ) = f'(-ωθ)
    g_th, g_om = van.gradients(th, om)
    assert float(g_th[0]) == pytest.approx(-0.3 * s, abs=1e-12)
    assert float(g_om[0]) == pytest.approx(-0.5 * s - 0.1 * 0.3, abs=1e-12)
    # Non-saturating: θ minimises softplus(-ωθ): d/dθ = -ω sigmoid(-ωθ); ω's gradient unchanged.
    g_th_ns, g_om_ns = ns.gradients(th, om)
    assert float(g_th_ns[0]) == pytest.approx(-0.3 / (1 + np.exp(0.15)), abs=1e-12)
    assert float(g_om_ns[0]) == pytest.approx(float(g_om[0]), abs=1e-12)


@pytest.mark.parametrize("bad", [
    dict(A=[[1, 2], [0, 1]]),                       # not symmetric
    dict(C=[[1.0, 0.0]]),                             # wrong shape
    dict(sigma_theta=[[-1.0, 0.0], [0.0, 0.1]]),      # not PSD
])
def test_lq_spec_rejects_bad_input(bad):
    args = dict(A=np.eye(2), C=np.eye(2), D=np.eye(2), sigma_theta=0.1 * np.eye(2),
                sigma_omega=0.1 * np.eye(2), theta0=[1.0, 0.0], omega0=[0.0, 1.0])
    args.update(bad)
    with pytest.raises(ValueError):
        make_spec(**args)


def test_make_game_validates_data():
    loss = lambda th, om, x: th @ om + th @ x
    with pytest.raises(ValueError):
        make_game(loss, {"x": jnp.ones((3, 1)), "y": jnp.ones((4, 1))}, [1.0], [1.0])
    game = make_game(loss, jnp.ones((3, 1)), [1.0], [2.0])
    assert game.dim == 2 and game.terms[0].size == 3
