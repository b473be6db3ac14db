"""The FDR schedule: its rule, its cycle check, and the optax contract.

On a linear-quadratic game the expected statistics are exact at every step
(moment recursions) and the stationary spreads are exact (discrete Lyapunov
equations), so the time at which each player's ``E O_L = E O_R`` and the
spread a trial should measure are known.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.linalg

from gandyn.analysis.lq_exact import sga_moments
from gandyn.games import linear_quadratic, make_spec, tanh_wgan, with_weight_decay
from gandyn.schedules import (FDR_STATIC_ARGS, PHASES, FDRConfig, fdr_metrics, fdr_sgd,
                              fdr_verdict, rule_init, rule_update, scale_by_fdr)
from gandyn.schedules.fdr import _jax_ops
from gandyn.schedules.rule import ANCHOR, HALTED, MEASURE, NUMPY_OPS, anchor_action, verdict

PLAYERS = ("generator", "discriminator")


@pytest.fixture(scope="module")
def far_start_spec():
    A = np.array([[1.0, 0.2], [0.2, 0.5]])
    C = np.array([[1.0, 0.3], [-0.2, 0.8]])
    D = np.array([[0.5, 0.0], [0.0, 0.3]])
    return make_spec(A, C, D, 0.3 * np.eye(2), 0.2 * np.eye(2), [4.0, -3.0], [3.0, 4.0])


def _expected_sides(spec, eta, batch_size, n_steps):
    """Exact ``E O_L`` and ``E O_R`` of SML SGD per player, for t = 0 … n_steps.

    With ``Δ = η(K u + e)``, ``Cov e = Σ/B``: ``E[−u_p·Δ_p] = −η Tr(Π_p K S)``
    and ``E ½|Δ_p|² = ½η²(Tr(Kᵀ Π_p K S) + Tr(Π_p Σ)/B)``, ``S = E u uᵀ``.
    """
    _, S = sga_moments(spec, "sml", eta, n_steps, batch_size)
    K, Sigma = spec.K, spec.field_covariance
    out = {}
    for name, block in zip(PLAYERS, (slice(0, 2), slice(2, 4))):
        P = np.zeros((4, 4))
        P[block, block] = np.eye(2)
        o_left = -eta * np.einsum("ij,tji->t", P @ K, S)
        o_right = 0.5 * eta**2 * (np.einsum("ij,tji->t", K.T @ P @ K, S)
                                  + np.trace(P @ Sigma) / batch_size)
        out[name] = (o_left, o_right)
    return out


LQ_KNOBS = dict(delta=0.5, epsilon=0.2, test_interval=50, min_samples=100, n_batches=10,
                max_window=4000, players=PLAYERS)
LQ_ETA, LQ_B, LQ_STEPS = 0.1, 4, 9000


@pytest.fixture(scope="module")
def lq_run(far_start_spec):
    """SML SGD under the schedule (cycle check on) on the LQ game: one compiled run per seed."""
    game = linear_quadratic(far_start_spec)

    @jax.jit
    def run(eta, key):
        opt = optax.chain(optax.sgd(eta), scale_by_fdr(**LQ_KNOBS))

        def step(carry, k):
            params, state = carry
            g_th, g_om = game.batch_gradients(*params, game.sample_indices(k, LQ_B))
            # each player's gradient of the loss it minimises: the discriminator's is −g_ω
            updates, state = opt.update((g_th, -g_om), state, params)
            return (optax.apply_updates(params, updates), state), fdr_metrics(state)["fdr/phase"]

        params = (game.theta0, game.omega0)
        (_, state), phases = jax.lax.scan(step, (params, opt.init(params)),
                                          jax.random.split(key, LQ_STEPS))
        return fdr_metrics(state), phases

    def runs(eta, seeds):
        return [jax.tree_util.tree_map(np.asarray, run(eta, jax.random.key(s))) for s in seeds]

    return runs


def test_cycle_check_passes_after_equilibrium_and_not_before(far_start_spec, lq_run):
    expected = _expected_sides(far_start_spec, LQ_ETA, LQ_B, LQ_STEPS)
    eps = LQ_KNOBS["epsilon"]
    gaps = [np.abs(o_left / o_right - 1) for o_left, o_right in expected.values()]
    # Last step at which some player's expected statistic is still twice the band away.
    t_out = max(int(np.nonzero(g > 2 * eps)[0].max()) for g in gaps)
    t_in = max(int(np.nonzero(g > eps / 4)[0].max()) for g in gaps) + 1  # well inside from here
    assert 50 < t_out < t_in < 300
    # The spread a trial should see: Tr S_p at (1 − δ)η over Tr S_p at η, S from Lyapunov.
    K, Sigma = far_start_spec.K, far_start_spec.field_covariance

    def spread(eta):
        S = scipy.linalg.solve_discrete_lyapunov(np.eye(4) + eta * K, eta**2 * Sigma / LQ_B)
        return np.array([np.trace(S[:2, :2]), np.trace(S[2:, 2:])])

    exact_ratio = spread(LQ_ETA * (1 - LQ_KNOBS["delta"])) / spread(LQ_ETA)
    ratios = []
    for metrics, phases in lq_run(LQ_ETA, range(8)):
        first_trial = int(np.argmax(phases == ANCHOR))
        # a test at step t looks at steps t/2 … t, so it can pass only once t/2 > t_out
        assert phases[first_trial] == ANCHOR and first_trial > 2 * t_out
        assert not metrics["fdr/cycle"] and metrics["fdr/n_drops"] >= 1, \
            "the trial did not confirm a noise-driven stationarity"
        ratios.append([metrics[f"fdr/spread_ratio/{p}"] for p in PLAYERS])
    ratios = np.array(ratios)
    assert np.all(ratios < 1 - LQ_KNOBS["delta"] / 2)
    np.testing.assert_allclose(ratios.mean(axis=0), exact_ratio, atol=0.1)


def test_no_trial_while_far_from_equilibrium(lq_run):
    """With a tiny learning rate the chain never equilibrates in the run: no trial, no drop."""
    [(metrics, phases)] = lq_run(1e-3, [0])
    assert np.all(phases == MEASURE) and metrics["fdr/scale"] == 1.0


def _bilinear(rule_config, steps, eta=0.2):
    """Alternating GDA on f(x, y) = x·y (x minimises): a bounded cycle, for the NumPy rule.

    The caller's side of the cycle check (anchor sum, distances) is done here by hand,
    as :mod:`gandyn.schedules.torch` does it.
    """
    state = rule_init(rule_config, ["x", "y"])
    x, y = 1.0, 0.5
    anchor = np.zeros(2)
    for _ in range(steps):
        action = anchor_action(state)
        anchor = anchor + (x, y) if action == "add" else 0 * anchor if action == "clear" else anchor
        a = anchor / max(int(state.phase_length), 1)
        step = eta * float(state.scale)
        dx = -step * y
        dy = step * (x + dx)
        state = rule_update(rule_config, state, {"x": (-x * dx, 0.5 * dx * dx, (x - a[0]) ** 2),
                                                 "y": (-y * dy, 0.5 * dy * dy, (y - a[1]) ** 2)})
        x, y = x + dx, y + dy
    return state


def test_bilinear_cycle_passes_the_fdr_and_the_cycle_check_refuses_to_drop():
    knobs = dict(delta=0.5, epsilon=0.1, test_interval=50, min_samples=100, max_window=3000)
    plain = _bilinear(FDRConfig(**knobs, cycle_check=False), 2000)
    # The FDR cannot tell a cycle from noise: the plain rule lowers η on the cycle …
    assert int(plain.n_drops) >= 1
    checked = _bilinear(FDRConfig(**knobs), 9000)
    # … the cycle check tries, sees the orbit keep its size and restores η; after
    # cycle_patience (2) such trials in a row it declares a cycle and stops trying.
    assert int(checked.n_trials) == 2 and int(checked.n_drops) == 0
    assert bool(checked.cycle) and int(checked.phase) == HALTED and float(checked.scale) == 1.0
    for p in checked.players.values():
        assert 0.9 < float(p.spread_after) / float(p.spread_before) < 1.2
    text = verdict(checked)
    assert text.startswith("cycle") and "extragradient" in text and "regularisation" in text


def test_gan_noise_driven_stationarity_is_confirmed():
    """The weight-decayed tanh WGAN of Cao & Guo §4.2 under SGD: the trial confirms, η drops."""
    game = with_weight_decay(tanh_wgan(), 1.0)
    opt = fdr_sgd(1.0, delta=0.5, epsilon=0.2, test_interval=100, min_samples=400,
                  max_window=4000, players=PLAYERS)

    def step(carry, key):
        params, state = carry
        g_theta, g_omega = game.batch_gradients(*params, game.sample_indices(key, 8))
        updates, state = opt.update((g_theta, -g_omega), state, params)
        return (optax.apply_updates(params, updates), state), None

    params = (game.theta0, game.omega0)
    (_, state), _ = jax.jit(lambda p, s: jax.lax.scan(
        step, (p, s), jax.random.split(jax.random.key(0), 3000)))(params, opt.init(params))
    metrics = fdr_metrics(state)
    assert int(metrics["fdr/n_drops"]) == 1 and not bool(metrics["fdr/cycle"])
    assert float(optax.tree_utils.tree_get(state, "scale")) == 0.5
    for p in PLAYERS:
        assert float(metrics[f"fdr/spread_ratio/{p}"]) < 0.75
    assert fdr_verdict(state).startswith("noise-driven")


# --------------------------------------------------------------------------- the rule itself


def test_rule_on_synthetic_statistics():
    cfg = FDRConfig(delta=0.5, epsilon=0.05, test_interval=10, min_samples=40, n_batches=4,
                    max_window=200, cycle_check=False)
    rng = np.random.default_rng(0)
    state = rule_init(cfg, ["all"])
    for _ in range(200):  # unequal means: never drops
        state = rule_update(cfg, state, {"all": (2.0 + 0.1 * rng.standard_normal(), 1.0, 0.0)})
    assert int(state.n_drops) == 0
    assert float(state.players["all"].ratio) == pytest.approx(2.0, rel=0.05)
    state = rule_init(cfg, ["all"])
    for _ in range(40):  # equal means, little noise: drops at the first test
        state = rule_update(cfg, state, {"all": (1.0 + 0.01 * rng.standard_normal(), 1.0, 0.0)})
    assert int(state.n_drops) == 1 and float(state.scale) == 0.5 and int(state.n_recorded) == 0
    # A player that does not move (frozen, or masked out by multi_transform) does not block a
    # drop; one whose statistics are NaN (diverged) does, and so does nobody moving at all.
    for frozen, drops in (((0.0, 0.0), 1), ((np.nan, np.nan), 0)):
        state = rule_init(cfg, ["a", "b"])
        for _ in range(40):
            state = rule_update(cfg, state, {"a": (1.0 + 0.01 * rng.standard_normal(), 1.0, 0.0),
                                             "b": (*frozen, 0.0)})
        assert int(state.n_drops) == drops
    state = rule_init(cfg, ["a"])
    for _ in range(40):
        state = rule_update(cfg, state, {"a": (0.0, 0.0, 0.0)})
    assert int(state.n_drops) == 0
    # With the cycle check: the moving player's spread halves in the trial, the frozen one has
    # none (q = 0): a drop, after anchor, baseline, relax and trial phases of 20, 40, 40, 40 steps.
    checked = cfg._replace(cycle_check=True)
    state = rule_init(checked, ["a", "b"])
    for _ in range(40 + 20 + 40 + 40 + 40):
        q = 0.5 if PHASES[int(state.phase)] == "trial" else 1.0
        state = rule_update(checked, state, {"a": (1.0 + 0.01 * rng.standard_normal(), 1.0, q),
                                             "b": (0.0, 0.0, 0.0)})
    assert int(state.n_drops) == 1 and float(state.scale) == 0.5 and not bool(state.cycle)
    assert float(state.players["a"].spread_after / state.players["a"].spread_before) == 0.5


def test_jax_and_numpy_rules_agree_through_a_cycle_check():
    """The rule is one function for both array libraries: same phases, scales and drops."""
    cfg = FDRConfig(delta=0.5, epsilon=0.1, test_interval=10, min_samples=40, n_batches=4,
                    max_window=120)
    rng = np.random.default_rng(1)
    n = 400
    o_right = 1 + 0.05 * rng.standard_normal((n, 2))
    o_left = o_right * (1 + 0.02 * rng.standard_normal((n, 2)))
    q = np.where(np.arange(n)[:, None] < 150, 1.0, 0.4) + 0.01 * rng.standard_normal((n, 2))
    names = ["a", "b"]

    def feed(state, ops, i):
        return rule_update(cfg, state, {m: (o_left[i, j], o_right[i, j], q[i, j])
                                        for j, m in enumerate(names)}, ops)

    state = rule_init(cfg, names)
    numpy_trace = []
    for i in range(n):
        state = feed(state, NUMPY_OPS, i)
        numpy_trace.append((int(state.phase), float(state.scale)))
    ops = _jax_ops()

    def body(s, i):
        s = rule_update(cfg, s, {m: (jnp.asarray(o_left)[i, j], jnp.asarray(o_right)[i, j],
                                     jnp.asarray(q)[i, j]) for j, m in enumerate(names)}, ops)
        return s, (s.phase, s.scale)

    final, (phases, scales) = jax.jit(lambda s: jax.lax.scan(body, s, jnp.arange(n)))(
        rule_init(cfg, names, ops))
    assert [p for p, _ in numpy_trace] == np.asarray(phases).tolist()
    np.testing.assert_allclose([s for _, s in numpy_trace], np.asarray(scales), rtol=1e-12)
    assert {PHASES[p] for p, _ in numpy_trace} >= {"anchor", "baseline", "relax", "trial"}
    assert int(final.n_drops) == int(state.n_drops) >= 1
    for m in names:
        assert float(final.players[m].spread_after) == pytest.approx(
            float(state.players[m].spread_after), rel=1e-9)


@pytest.mark.parametrize("bad", [dict(delta=1.5), dict(epsilon=0), dict(min_scale=-1.0),
                                 dict(min_samples=5, n_batches=10), dict(test_interval=2.5),
                                 dict(spread_threshold=1.5)])
def test_config_validation(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        scale_by_fdr(**bad)


# --------------------------------------------------------------------------- the optax contract


def _noisy_quadratic(opt, n_steps, scales=(1.0, 2.0)):
    """Minimise ½a|x|² per player from noisy gradients: stationary after a few dozen steps.

    Returns ``run(params, state, seed) -> ((params, state), (grads, updates, metrics))``,
    compiled once, and the starting parameters.
    """
    params = {"generator": jnp.full(3, 2.0), "discriminator": jnp.full(2, -1.0)}

    def step(carry, key):
        p, s = carry
        k1, k2 = jax.random.split(key)
        grads = {"generator": scales[0] * p["generator"] + jax.random.normal(k1, (3,)),
                 "discriminator": scales[1] * p["discriminator"] + jax.random.normal(k2, (2,))}
        updates, s = opt.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), (grads, updates, fdr_metrics(s))

    @jax.jit
    def run(p, s, seed):
        return jax.lax.scan(step, (p, s), jax.random.split(jax.random.key(seed), n_steps))

    return run, params


def _noisy_quadratic_steps(opt, n_steps, seed=0):
    run, params = _noisy_quadratic(opt, n_steps)
    return run(params, opt.init(params), seed)


SMALL = dict(test_interval=20, min_samples=100, n_batches=10, max_window=4000)


def test_optax_contract_chain_multi_transform_inject_hyperparams_jit_tree_get_metrics():
    """One compiled run covers the contract: the schedule after Adam, one schedule per player
    (``multi_transform``), a hyperparameter injected and scheduled (``inject_hyperparams``),
    under ``jit``, read with ``tree_get`` and as flat metrics."""
    inject = optax.inject_hyperparams(scale_by_fdr, static_args=FDR_STATIC_ARGS)
    adam = optax.adam(0.1, b1=0.5)  # the GAN setting
    wide_after = 300                # ε = 1e-6 (no drop possible) until then, 0.5 after
    generator = optax.chain(adam, inject(delta=0.5, cycle_check=True, **SMALL,
                                         epsilon=lambda t: jnp.where(t < wide_after, 1e-6, 0.5)))
    drift = optax.stateless(lambda u, p: jax.tree_util.tree_map(lambda x: x * 0 + 1.0, u))
    discriminator = optax.chain(drift, optax.scale(1e-3), scale_by_fdr(cycle_check=False, **SMALL))
    opt = optax.multi_transform({"generator": generator, "discriminator": discriminator},
                                {"generator": "generator", "discriminator": "discriminator"})
    (params, state), (grads, updates, trace) = _noisy_quadratic_steps(opt, 3000)
    metrics = fdr_metrics(state)
    scale_g = np.asarray(trace["fdr/scale/generator"])
    # The injected ε: no drop while the band is 1e-6, then the cycle check confirms and η drops.
    assert np.all(scale_g[:wide_after] == 1.0) and scale_g[-1] < 1.0
    assert int(metrics["fdr/n_drops/generator"]) >= 1 and not bool(metrics["fdr/cycle/generator"])
    # The discriminator moves steadily (not stationary): its own schedule never drops.
    assert np.all(np.asarray(trace["fdr/scale/discriminator"]) == 1.0)
    # The generator's output is Adam's update times the scale in force at each step.
    _, adam_updates = jax.lax.scan(lambda st, g: adam.update(g, st)[::-1],
                                   adam.init(params["generator"]), grads["generator"])
    in_force = np.concatenate([[1.0], scale_g[:-1]])
    np.testing.assert_allclose(np.asarray(updates["generator"]),
                               in_force[:, None] * np.asarray(adam_updates), rtol=1e-6)
    # tree_get: one value per schedule; two here, so a bare "scale" is ambiguous, as optax says.
    with pytest.raises(KeyError):
        optax.tree_utils.tree_get(state, "scale")
    found = optax.tree_utils.tree_get_all_with_path(state, "scale")
    assert sorted(float(v) for _, v in found) == sorted([float(scale_g[-1]), 1.0])
    assert float(optax.tree_utils.tree_get(state, "hyperparams")["epsilon"]) == 0.5
    expected = {f"fdr/{k}/{who}" for who in ("generator", "discriminator")
                for k in ("scale", "phase", "n_drops", "n_trials", "cycle", "ratio", "ci_low",
                          "ci_high", "passed", "spread_ratio")}
    assert set(metrics) == expected and all(jnp.ndim(v) == 0 for v in metrics.values())


def test_one_schedule_reads_with_tree_get_and_needs_static_args_when_injected():
    opt = optax.chain(optax.sgd(0.1), scale_by_fdr(players=PLAYERS, **SMALL))
    params = (jnp.zeros(2), jnp.zeros(3))
    assert float(optax.tree_utils.tree_get(opt.init(params), "scale")) == 1.0
    with pytest.raises(ValueError, match="static_args"):
        optax.inject_hyperparams(scale_by_fdr)(delta=0.5).init(params)


def test_update_needs_params():
    opt = scale_by_fdr()
    state = opt.init(jnp.zeros(2))
    with pytest.raises(ValueError, match="params"):
        opt.update(jnp.zeros(2), state)


def test_metric_names_for_one_player_have_no_suffix():
    opt = scale_by_fdr(**SMALL)
    metrics = fdr_metrics(opt.init(jnp.zeros(2)))
    assert {"fdr/ratio", "fdr/ci_low", "fdr/ci_high", "fdr/scale"} <= set(metrics)
    assert all(math.isnan(float(metrics[k])) for k in ("fdr/ratio", "fdr/ci_low"))
