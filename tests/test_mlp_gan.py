import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.sample_metrics import mixture_metrics, mmd_rbf
from gandyn.datasets import digits, grid, ring
from gandyn.games.mlp_gan import mlp_gan
from gandyn.sde import make_sde


def _tiny(loss, **kw):
    data = np.random.default_rng(0).normal(size=(5, 2))
    return mlp_gan(data, latent_dim=2, hidden=4, depth=1, loss=loss, n_latent=4, n_penalty=3,
                   seed=1, **kw), data


@pytest.mark.parametrize("loss", ["vanilla", "wgan"])
def test_two_terms_equal_the_pair_average(loss):
    """Φ over the N×M product set of (z_i, x_j) pairs, written out pair by pair."""
    gan, data = _tiny(loss)
    game = gan.game
    z = np.asarray(game.terms[1].data)
    th, om = game.theta0, game.omega0
    sig = lambda t: 1 / (1 + np.exp(-t))

    def pair_value(th, om):
        gen = np.asarray(gan.generate(th, z))
        dx = np.asarray(gan.discriminate(om, data))
        dg = np.asarray(gan.discriminate(om, gen))
        if loss == "wgan":
            vals = [a - b for b, a in itertools.product(dg, dx)]
        else:
            vals = [np.log(sig(a)) + np.log(1 - sig(b)) for b, a in itertools.product(dg, dx)]
        return np.mean(vals)

    assert float(game.value(th, om)) == pytest.approx(pair_value(th, om), rel=1e-6, abs=1e-7)
    # Gradients against a dense product-set autodiff reference.
    def pair_jax(th, om):
        gen = gan.generate(th, z)
        dx, dg = gan.discriminate(om, data), gan.discriminate(om, gen)
        if loss == "wgan":
            return jnp.mean(dx[None, :] - dg[:, None])
        return jnp.mean(jax.nn.log_sigmoid(dx)[None, :] + jax.nn.log_sigmoid(-dg)[:, None])

    g_th, g_om = game.gradients(th, om)
    ref_th, ref_om = jax.jit(jax.grad(pair_jax, (0, 1)))(th, om)
    np.testing.assert_allclose(g_th, ref_th, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(g_om, ref_om, rtol=1e-5, atol=1e-7)


def test_non_saturating_differs_only_for_the_generator():
    van, _ = _tiny("vanilla")
    ns, data = _tiny("non-saturating")
    th, om = van.game.theta0, van.game.omega0
    gv, gn = van.game.gradients(th, om), ns.game.gradients(th, om)
    np.testing.assert_allclose(gv[1], gn[1], rtol=1e-6)
    assert not np.allclose(gv[0], gn[0])
    # The non-saturating θ-gradient is that of mean softplus(−D(G(z))).
    z = ns.game.terms[1].data
    ref = jax.grad(lambda t: jnp.mean(jax.nn.softplus(-ns.discriminate(om, ns.generate(t, z)))))(th)
    np.testing.assert_allclose(gn[0], ref, rtol=1e-5, atol=1e-7)


def test_gradient_penalty_of_an_affine_critic():
    """For an affine critic D(x) = a·x + b the penalty is λ(|a| − 1)² at every point; with all
    weights zero (a = 0, b = 0) it is λ."""
    gan, _ = _tiny("wgan-gp", gp_weight=7.0)
    game = gan.game
    omega = jnp.zeros_like(game.omega0)
    penalty_term = game.terms[2]
    vals = jax.jit(jax.vmap(penalty_term.loss, (None, None, 0)))(game.theta0, omega,
                                                                 penalty_term.data)
    np.testing.assert_allclose(vals, -7.0, rtol=1e-6)
    g_th, _ = game.gradients(game.theta0, game.omega0)
    g_th_wgan, _ = _tiny("wgan")[0].game.gradients(game.theta0, game.omega0)
    np.testing.assert_allclose(g_th, g_th_wgan, rtol=1e-6)  # the generator does not see the penalty


def test_noise_without_sigma_matches_dense_on_an_mlp():
    gan, _ = _tiny("vanilla")
    sde = make_sde(gan.game, "sml-sde", 0.1, 4, "joint")
    u = gan.game.u0
    sig = np.asarray(sde.diffusion_matrix(u))
    Sigma = np.asarray(gan.game.gradient_covariance(*gan.game.split(u)))
    np.testing.assert_allclose(sig @ sig.T, 0.1 / 4 * Sigma, rtol=1e-4, atol=1e-9)


def test_mixtures_and_metrics():
    r = ring(4000, seed=1)
    assert r.centers.shape == (8, 2)
    np.testing.assert_allclose(np.linalg.norm(r.centers, axis=1), 1.0)
    g = grid(4000, seed=2)
    assert g.centers.shape == (25, 2) and g.std == 0.05
    wg = ring(10, setting="wgan-gp")
    np.testing.assert_allclose(np.linalg.norm(wg.centers, axis=1), 2 / 1.414)
    # Samples exactly at the modes, equally: all covered, all high quality, reverse KL 0.
    exact = np.repeat(r.centers, 10, axis=0)
    m = mixture_metrics(exact, r)
    assert m == {"modes_covered": 8, "n_modes": 8, "high_quality_share": 1.0, "reverse_kl": 0.0}
    # All samples on one mode: one mode covered, reverse KL = log 8.
    one = mixture_metrics(np.repeat(r.centers[:1], 50, axis=0), r)
    assert one["modes_covered"] == 1 and one["reverse_kl"] == pytest.approx(np.log(8))
    # Far away samples: nothing high quality.
    far = mixture_metrics(np.full((5, 2), 10.0), r)
    assert far["high_quality_share"] == 0.0 and far["modes_covered"] == 0
    # The ring's own samples: all modes, ~99.7% within 3 std (2-D: 1 − e^{−4.5} ≈ 98.9%).
    own = mixture_metrics(r.samples, r)
    assert own["modes_covered"] == 8 and own["high_quality_share"] == pytest.approx(1 - np.exp(-4.5), abs=0.01)


def test_mmd_is_zero_in_expectation_for_equal_laws_and_positive_otherwise():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 2)), rng.normal(size=(400, 2))
    assert abs(mmd_rbf(a, b)) < 0.01
    assert mmd_rbf(a, b + 2.0) > 0.2
    # Closed form for point masses: MMD² = 2 − 2 exp(−|x−y|²/2h²) (unbiased terms within sets are 1).
    x, y = np.zeros((3, 2)), np.ones((3, 2))
    assert mmd_rbf(x, y) == pytest.approx(2 - 2 * np.exp(-1.0))


def test_digits_ship_with_scikit_learn():
    images, labels = digits()
    assert images.shape == (1797, 64) and images.min() >= -1 and images.max() <= 1
    assert set(labels) == set(range(10))
