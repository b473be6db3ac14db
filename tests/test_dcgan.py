"""The DCGAN game on the 8×8 digits: size, shapes, losses against a direct computation,
equal constructions share their compilations, and SGA / optax / SVAG can drive it."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gandyn.games import dcgan, dcgan_game
from gandyn.games.base import Game
from gandyn.sde.svag import make_svag_step
from gandyn.sga import SGAConfig, make_sga_step


# The tests' programs run a step or a few: compiled without LLVM's optimisations, which take
# most of their compile time on these convolutions and change no number they compare.
O0 = {"xla_backend_optimization_level": 0}


def _small(loss="vanilla", seed=0, **kw):
    return dcgan(loss=loss, seed=seed, width=2, latent_dim=3, n_data=12, n_latent=10,
                 n_penalty=6, **kw)


def test_default_size_is_over_1e5_parameters():
    game = dcgan_game(seed=0)
    assert game.d_theta == 172_929 and game.d_omega == 164_865
    assert game.dim >= 10**5
    assert [t.size for t in game.terms] == [1797, 2048]


def test_images_and_logits_have_their_shapes():
    gan = _small()
    images, logits = jax.jit(lambda th, om: (gan.generate(th, gan.game.terms[1].data),
                                             gan.discriminate(om, gan.game.terms[0].data)),
                             compiler_options=O0)(gan.game.theta0, gan.game.omega0)
    assert images.shape == (10, 64) and float(jnp.max(jnp.abs(images))) < 1
    assert logits.shape == (12,)


@pytest.mark.parametrize("loss", ["vanilla", "non-saturating", "wgan"])
def test_losses_against_the_networks_directly(loss):
    gan = _small(loss)
    game = gan.game
    th, om = game.theta0 + 0.01, game.omega0 - 0.02
    x, z = game.terms[0].data, game.terms[1].data

    @functools.partial(jax.jit, compiler_options=O0)
    def values(th, om):
        d_real = gan.discriminate(om, x)
        d_fake = gan.discriminate(om, gan.generate(th, z))
        if loss == "wgan":
            phi = d_real.mean() - d_fake.mean()
        else:
            phi = (jnp.mean(jax.nn.log_sigmoid(d_real))
                   + jnp.mean(jnp.log1p(-jax.nn.sigmoid(d_fake))))
        phi_g = -jnp.mean(jax.nn.log_sigmoid(d_fake)) if loss == "non-saturating" else phi
        return phi, phi_g, game.value(th, om), game.generator_value(th, om)

    phi, phi_g, value, generator_value = values(th, om)
    assert float(value) == pytest.approx(float(phi), rel=1e-5, abs=1e-6)
    assert float(generator_value) == pytest.approx(float(phi_g), rel=1e-5, abs=1e-6)


def test_gradient_penalty_is_the_discriminators_alone():
    """WGAN-GP is WGAN's two terms plus a penalty term; the game's gradients and value are sums
    over terms, so the penalty term alone (a game of its own) must have a zero θ-gradient, a
    non-zero ω-gradient and the value −λ·mean((‖∇_x D(x̂)‖ − 1)²) computed from D directly."""
    gan = _small("wgan-gp", gp_weight=5.0)
    game, plain = gan.game, _small("wgan").game
    assert len(game.terms) == 3 and eqx.tree_equal(game.terms[:2], plain.terms)
    penalty = Game(terms=game.terms[2:], theta0=game.theta0, omega0=game.omega0, name="penalty")
    th, om = game.theta0, game.omega0 - 0.02
    triples = game.terms[2].data

    @functools.partial(eqx.filter_jit, compiler_options=O0)
    def values(penalty, th, om):
        x_hat = (triples["eps"][:, None] * triples["x"]
                 + (1 - triples["eps"][:, None]) * gan.generate(th, triples["z"]))
        slopes = jax.vmap(jax.grad(lambda x: gan.discriminate(om, x[None])[0]))(x_hat)
        direct = -5.0 * jnp.mean((jnp.linalg.norm(slopes, axis=1) - 1) ** 2)
        return penalty.gradients(th, om), penalty.value(th, om), direct

    (g_theta, g_omega), value, direct = values(penalty, th, om)
    np.testing.assert_array_equal(g_theta, np.zeros_like(g_theta))
    assert float(jnp.max(jnp.abs(g_omega))) > 1e-6
    assert float(value) == pytest.approx(float(direct), rel=1e-10)
    assert float(value) < 0  # the penalty is paid by the discriminator, who maximises


def test_equal_constructions_are_one_program():
    a, b, c = _small(seed=0).game, _small(seed=0).game, _small(seed=1).game
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(c)
    assert jax.tree_util.tree_structure(a) != jax.tree_util.tree_structure(_small("wgan").game)
    assert not np.array_equal(a.theta0, c.theta0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="loss must be one of"):
        dcgan_game(loss="hinge")
    with pytest.raises(ValueError, match="n_data"):
        dcgan(n_data=5000)
    with pytest.raises(ValueError, match="width"):
        dcgan(width=0)


def test_sga_svag_and_optax_train_it():
    """ALT and its SVAG-1 chain agree step for step; Adam lowers the discriminator's loss on
    fixed data from its start."""
    game = _small("non-saturating").game
    cfg = SGAConfig("alt", 0.05, 4)
    sga = eqx.filter_jit(make_sga_step(game, cfg), compiler_options=O0)
    chain = eqx.filter_jit(make_svag_step(game, cfg, 1), compiler_options=O0)
    u = v = game.u0
    for t in range(3):
        k = jax.random.fold_in(jax.random.key(0), t)
        u, v = sga(k, u), chain(k, v)
    np.testing.assert_allclose(v, u, rtol=0, atol=1e-12)
    assert float(jnp.max(jnp.abs(u - game.u0))) > 0
    # Adam on the discriminator alone (the loss it maximises), full data
    opt = optax.adam(1e-2)
    loss = lambda om: -game.value(game.theta0, om)  # noqa: E731

    @functools.partial(jax.jit, compiler_options=O0)
    def train(om):
        def step(carry, _):
            om, state = carry
            updates, state = opt.update(jax.grad(loss)(om), state)
            return (optax.apply_updates(om, updates), state), loss(om)
        (om, _), losses = jax.lax.scan(step, (om, opt.init(om)), None, length=20)
        return loss(om), losses[0]

    final, start = train(game.omega0)
    assert float(final) < float(start) - 1e-3
