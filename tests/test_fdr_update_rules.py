"""The FDR of any update rule, exactly, on a linear-quadratic game.

For SGD, heavy-ball momentum and Adam with a frozen preconditioner, one step of
simultaneous play on the LQ game is a linear chain on the augmented state
``z = (θ, ω, optimiser state)`` driven by the minibatch noise ``n``:
``z' = T z + R n``. Its stationary covariance solves the discrete Lyapunov
equation ``S = T S Tᵀ + R Σ_n Rᵀ`` (scipy, the independent reference), and
every statistic the schedule records is a quadratic form in ``(z, n)``, whose
stationary mean is ``½ Tr(∇² · Cov)``. The maps ``T`` and ``R`` are those of
the optax code itself (its Jacobian), so the check covers what the schedule
sees: ``O_L = −θ·Δ`` and ``O_R = ½|Δ|²`` per player, with ``Δ`` the update the
chain outputs, have equal stationary means; the SGD form ``θ·g = (η/2)|g|²``
does not, once there is momentum or a preconditioner.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg

from gandyn.analysis.fdr import update_fdr
from gandyn.games import make_spec
from gandyn.schedules import equivalence_test, scale_by_fdr
from gandyn.schedules.rule import FDRConfig

PLAYERS = ("generator", "discriminator")
ETA, B = 0.05, 4


@pytest.fixture(scope="module")
def spec():
    A = np.array([[1.0, 0.2], [0.2, 0.5]])
    C = np.array([[1.0, 0.3], [-0.2, 0.8]])
    D = np.array([[0.5, 0.0], [0.0, 0.3]])
    return make_spec(A, C, D, np.array([[0.3, 0.1], [0.1, 0.2]]), 0.2 * np.eye(2),
                     [1.0, -0.5], [0.5, 1.0])


def frozen_adam(learning_rate, b1, preconditioner):
    """Adam with its second moment frozen: ``m ← b1 m + (1 − b1) g``, ``Δ = −η P m``."""
    return optax.chain(
        optax.ema(b1, debias=False),
        optax.stateless(lambda u, p: jax.tree_util.tree_map(lambda a, c: a * c, u, preconditioner)),
        optax.scale(-learning_rate))


OPTIMIZERS = {
    "sgd": (lambda: optax.sgd(ETA), None),
    "momentum": (lambda: optax.sgd(ETA, momentum=0.6), "trace"),
    "frozen-adam": (lambda: frozen_adam(0.02, 0.9, (jnp.array([2.0, 1.0]), jnp.array([1.5, 3.0]))),
                    "ema"),
}


def _one_step(spec, name):
    """``(z, n) ↦ (z', statistics)`` for the optimiser ``name``.

    The statistics are the two sides of the FDR of the update per player
    (``O_L``, ``O_R`` from :func:`gandyn.analysis.fdr.update_fdr`, as
    ``scale_by_fdr`` records them) and the SGD form's ``θ·g`` and ``(η/2)|g|²``.
    """
    make, slot = OPTIMIZERS[name]
    opt = make()
    K = jnp.asarray(spec.K)
    blank = opt.init((jnp.zeros(2), jnp.zeros(2)))
    width = 4 if slot is None else 8

    def step(z, n):
        x = (z[:2], z[2:4])
        state = blank if slot is None else optax.tree_utils.tree_set(blank, **{slot: (z[4:6],
                                                                                     z[6:8])})
        field = K @ z[:4]                        # b0 = (−g_θ, g_ω)
        grads = (-field[:2] + n[:2], -field[2:] + n[2:])  # (g_θ, −g_ω) with minibatch noise
        updates, new = opt.update(grads, state, x)
        z_next = jnp.concatenate([x[0] + updates[0], x[1] + updates[1]])
        if slot is not None:
            z_next = jnp.concatenate([z_next, *optax.tree_utils.tree_get(new, slot)])
        sides = update_fdr(x, updates, PLAYERS)
        stats = [sides[p][0] for p in PLAYERS] + [sides[p][1] for p in PLAYERS] + [
            x[0] @ grads[0], x[1] @ grads[1],
            0.5 * ETA * grads[0] @ grads[0], 0.5 * ETA * grads[1] @ grads[1]]
        return z_next, jnp.stack(stats)

    return step, width, opt


def _chain(step, width):
    """``T``, ``R`` of the linear chain ``z' = T z + R n`` (the Jacobians of the step)."""
    z0, n0 = jnp.zeros(width), jnp.zeros(4)
    T, R = jax.jit(jax.jacobian(lambda z, n: step(z, n)[0], argnums=(0, 1)))(z0, n0)
    return np.asarray(T), np.asarray(R)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_fdr_of_the_update_is_exact_at_stationarity(spec, name):
    step, width, opt = _one_step(spec, name)
    T, R = _chain(step, width)
    assert np.abs(np.linalg.eigvals(T)).max() < 1  # a stationary law exists
    noise = spec.field_covariance / B   # the minibatch noise of (g_θ, −g_ω)
    S = scipy.linalg.solve_discrete_lyapunov(T, R @ noise @ R.T)
    covariance = scipy.linalg.block_diag(S, noise)
    hessians = np.asarray(jax.jit(jax.hessian(lambda w: step(w[:width], w[width:])[1]))(
        jnp.zeros(width + 4)))
    means = 0.5 * np.einsum("kij,ji->k", hessians, covariance)  # E of a centred quadratic form
    o_left, o_right, sgd_lhs, sgd_rhs = means[0:2], means[2:4], means[4:6], means[6:8]
    # Each player's E[−θ·Δ] = E[½|Δ|²], for every update rule, to rounding.
    np.testing.assert_allclose(o_left, o_right, rtol=1e-9)
    if name == "sgd":  # there it is Yaida's relation E[θ·g] = (η/2) E|g|²
        np.testing.assert_allclose(sgd_lhs, sgd_rhs, rtol=1e-9)
    else:              # with momentum or a preconditioner that form is off
        assert np.abs(sgd_lhs / sgd_rhs - 1).min() > 0.05


def test_scale_by_fdr_records_the_fdr_of_what_it_outputs(spec):
    """After any optimiser, the schedule records (−θ·Δ, ½|Δ|²) of its own scaled output Δ."""
    _, _, base = _one_step(spec, "frozen-adam")
    opt = optax.chain(base, scale_by_fdr(players=PLAYERS, cycle_check=False, min_samples=20,
                                         n_batches=10, max_window=20))
    rng = np.random.default_rng(3)
    x = (jnp.asarray(rng.normal(size=2)), jnp.asarray(rng.normal(size=2)))
    grads = (jnp.asarray(rng.normal(size=2)), jnp.asarray(rng.normal(size=2)))
    state = opt.init(x)
    state = optax.tree_utils.tree_set(state, ema=(jnp.asarray(rng.normal(size=2)),
                                                  jnp.asarray(rng.normal(size=2))))
    updates, new = jax.jit(opt.update)(grads, state, x)
    rule = optax.tree_utils.tree_get(new, "FDRRuleState")
    sides = update_fdr(x, updates, PLAYERS)
    for p in PLAYERS:
        assert float(rule.players[p].o_left[0]) == pytest.approx(float(sides[p][0]), rel=1e-12)
        assert float(rule.players[p].o_right[0]) == pytest.approx(float(sides[p][1]), rel=1e-12)
    theta = x[0]
    delta = updates[0]
    assert float(sides["generator"][0]) == pytest.approx(-float(theta @ delta), rel=1e-12)


def test_equivalence_test_on_batch_means_accepts_the_general_form_only(spec):
    """Monte Carlo: a stationary momentum chain passes the test in the general form, not SGD's."""
    step, width, _ = _one_step(spec, "momentum")
    T, R = _chain(step, width)
    noise = spec.field_covariance / B
    S = scipy.linalg.solve_discrete_lyapunov(T, R @ noise @ R.T)
    n_steps = 40_000
    rng = np.random.default_rng(0)
    z = rng.multivariate_normal(np.zeros(width), S)   # start in the stationary law
    noises = rng.multivariate_normal(np.zeros(4), noise, size=n_steps)
    _, stats = jax.jit(lambda z, ns: jax.lax.scan(lambda z, n: step(z, n), z, ns))(
        jnp.asarray(z), jnp.asarray(noises))
    stats = np.asarray(stats)
    config = FDRConfig(epsilon=0.1, min_samples=20, n_batches=10, max_window=n_steps)
    for j in range(2):
        passed, ratio, lo, hi, _ = equivalence_test(config, stats[:, j], stats[:, 2 + j], n_steps)
        assert passed and abs(ratio - 1) < 0.1, (j, ratio, lo, hi)
        passed, ratio, lo, hi, _ = equivalence_test(config, stats[:, 4 + j], stats[:, 6 + j], n_steps)
        assert not passed and not lo < 0 < hi  # the SGD form: its interval excludes 0
