"""Spectra of whole training steps against closed forms, dense NumPy and brute force.

The closed forms are derived in docs/stability.md; each is checked at several η. The bilinear
game is ``min_x max_y σxy`` (a linear-quadratic game with ``A = D = 0``): its field is
``F(x, y) = (σy, −σx) = Ju`` with ``J = [[0, σ], [−σ, 0]]``, eigenvalues ``±iσ``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gandyn.analysis.step_spectrum import (arnoldi, field_spectrum, find_equilibrium, nash_check,
                                           path_angle, radius_per_eta, spectrum_along_training,
                                           stable_eta_range, step_spectrum)
from gandyn.analysis.update_maps import (GDA, Adam, Consensus, Extragradient, GradientPenalty,
                                         descent_field,
                                         Momentum, Optimistic, OptaxOptimizer, RMSprop,
                                         training_step)
from gandyn.errors import InputError
from gandyn.games import dirac_gan, linear_quadratic, make_spec

SIGMA = 1.5


def bilinear(sigma=SIGMA):
    return linear_quadratic(make_spec([[0.0]], [[sigma]], [[0.0]], [[0.0]], [[0.0]], [1.0], [1.0]))


def tanh_game():
    """A small nonlinear game (Cao & Guo's tanh WGAN, 6 + 3 parameters), cheap to compile."""
    from gandyn.games import tanh_wgan

    return tanh_wgan(n_latent=8, n_data=8, d_z=2, d_x=3, theta0=[0.3, -0.2, 0.5, 0.1, -0.4, 0.2],
                     omega0=[0.5, -0.3, 0.2])


def tanh_critic(omega, x):
    """The tanh WGAN's discriminator ``D_ω(x) = tanh(ω·x)`` (a nonlinear critic for R1/R2)."""
    return jnp.tanh(omega @ x)


def tanh_generator(theta, z):
    """The tanh WGAN's generator ``G_θ(z) = tanh(θz)`` with θ a 3 × 2 matrix."""
    return jnp.tanh(theta.reshape(3, 2) @ z)


def eigenvalues_at_zero(game, optimizer, **kw):
    with jax.enable_x64(True):
        step = training_step(game, optimizer, **kw)
        z = jnp.zeros(game.d_theta)
        state = step.init(z, jnp.zeros(game.d_omega))
        return step_spectrum(step, state).eigenvalues


def step_matrix(game, optimizer, u=None, **kw):
    """The dense Jacobian of the step, for determinants and NumPy references."""
    from gandyn.analysis.step_spectrum import _step_jacobian

    with jax.enable_x64(True):
        step = training_step(game, optimizer, **kw)
        u = jnp.zeros(game.dim) if u is None else jnp.asarray(u)
        return np.asarray(_step_jacobian(step, step.init(*game.split(u))))


def assert_same_eigenvalues(a, b, atol):
    """``a`` and ``b`` hold the same values (a multiset), each within ``atol`` of its match."""
    a, b = list(np.asarray(a, complex)), list(np.asarray(b, complex))
    assert len(a) == len(b), (a, b)
    for x in a:
        i = int(np.argmin([abs(x - y) for y in b]))
        assert abs(x - b[i]) <= atol, (x, b)
        b.pop(i)


ETAS = [0.05, 0.3, 0.9, 1.25]  # ησ from 0.075 to 1.875


# --------------------------------------------------------------------------- bilinear closed forms


@pytest.mark.parametrize("eta", ETAS)
def test_simultaneous_gda_bilinear(eta):
    """``M = I + η[[0, −σ], [σ, 0]]``: ``λ = 1 ± iησ``, ``|λ|² = 1 + η²σ²`` (never stable)."""
    lam = eigenvalues_at_zero(bilinear(), GDA(eta))
    np.testing.assert_allclose(np.abs(lam) ** 2, 1 + eta**2 * SIGMA**2, rtol=1e-13)
    np.testing.assert_allclose(sorted(lam.imag), [-eta * SIGMA, eta * SIGMA], rtol=1e-13)


@pytest.mark.parametrize("eta", ETAS + [1.4, 2.0])
def test_alternating_gda_bilinear(eta):
    """``M = [[1 − η²σ², −ησ], [ησ, 1]]``: ``det M = 1``, ``tr M = 2 − η²σ²``, so ``|λ| = 1``
    exactly when ``ησ ≤ 2`` (complex pair on the circle) and ``ρ > 1`` beyond."""
    M = step_matrix(bilinear(), GDA(eta, order="alternating"))
    assert np.linalg.det(M) == pytest.approx(1.0, abs=1e-13)
    assert np.trace(M) == pytest.approx(2 - eta**2 * SIGMA**2, abs=1e-13)
    lam = np.linalg.eigvals(M)
    if eta * SIGMA <= 2:
        np.testing.assert_allclose(np.abs(lam), 1.0, atol=1e-7)
    else:
        assert np.max(np.abs(lam)) > 1.05


@pytest.mark.parametrize("eta_theta,eta_omega", [(0.2, 0.8), (1.0, 1.5), (2.0, 1.0)])
def test_alternating_gda_ttur_bilinear(eta_theta, eta_omega):
    """Separate rates: ``det = 1``, ``tr = 2 − η_θ η_ω σ²``: neutral iff ``η_θ η_ω σ² ≤ 4``."""
    M = step_matrix(bilinear(), GDA(eta_theta, eta_omega=eta_omega, order="alternating"))
    assert np.linalg.det(M) == pytest.approx(1.0, abs=1e-13)
    assert np.trace(M) == pytest.approx(2 - eta_theta * eta_omega * SIGMA**2, abs=1e-13)
    rho = np.max(np.abs(np.linalg.eigvals(M)))
    assert (rho < 1 + 1e-7) == (eta_theta * eta_omega * SIGMA**2 <= 4)


@pytest.mark.parametrize("eta", ETAS)
def test_extragradient_bilinear(eta):
    """``M = I − ηJ + η²J² = (1 − η²σ²)I − ηJ``: ``|λ|² = 1 − η²σ² + η⁴σ⁴``."""
    lam = eigenvalues_at_zero(bilinear(), Extragradient(eta))
    s = eta * SIGMA
    np.testing.assert_allclose(np.abs(lam) ** 2, 1 - s**2 + s**4, rtol=1e-13)
    np.testing.assert_allclose(lam.real, 1 - s**2, rtol=1e-13)


def _ogda_radius(s):
    """Largest root modulus of ``λ² − (1 − 2is)λ − is``, ``s = ησ`` (and its conjugate)."""
    roots = np.roots([1, -(1 + 2j * s), 1j * s])
    return np.max(np.abs(roots)), roots


@pytest.mark.parametrize("eta", [0.05, 0.2, 0.3, 0.38, 0.4, 0.6])
def test_optimistic_gda_bilinear(eta):
    """On an eigenvector of ``J`` (``Jv = −iσv`` in the sign of ``F = Ju``), ``z_{t+1} = z_t −
    2ηF(z_t) + ηF(z_{t−1})`` is ``λ² − (1 + 2is)λ + is = 0``, roots ``((1 + 2is) ± √(1 − 4s²))/2``:
    for ``s < 1/2`` the larger modulus² is ``(1 + √(1 − 4s²))/2 < 1``; for ``s ≥ 1/2`` it is
    ``1/4 + (s + √(4s² − 1)/2)²``, below 1 iff ``s < 1/√3``."""
    s = eta * SIGMA
    lam = eigenvalues_at_zero(bilinear(), Optimistic(eta))
    rho, roots = _ogda_radius(s)
    expected = np.concatenate([roots, roots.conj()])
    assert_same_eigenvalues(lam, expected, 1e-12)
    if s < 0.5:
        assert np.max(np.abs(lam)) ** 2 == pytest.approx((1 + np.sqrt(1 - 4 * s**2)) / 2, rel=1e-12)
    else:
        assert np.max(np.abs(lam)) ** 2 == pytest.approx(0.25 + (s + np.sqrt(4 * s**2 - 1) / 2)**2,
                                                         rel=1e-12)
    assert (np.max(np.abs(lam)) < 1) == (s < 1 / np.sqrt(3))


def test_optimistic_gda_stable_interval_ends_at_one_over_root_three():
    with jax.enable_x64(True):
        game = bilinear()
        step = training_step(game, Optimistic(0.1))
        found = stable_eta_range(step, step.init(jnp.zeros(1), jnp.zeros(1)))
    assert found.interval[1] == pytest.approx(1 / (np.sqrt(3) * SIGMA), rel=1e-6)
    assert found.low_at_edge and not found.high_at_edge


@pytest.mark.parametrize("eta,gamma", [(0.1, 0.5), (0.5, 0.3), (1.0, 2.0)])
def test_consensus_bilinear(eta, gamma):
    """``F_γ = F + γJᵀF`` has Jacobian ``J + γJᵀJ = J + γσ²I`` at 0: ``λ = 1 − ηγσ² ∓ iησ``,
    stable iff ``η < 2γ/(1 + γ²σ²)``."""
    lam = eigenvalues_at_zero(bilinear(), Consensus(eta, gamma=gamma))
    np.testing.assert_allclose(lam.real, 1 - eta * gamma * SIGMA**2, rtol=1e-13)
    np.testing.assert_allclose(np.abs(lam.imag), eta * SIGMA, rtol=1e-13)
    with jax.enable_x64(True):
        step = training_step(bilinear(), Consensus(eta, gamma=gamma))
        found = stable_eta_range(step, step.init(jnp.zeros(1), jnp.zeros(1)))
    bound = 2 * gamma / (1 + gamma**2 * SIGMA**2)
    if eta < bound:
        assert found.interval[1] == pytest.approx(bound, rel=1e-6)
    else:
        assert found.interval is None


def _momentum_reference(eta, beta, sigma, alternating):
    """The heavy ball's update matrix on ``(x, y, m_x, m_y)``, written out by hand (ω first)."""
    e, b, s = eta, beta, sigma
    # ω-update: m_y ← b m_y − s x, y ← y − e m_y; then θ at the new y: m_x ← b m_x + s y, x ← x − e m_x
    if alternating:
        Y = np.array([[1, 0, 0, 0], [e * s, 1, 0, -e * b], [0, 0, 1, 0], [-s, 0, 0, b]], float)
        X = np.array([[1, -e * s, -e * b, 0], [0, 1, 0, 0], [0, s, b, 0], [0, 0, 0, 1]], float)
        return X @ Y
    return np.array([[1, -e * s, -e * b, 0], [e * s, 1, 0, -e * b], [0, s, b, 0],
                     [-s, 0, 0, b]], float)


@pytest.mark.parametrize("order", ["simultaneous", "alternating"])
@pytest.mark.parametrize("eta,beta", [(0.3, -0.5), (0.9, 0.4), (0.05, -0.9), (1.2, 0.0)])
def test_heavy_ball_bilinear(order, eta, beta):
    """The map against the hand-written matrix and its characteristic polynomial:
    ``(λ − 1)²(λ − β)² + η²σ²λ²`` (simultaneous), ``… + η²σ²λ³`` (alternating; Gidel et al. 2019)."""
    alt = order == "alternating"
    M = step_matrix(bilinear(), Momentum(eta, beta=beta, order=order))
    np.testing.assert_allclose(M, _momentum_reference(eta, beta, SIGMA, alt), atol=1e-14)
    poly = np.polymul(np.polymul([1, -1], [1, -1]), np.polymul([1, -beta], [1, -beta]))
    poly[1 if alt else 2] += (eta * SIGMA) ** 2
    np.testing.assert_allclose(np.sort(np.abs(np.linalg.eigvals(M))),
                               np.sort(np.abs(np.roots(poly))), atol=1e-7)


def test_alternating_heavy_ball_is_stable_only_for_negative_beta():
    """Alternating GDA with momentum on the bilinear game: ``ρ ≥ 1`` for every η when β ≥ 0, but
    ``ρ < 1`` for some η when β < 0 (Gidel et al. 2019); simultaneous: never stable."""
    with jax.enable_x64(True):
        game = bilinear()
        zero = (jnp.zeros(1), jnp.zeros(1))
        etas = np.geomspace(0.01, 1.3, 25)
        for beta in (0.0, 0.2, 0.5, 0.9):
            step = training_step(game, Momentum(0.1, beta=beta, order="alternating"))
            assert radius_per_eta(step, step.init(*zero), etas).min() >= 1 - 1e-9, beta
        for beta in (-0.2, -0.5):
            step = training_step(game, Momentum(0.1, beta=beta, order="alternating"))
            assert radius_per_eta(step, step.init(*zero), etas).min() < 0.95, beta
            step = training_step(game, Momentum(0.1, beta=beta))
            assert radius_per_eta(step, step.init(*zero), etas).min() >= 1 - 1e-9, beta


# --------------------------------------------------------------------------- Dirac-GAN and R1


def _dirac_bounds(gamma, a):
    """Largest stable η of GDA on the Dirac-GAN with R1 (γ), ``a = f'(0)``.

    Jacobian ``[[0, a], [−a, −γ]]`` of the flow, so the step is ``I − ηJ_F`` with ``J_F =
    [[0, −a], [a, γ]]``, eigenvalues ``μ = γ/2 ± √(γ²/4 − a²)``. Simultaneous: ``|1 − ημ| < 1``
    iff ``η < 2 Re μ/|μ|²``: ``γ/a²`` for ``γ ≤ 2a``, ``(γ − √(γ² − 4a²))/a²`` beyond.
    Alternating (ω first): ``det = 1 − ηγ``, ``tr = 2 − η²a² − ηγ``; Jury: ``η <
    4/(γ + √(γ² + 4a²))``.
    """
    sim = gamma / a**2 if gamma <= 2 * a else (gamma - np.sqrt(gamma**2 - 4 * a**2)) / a**2
    alt = 4 / (gamma + np.sqrt(gamma**2 + 4 * a**2))
    return sim, alt


@pytest.mark.parametrize("loss,a,gamma", [("vanilla", 0.5, 0.3),    # complex μ
                                          ("vanilla", 0.5, 1.0),    # γ = 2a: a double root
                                          ("wgan", 1.0, 3.0)])      # real μ
def test_dirac_gan_r1_stability_bound(loss, a, gamma):
    game = dirac_gan(loss)
    penalty = GradientPenalty.for_game(game, r1=gamma)
    sim, alt = _dirac_bounds(gamma, a)
    with jax.enable_x64(True):
        for order, bound in (("simultaneous", sim), ("alternating", alt)):
            eta = 0.5 * bound
            step = training_step(game, GDA(eta, order=order), penalty=penalty)
            state = step.init(jnp.zeros(1), jnp.zeros(1))
            if order == "simultaneous":  # eigenvalues 1 − η μ (a double root when γ = 2a)
                mu = np.roots([1, -gamma, a**2])
                assert_same_eigenvalues(step_spectrum(step, state).eigenvalues, 1 - eta * mu,
                                        1e-6 if gamma == 2 * a else 1e-12)
            found = stable_eta_range(step, state)
            assert found.interval[1] == pytest.approx(bound, rel=1e-6), order


def test_r1_and_r2_on_dirac_equal_weight_decay():
    """``D_ω(x) = ω·x``, so ``|∇_x D|² = |ω|²`` at every sample: R1 = R2 = L2 decay on ω."""
    with jax.enable_x64(True):
        game = dirac_gan("vanilla", dim=2, theta0=[0.3, -0.2], omega0=[0.5, 0.1])
        a = step_matrix(game, GDA(0.2), game.u0, penalty=GradientPenalty.for_game(game, r1=0.7))
        b = step_matrix(dirac_gan("vanilla", dim=2, reg=0.7), GDA(0.2), game.u0)
        np.testing.assert_allclose(a, b, atol=1e-14)
        for penalty in (GradientPenalty.for_game(game, r1=0.7),
                        GradientPenalty.for_game(game, r2=0.7)):  # the values, at another point
            u = (jnp.array([0.4, 0.1]), jnp.array([-0.3, 0.8]))
            assert float(penalty.value(game, *u)) == pytest.approx(0.35 * (0.09 + 0.64))


def test_r1_and_r2_on_any_game_against_finite_differences():
    """R1 and R2 with a nonlinear critic on a Python game (``critic=``, ``generator=``): the step's
    Jacobian–vector products (third derivatives of D by autodiff) against central differences
    of the step along random directions, and the penalty's value against finite differences of D
    in x."""
    from gandyn.analysis.step_spectrum import step_operator
    from gandyn.analysis.update_maps import flat_map

    with jax.enable_x64(True):
        game = tanh_game()
        penalty = GradientPenalty(r1=0.8, r2=0.4, critic=tanh_critic, generator=tanh_generator)
        step = training_step(game, GDA(0.3, eta_omega=0.6), penalty=penalty)
        state = step.init()
        x0, T = flat_map(step, state)
        T = jax.jit(T)
        matvec, n = step_operator(step, state, "jvp")
        h = 1e-5
        for v in np.random.default_rng(0).standard_normal((3, n)):
            fd = (np.asarray(T(x0 + h * v)) - np.asarray(T(x0 - h * v))) / (2 * h)
            np.testing.assert_allclose(matvec(v), fd, atol=1e-8)
        # R1 + R2 = (γ₁/2) mean_x |∇_x D|² + (γ₂/2) mean_z |∇_x D(G(z))|², ∇_x D by differences
        om = np.asarray(game.omega0)
        D = lambda x: np.tanh(x @ om)

        def mean_sq(xs):
            g = np.stack([(D(xs + h * e) - D(xs - h * e)) / (2 * h) for e in np.eye(3)], axis=1)
            return np.mean(np.sum(g**2, axis=1))

        fake = np.tanh(np.asarray(game.terms[1].data) @ np.asarray(game.theta0).reshape(3, 2).T)
        expected = 0.4 * mean_sq(np.asarray(game.terms[0].data)) + 0.2 * mean_sq(fake)
        assert float(penalty.value(game, game.theta0, game.omega0)) == pytest.approx(expected,
                                                                                     rel=1e-8)
        # the penalty is in the step's field (else M and fd could agree without it)
        bare = descent_field(game)(game.theta0, game.omega0)[1]
        grad_r = jax.grad(lambda w: penalty.value(game, game.theta0, w))(game.omega0)
        np.testing.assert_allclose(step.field(game.theta0, game.omega0)[1] - bare, grad_r,
                                   atol=1e-12)
        assert np.linalg.norm(grad_r) > 1e-3


# --------------------------------------------------------------------------- Adam, RMSprop, optax


def test_frozen_adam_is_the_exact_jacobian_of_optax_adam_at_a_stationary_point():
    """At ``g = 0``, ``m = 0`` the Jacobian of ``optax.adam`` in ``(z, m, v)`` is block-triangular:
    its eigenvalues are the frozen map's (with ``v`` the value Adam uses, ``β₂ν``) and ``β₂``."""
    import optax

    b1, b2, lr = 0.8, 0.99, 0.05
    spec = make_spec([[0.5, 0.1], [0.1, 0.2]], [[1.0, 0.3], [-0.4, 0.7]], [[0.3, 0.0], [0.0, 0.1]],
                     np.zeros((2, 2)), np.zeros((2, 2)), [0.0, 0.0], [0.0, 0.0])
    game = linear_quadratic(spec)
    nu = (np.array([0.5, 2.0]), np.array([1.5, 0.25]))
    with jax.enable_x64(True):
        tx = optax.adam(lr, b1=b1, b2=b2, eps=1e-3)
        step = training_step(game, OptaxOptimizer(tx))
        zero = jnp.zeros(2)
        states = []
        for n in nu:
            s = tx.init(zero)
            states.append((s[0]._replace(count=jnp.asarray(10**6, jnp.int32),
                                         nu=jnp.asarray(n)),) + tuple(s[1:]))
        full = step_spectrum(step, step.init(zero, zero, opt_state=tuple(states))).eigenvalues
        frozen = step_spectrum(training_step(
            game, Adam(lr, betas=(b1, b2), eps=1e-3), v=tuple(b2 * n for n in nu))).eigenvalues
    assert_same_eigenvalues(full, np.concatenate([frozen, np.full(4, b2)]), 1e-10)


def test_frozen_adam_and_rmsprop_closed_forms():
    """With ``p = 1/(√v + ε)``: RMSprop is GDA with steps ``ηp``; Adam on an eigenvector of ``J``
    with eigenvalue ``j`` is ``[[1 − ηp(1 − β₁)j, −ηpβ₁], [(1 − β₁)j, β₁]]`` on ``(z, m)``."""
    eta, b1, eps = 0.3, 0.7, 1e-8
    v = (np.array([4.0]), np.array([4.0]))
    p = 1 / (2.0 + eps)
    lam = eigenvalues_at_zero(bilinear(), RMSprop(eta, eps=eps), v=v)
    np.testing.assert_allclose(np.abs(lam) ** 2, 1 + (eta * p * SIGMA) ** 2, rtol=1e-12)
    lam = eigenvalues_at_zero(bilinear(), Adam(eta, betas=(b1, 0.999), eps=eps), v=v)
    expected = []
    for j in (1j * SIGMA, -1j * SIGMA):
        expected += list(np.linalg.eigvals(np.array([[1 - eta * p * (1 - b1) * j, -eta * p * b1],
                                                     [(1 - b1) * j, b1]])))
    assert_same_eigenvalues(lam, expected, 1e-12)


def test_optax_momentum_equals_heavy_ball():
    import optax

    for order in ("simultaneous", "alternating"):
        a = eigenvalues_at_zero(bilinear(), OptaxOptimizer(optax.sgd(0.4, momentum=-0.3),
                                                           order=order))
        b = eigenvalues_at_zero(bilinear(), Momentum(0.4, beta=-0.3, order=order))
        assert_same_eigenvalues(a, b, 1e-12)


def test_second_moment_is_the_minibatch_mean_square():
    """``E[(g^B)²] = g² + Var/B`` per coordinate, against the per-sample fields by brute force."""
    from gandyn.analysis.update_maps import second_moment

    with jax.enable_x64(True):
        game = tanh_game()
        vt, vo = second_moment(game, game.theta0, game.omega0, batch_size=4)
        g_t, g_o = game.gradients(game.theta0, game.omega0)
        fields = game.per_sample_fields(game.theta0, game.omega0)
        var = sum(np.var(np.asarray(f), axis=0) for f in fields)
        dt = game.d_theta
        np.testing.assert_allclose(vt, np.asarray(g_t) ** 2 + var[:dt] / 4, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(vo, np.asarray(g_o) ** 2 + var[dt:] / 4, rtol=1e-10, atol=1e-14)
        assert np.max(var) > 1e-3  # the noise term is there to be checked


# --------------------------------------------------------------------------- Arnoldi, scans


def _random_lq(seed, d=6):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((d, d)); A = A @ A.T / d
    D = rng.standard_normal((d, d)); D = D @ D.T / d
    C = rng.standard_normal((d, d))
    return linear_quadratic(make_spec(A, C, D, np.zeros((d, d)), np.zeros((d, d)),
                                      rng.standard_normal(d), rng.standard_normal(d)))


def _assert_selection_matches(found, every, key, k):
    """Each Arnoldi eigenvalue is an eigenvalue of the dense matrix, and the selections agree."""
    for lam in found:
        assert np.min(np.abs(every - lam)) < 1e-8
    top = np.sort(key(every))[::-1][:k]
    np.testing.assert_allclose(np.sort(key(found))[::-1][:k - 1], top[:k - 1], atol=1e-8)


@pytest.mark.parametrize("seed,optimizer", [
    (0, GDA(0.2, order="alternating", n_disc=2)), (2, Optimistic(0.15, eta_omega=0.3)),
    (3, Adam(0.05, betas=(0.5, 0.9), eps=1e-3))])
def test_arnoldi_matches_dense_on_random_games(seed, optimizer):
    with jax.enable_x64(True):
        game = _random_lq(seed)
        v = (np.full(game.d_theta, 0.3), np.full(game.d_omega, 0.7))
        step = training_step(game, optimizer, v=v)
        state = step.init()
        dense = step_spectrum(step, state).eigenvalues
        k = 5
        arn = step_spectrum(step, state, method="arnoldi", k=k, tol=1e-13, seed=seed)
    assert arn.residuals.max() < 1e-8
    assert arn.matvecs > 0 and arn.seconds > 0
    _assert_selection_matches(arn.eigenvalues, dense, np.abs, k)
    _assert_selection_matches(arn.largest_real, dense, np.real, k)
    _assert_selection_matches(arn.largest_imag, dense, lambda v: np.abs(np.imag(v)), k)
    assert arn.spectral_radius == pytest.approx(np.max(np.abs(dense)), abs=1e-8)


def test_arnoldi_matches_dense_on_a_nonlinear_game():
    with jax.enable_x64(True):
        game = tanh_game()
        step = training_step(game, Momentum(0.3, beta=0.4, eta_omega=0.6, order="alternating"))
        dense = step_spectrum(step).eigenvalues
        arn = step_spectrum(step, method="arnoldi", k=6, tol=1e-13)
        jac_dense = field_spectrum(game, game.u0).eigenvalues
        jac_arn = field_spectrum(game, game.u0, method="arnoldi", k=4, which=("LM",), tol=1e-13)
    assert arn.residuals.max() < 1e-8
    _assert_selection_matches(arn.eigenvalues, dense, np.abs, 6)
    _assert_selection_matches(arn.largest_real, dense, np.real, 6)
    _assert_selection_matches(jac_arn.eigenvalues, jac_dense, np.abs, 4)


def test_arnoldi_rejects_k_too_large():
    with pytest.raises(InputError, match="k < dim - 1"):
        arnoldi(lambda v: v, 4, k=3)


def test_stable_interval_against_a_brute_force_scan():
    """Bisected ends against the stable run of a fine scan (1024 points) that contains η."""
    with jax.enable_x64(True):
        game = _random_lq(5, d=3)
        for optimizer in (GDA(0.1, order="alternating"), Momentum(0.1, beta=-0.3)):
            step = training_step(game, optimizer)
            state = step.init(jnp.zeros(3), jnp.zeros(3))
            found = stable_eta_range(step, state, span=(1e-2, 1e2), grid=40)
            etas = np.geomspace(0.1 * 1e-2, 0.1 * 1e2, 1024)
            radius = radius_per_eta(step, state, etas)
            stable = radius < 1 - 1e-9
            i = np.searchsorted(etas, 0.1)
            lo, hi = i, i
            while lo > 0 and stable[lo - 1]:
                lo -= 1
            while hi < len(etas) - 1 and stable[hi + 1]:
                hi += 1
            spacing = etas[1] / etas[0]
            assert found.interval is not None and stable[i]
            assert etas[hi] <= found.interval[1] * (1 + 1e-6) < etas[hi] * spacing, optimizer
            if lo > 0:
                assert etas[lo] / spacing < found.interval[0] * (1 + 1e-6) <= etas[lo] * (1 + 1e-6)
            else:
                assert found.low_at_edge


def test_unstable_eta_gives_no_interval():
    with jax.enable_x64(True):
        step = training_step(bilinear(), GDA(0.1))
        assert stable_eta_range(step, step.init(jnp.zeros(1), jnp.zeros(1))).interval is None


# --------------------------------------------------------------------------- the game, points


def test_game_jacobian_and_nash_blocks():
    """LQ: ``J = [[A, C], [−Cᵀ, D]]``; ``H_θθ = A``, ``H_ωω = −D``."""
    A = np.diag([1.0, 0.4]); D = np.diag([0.3, 0.2]); C = np.array([[1.0, 0.5], [0.2, 1.0]])
    z = np.zeros((2, 2))
    with jax.enable_x64(True):
        game = linear_quadratic(make_spec(A, C, D, z, z, [0.0, 0.0], [0.0, 0.0]))
        u = jnp.zeros(4)
        J = np.block([[A, C], [-C.T, D]])
        assert_same_eigenvalues(field_spectrum(game, u).eigenvalues, np.linalg.eigvals(J), 1e-12)
        nash = nash_check(game, u)
        assert nash["verdict"] == "strict local Nash"
        assert nash["theta_hessian_min"] == pytest.approx(0.4)
        assert nash["omega_hessian_max"] == pytest.approx(-0.2)
        assert nash_check(bilinear(), jnp.zeros(2))["verdict"] == "degenerate"
        saddle = linear_quadratic(make_spec(np.diag([1.0, -0.5]), C, D, z, z, [0.0, 0.0],
                                            [0.0, 0.0]))
        assert nash_check(saddle, u)["verdict"] == "not a local Nash"
        arn = nash_check(_random_lq(7, d=8), jnp.zeros(16), method="arnoldi")
        dense = nash_check(_random_lq(7, d=8), jnp.zeros(16))
        for key in ("theta_hessian_min", "theta_hessian_max", "omega_hessian_min",
                    "omega_hessian_max"):
            assert arn[key] == pytest.approx(dense[key], abs=1e-8)


def test_find_equilibrium_of_the_dirac_gan():
    with jax.enable_x64(True):
        game = dirac_gan("vanilla", theta0=1.0, omega0=1.0, reg=0.1)
        found = find_equilibrium(game, game.u0)
    assert found["converged"] and found["residual"] < 1e-10
    np.testing.assert_allclose(found["u"], 0.0, atol=1e-9)


def test_path_angle_rotation_and_descent():
    """Bilinear: ``F = Ju`` with ``J`` skew, so ``F ⊥ u`` along the line to 0: cosine 0. A pure
    minimisation (``C = 0``): ``F = u``, cosine −1 before the minimum and +1 after it."""
    with jax.enable_x64(True):
        rot = path_angle(bilinear(), jnp.array([1.0, 1.0]), jnp.zeros(2))
        np.testing.assert_allclose(rot["cosine"][rot["alphas"] != 1], 0.0, atol=1e-12)
        z = np.zeros((1, 1))
        descent = linear_quadratic(make_spec([[1.0]], [[0.0]], [[1.0]], z, z, [1.0], [1.0]))
        out = path_angle(descent, jnp.array([1.0, 1.0]), jnp.zeros(2))
    assert len(out["alphas"]) == 100
    np.testing.assert_allclose(out["cosine"][out["alphas"] < 0.99], -1.0, atol=1e-12)
    np.testing.assert_allclose(out["cosine"][out["alphas"] > 1.01], 1.0, atol=1e-12)


def test_spectrum_along_training_matches_dense_at_each_record():
    with jax.enable_x64(True):
        game = tanh_game()
        step = training_step(game, GDA(0.5, eta_omega=1.0, order="alternating"))
        states = []
        along = spectrum_along_training(step, steps=40, every=20, k=4, tol=1e-12,
                                        callback=lambda t, s, spec: states.append(s))
        assert along.steps == [0, 20, 40]
        assert not np.allclose(states[0].theta, states[-1].theta)  # it did train
        for state, radius in zip(states, along.radius):
            assert radius == pytest.approx(step_spectrum(step, state).spectral_radius, abs=1e-8)
        np.testing.assert_allclose(along.margin, 1 - np.asarray(along.radius))


def test_optimisers_validate_their_numbers():
    for bad in (lambda: GDA(-0.1), lambda: GDA(0.1, order="sideways"), lambda: GDA(0.1, n_disc=0),
                lambda: Momentum(0.1, beta=float("nan")), lambda: Consensus(0.1, gamma=-1),
                lambda: Adam(0.1, betas=(0.9, 1.0)), lambda: RMSprop(0.1, eps=0.0),
                lambda: OptaxOptimizer(object()), lambda: GradientPenalty(r1=1.0)):
        with pytest.raises(InputError):
            bad()
    with pytest.raises(InputError, match="freezes its preconditioner"):
        training_step(bilinear(), Adam(0.1))
    with pytest.raises(InputError, match="not a Dirac-GAN or an MLP GAN"):
        GradientPenalty.for_game(bilinear(), r1=1.0)


def test_equal_optimisers_share_one_compilation():
    """Optimisers are values: rebuilding the step (or changing η) does not recompile."""
    from test_compile_once import compilations

    from gandyn.analysis.step_spectrum import _step_jacobian

    with jax.enable_x64(True):
        step = training_step(bilinear(), Momentum(0.1, beta=-0.2, order="alternating"))
        state = step.init()
        _step_jacobian(step, state)
        with compilations() as names:
            _step_jacobian(training_step(bilinear(), Momentum(0.1, beta=-0.2, order="alternating")),
                           state)
            _step_jacobian(step.with_eta(0.7), state)
            # β is a traced leaf too: another β is the same program
            _step_jacobian(training_step(bilinear(), Momentum(0.4, beta=0.3, order="alternating")),
                           state)
        assert not [n for n in names if "step_jacobian" in n], names
        with compilations() as names:  # a control: another structure is another program
            _step_jacobian(training_step(bilinear(), Momentum(0.1, beta=-0.2, order="alternating",
                                                              n_disc=3)), state)
        assert [n for n in names if "step_jacobian" in n], names
    assert Momentum(0.1, beta=-0.2) == Momentum(0.1, beta=-0.2)
    assert hash(Momentum(0.1, beta=-0.2)) == hash(Momentum(0.1, beta=-0.2))


def test_stability_doc_example_prints_what_it_says():
    """docs/stability.md's first example, run as a script: the numbers its text quotes."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    doc = Path(__file__).resolve().parent.parent / "docs" / "stability.md"
    code = re.findall(r"```python\n(.*?)```", doc.read_text(), re.S)[0]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines == ["[0.875+0.21650635j 0.875-0.21650635j]", "0.901388", "2.0"]
