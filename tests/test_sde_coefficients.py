import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.games import dirac_gan, tanh_wgan
from gandyn.sde import b0, b1, euler_maruyama_step, make_sde


@pytest.mark.parametrize("d", [1, 2])
def test_b1_against_dense_hessian(d):
    """Eq. (10), first form, with the Hessian of Φ built densely."""
    game = tanh_wgan(n_latent=6, n_data=5, d_z=d, d_x=d, seed=1)
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.normal(size=game.dim))
    th, om = game.split(u)
    H = np.asarray(jax.jit(jax.hessian(lambda v: game.value(*game.split(v))))(u))
    dt = game.d_theta
    Htt, Hto, Hot, Hoo = H[:dt, :dt], H[:dt, dt:], H[dt:, :dt], H[dt:, dt:]
    g_th, g_om = (np.asarray(g) for g in game.gradients(th, om))
    M = np.block([[Htt, -Hto], [-Hot, -Hoo]])
    expected = 0.5 * M @ np.concatenate([-g_th, g_om])
    np.testing.assert_allclose(b1(game, u), expected, rtol=1e-10, atol=1e-12)


def test_b1_for_a_non_zero_sum_game_uses_the_field_jacobian():
    """Non-saturating Dirac-GAN: b1 = −½(∇b0)b0 − (∇_ω g_θ g_ω, 0) with dense Jacobians."""
    game = dirac_gan("non-saturating", dim=2, theta0=[0.3, -0.4], omega0=[0.5, 0.2], reg=0.1)
    u = game.u0
    Jb = np.asarray(jax.jit(jax.jacfwd(lambda v: b0(game, v)))(u))
    field = np.asarray(b0(game, u))
    dt = game.d_theta
    # ∇_ω g_θ = −(∂b0_θ/∂ω) since b0_θ = −g_θ; g_ω = b0_ω.
    mixed = -Jb[:dt, dt:] @ field[dt:]
    expected = -0.5 * Jb @ field - np.concatenate([mixed, np.zeros(dt)])
    np.testing.assert_allclose(b1(game, u), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("covariance", ["joint", "blockdiag"])
def test_diffusion_matrix_squares_to_sigma_over_b(generic_lq_spec, covariance):
    game = tanh_wgan(n_latent=7, n_data=6, d_z=2, d_x=2, seed=2)
    u = jnp.asarray(np.random.default_rng(1).normal(size=game.dim))
    eta, B = 0.2, 8
    sde = make_sde(game, "sml-sde", eta, B, covariance)
    sig = np.asarray(sde.diffusion_matrix(u))
    Sigma = np.array(game.gradient_covariance(*game.split(u)))
    if covariance == "blockdiag":
        dt = game.d_theta
        Sigma[:dt, dt:] = 0
        Sigma[dt:, :dt] = 0
    np.testing.assert_allclose(sig @ sig.T, eta / B * Sigma, rtol=1e-10, atol=1e-14)


def test_noise_sampler_covariance_within_sampling_error():
    """Samples of σ(u)ΔW have covariance h·(η/B)·Σ (Wishart standard errors)."""
    game = tanh_wgan(n_latent=8, n_data=8, d_z=1, d_x=2, seed=4)
    u = game.u0
    eta, B, h = 0.3, 4, 0.05
    sde = make_sde(game, "sml-sde", eta, B, "joint")
    n = 40_000
    keys = jax.random.split(jax.random.key(3), n)
    samples = np.asarray(jax.jit(jax.vmap(lambda k: sde.diffusion_times(u, sde.sample_noise(k, h))))(keys))
    target = h * eta / B * np.asarray(game.gradient_covariance(*game.split(u)))
    emp = samples.T @ samples / n
    se = np.sqrt((np.outer(np.diag(target), np.diag(target)) + target**2) / n)
    assert np.all(np.abs(emp - target) < 5 * se + 1e-15)
    np.testing.assert_allclose(samples.mean(axis=0), 0.0, atol=5 * np.sqrt(np.diag(target).max() / n))


@pytest.mark.parametrize("name", ["sml-sde", "alt-sde"])
def test_euler_matches_diffrax_pathwise(name):
    """Our Euler–Maruyama and diffrax's Euler on the same Brownian path agree."""
    game = tanh_wgan(n_latent=5, n_data=4, seed=5)
    eta, B = 0.25, 4
    sde = make_sde(game, name, eta, B)
    bm = diffrax.VirtualBrownianTree(0.0, 1.0, tol=1e-6, shape=(sde.noise_dim,), key=jax.random.key(7))
    terms = diffrax.MultiTerm(
        diffrax.ODETerm(lambda t, y, args: sde.drift(y)),
        diffrax.ControlTerm(lambda t, y, args: sde.diffusion_matrix(y), bm))
    n_steps = 40
    h = 1.0 / n_steps
    sol = diffrax.diffeqsolve(terms, diffrax.Euler(), 0.0, 1.0, h, game.u0,
                              saveat=diffrax.SaveAt(t1=True), max_steps=n_steps + 5)
    t = jnp.arange(n_steps) * h
    dws = jax.vmap(lambda a, b: bm.evaluate(a, b))(t, t + h)

    @jax.jit
    def ours(u0, dws):
        step = lambda u, dw: (euler_maruyama_step(sde, u, sde.unflatten_noise(dw), h), None)
        return jax.lax.scan(step, u0, dws)[0]

    u = ours(game.u0, dws)
    # The Brownian tree resolves times to its tolerance, and diffrax accumulates
    # step times its own way: 1e-7 is far below Euler's own error here (~1e-2)
    # and far above rounding, so any difference in the scheme would show.
    np.testing.assert_allclose(u, sol.ys[-1], rtol=0, atol=1e-7)


def test_drift_names_and_validation():
    g = tanh_wgan()
    with pytest.raises(ValueError):
        make_sde(g, "alt", 0.1, 4)
    with pytest.raises(ValueError):
        make_sde(g, "alt-sde", -0.1, 4)
    with pytest.raises(ValueError):
        make_sde(g, "alt-sde", 0.1, 4, covariance="full")
    assert make_sde(g, "alt-sde", 0.1, 4).covariance == "blockdiag"
    assert make_sde(g, "sml2-sde", 0.1, 4).covariance == "joint"


@pytest.mark.parametrize("covariance", ["blockdiag", "joint"])
def test_both_noise_samplers_have_the_covariance_of_eq_11(covariance):
    """σσᵀ = (η/B) Σ, Σ from the per-sample fields in NumPy; the off-diagonal block only for joint."""
    from gandyn.games import tanh_wgan

    game = tanh_wgan(n_latent=7, n_data=5, d_x=2, d_z=2, theta0=[0.3, -0.2, 0.5, 0.1],
                     omega0=[0.4, -0.6])
    u = game.u0 + 0.1
    fields = [np.asarray(f, dtype=float) for f in game.per_sample_fields(*game.split(u))]
    sigma = sum(np.cov(f.T, bias=True) for f in fields)
    if covariance == "blockdiag":
        d = game.d_theta
        sigma[:d, d:] = sigma[d:, :d] = 0.0
    expected = 0.1 / 8 * sigma
    for noise in ("samples", "covariance"):
        sde = make_sde(game, "alt-sde", 0.1, 8, covariance, noise=noise)
        s = np.asarray(sde.diffusion_matrix(u), dtype=float)
        np.testing.assert_allclose(s @ s.T, expected, rtol=2e-4, atol=1e-9)
        np.testing.assert_allclose(np.asarray(sde.noise_covariance(u)), expected, rtol=2e-4,
                                   atol=1e-9)
    assert make_sde(game, "alt-sde", 0.1, 8, noise="covariance").noise_dim == game.dim
    with pytest.raises(ValueError, match="noise must be one of"):
        make_sde(game, "alt-sde", 0.1, 8, noise="cholesky")


@pytest.mark.parametrize("covariance", ["blockdiag", "joint"])
@pytest.mark.parametrize("loss", ["wgan", "non-saturating"])
def test_fused_field_and_noise_equal_the_separate_ones(covariance, loss):
    """One forward pass for b0 and σΔW gives what the full gradient and the noise pass give."""
    game = dirac_gan(loss, dim=2, reg=0.1, data_std=0.5, n_data=6, theta0=[0.3, -0.2],
                     omega0=[0.5, 0.1])
    sde = make_sde(game, "sml-sde", 0.1, 4, covariance)
    u = game.u0 + 0.05
    dw = sde.sample_noise(jax.random.key(3), 0.01)
    drift, noise = sde.drift_and_diffusion_times(u, dw)
    np.testing.assert_allclose(drift, b0(game, u), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(noise, sde.diffusion_times(u, dw), rtol=1e-12, atol=1e-15)
