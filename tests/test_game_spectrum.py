"""Spectra of the mean update map against Dirac-GAN closed forms and a dense reference."""

import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.game_spectrum import (largest_stable_eta, mean_update_map, plot_spectrum,
                                           update_jacobian, update_spectrum)
from gandyn.games import dirac_gan
from gandyn.games.mlp_gan import mlp_gan

ZERO = jnp.zeros(2)


@pytest.mark.parametrize("eta,gamma", [(0.3, 0.0), (0.5, 0.4), (1.5, 1.0)])
def test_dirac_wgan_maps_are_the_closed_forms(eta, gamma):
    game = dirac_gan("wgan", reg=gamma)
    sml = update_jacobian(game, ZERO, "sml", eta)
    np.testing.assert_allclose(sml, np.eye(2) + eta * np.array([[0, 1], [-1, -gamma]]), atol=1e-12)
    alt = update_jacobian(game, ZERO, "alt", eta)
    np.testing.assert_allclose(alt, [[1 - eta**2, eta * (1 - eta * gamma)], [-eta, 1 - eta * gamma]],
                               atol=1e-12)
    # Without weight decay ALT's eigenvalues lie on the unit circle (det 1), SML's outside it.
    if gamma == 0:
        assert np.allclose(np.abs(update_spectrum(game, ZERO, "alt", eta)), 1.0)
        assert np.allclose(np.abs(update_spectrum(game, ZERO, "sml", eta)), np.sqrt(1 + eta**2))


def test_vanilla_dirac_scales_by_f_prime_zero():
    """Vanilla loss: f'(0) = 1/2, so the SML map is I + η [[0, ½], [−½, −γ]]."""
    game = dirac_gan("vanilla", reg=0.2)
    J = update_jacobian(game, ZERO, "sml", 0.4)
    np.testing.assert_allclose(J, np.eye(2) + 0.4 * np.array([[0, 0.5], [-0.5, -0.2]]), atol=1e-12)


@pytest.mark.parametrize("gamma", [0.3, 1.2])
def test_largest_stable_eta_matches_the_closed_forms(gamma):
    game = dirac_gan("wgan", reg=gamma)
    assert largest_stable_eta(game, ZERO, "sml") == pytest.approx(gamma, rel=1e-5)
    # ALT: tr = 2 − η² − ηγ, det = 1 − ηγ; the Jury condition −tr < 1 + det binds first.
    assert largest_stable_eta(game, ZERO, "alt") == pytest.approx(np.sqrt(gamma**2 + 4) - gamma,
                                                                  rel=1e-5)
    assert largest_stable_eta(dirac_gan("wgan", reg=0.0), ZERO, "sml") is None  # never stable


def test_arnoldi_matches_dense_on_an_mlp_gan():
    data = np.random.default_rng(0).normal(size=(32, 2))
    game = mlp_gan(data, hidden=8, depth=1, n_latent=32, loss="wgan", weight_decay=0.1).game
    u = game.u0
    dense = update_spectrum(game, u, "sml", 0.05)
    arnoldi = update_spectrum(game, u, "sml", 0.05, method="arnoldi", k=4)
    np.testing.assert_allclose(np.sort(np.abs(arnoldi))[::-1], np.abs(dense[:4]), rtol=1e-6)
    # The dense Jacobian itself against central differences of the map.
    F = mean_update_map(game, "alt", 0.05)
    J = update_jacobian(game, u, "alt", 0.05)
    h, i = 1e-6, 3
    e = jnp.zeros(game.dim).at[i].set(h)
    np.testing.assert_allclose((np.asarray(F(u + e)) - np.asarray(F(u - e))) / (2 * h), J[:, i],
                               rtol=1e-5, atol=1e-8)
    fig = plot_spectrum(dense)
    assert fig.axes
