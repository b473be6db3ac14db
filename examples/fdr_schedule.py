"""The FDR schedule after any optax optimiser, and its cycle check.

1. The weight-decayed tanh WGAN of Cao & Guo §4.2, trained with simultaneous SGD and with Adam,
   each followed by ``gandyn.schedules.scale_by_fdr``: prints every change of the scale (the
   cycle check lowers it for a trial, then keeps it or restores it) and the schedule's verdict.
2. Alternating GDA on the bilinear game f(x, y) = x·y, a bounded deterministic cycle: the FDR
   holds on it, and the cycle check refuses to lower η there, saying what would help.
3. With --lq-seeds N: the linear-quadratic game of tests/test_schedule.py at its noisy
   equilibrium, N seeds: how often a trial reads a cycle, and the spread ratio V1/V0 the trials
   measure against its exact value from the discrete Lyapunov equation.

Run: python examples/fdr_schedule.py [--steps N] [--lq-seeds N]
"""

import argparse

import jax
import numpy as np
import optax

from gandyn.games import tanh_wgan, with_weight_decay
from gandyn.schedules import FDRConfig, fdr_metrics, fdr_verdict, rule_init, rule_update, scale_by_fdr
from gandyn.schedules.rule import anchor_action, anchor_length, verdict

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=6000)
parser.add_argument("--lq-seeds", type=int, default=0, help="seeds of the LQ check (0: skip it)")
args = parser.parse_args()

game = with_weight_decay(tanh_wgan(), 1.0)
B = 8
for label, base in (("SGD, lr 1", optax.sgd(1.0)), ("Adam, lr 0.05, b1 0.5", optax.adam(0.05, b1=0.5))):
    opt = optax.chain(base, scale_by_fdr(delta=0.5, epsilon=0.2, test_interval=100, min_samples=400,
                                         max_window=8000, players=("generator", "discriminator")))

    def step(carry, key):
        params, state = carry
        g_theta, g_omega = game.batch_gradients(*params, game.sample_indices(key, B))
        updates, state = opt.update((g_theta, -g_omega), state, params)  # ω ascends: minimise −Φ
        return (optax.apply_updates(params, updates), state), fdr_metrics(state)["fdr/scale"]

    params = (game.theta0, game.omega0)
    keys = jax.random.split(jax.random.key(0), args.steps)
    (params, state), scales = jax.jit(
        lambda p, s: jax.lax.scan(step, (p, s), keys))(params, opt.init(params))
    print(f"tanh WGAN, {label}:")
    previous = 1.0
    for t, scale in enumerate(np.asarray(scales).tolist()):
        if scale != previous:
            print(f"  step {t:6d}: scale {previous:.4g} -> {scale:.4g}")
            previous = scale
    print("  " + fdr_verdict(state))

# The bilinear cycle, with the rule driven directly (as gandyn.schedules.torch does).
config = FDRConfig(delta=0.5, epsilon=0.1, test_interval=50, min_samples=100, max_window=3000)
state = rule_init(config, ["x", "y"])
x, y, anchor = 1.0, 0.5, np.zeros(2)
for _ in range(max(args.steps, 9000)):
    action = anchor_action(state)
    anchor = anchor + (x, y) if action == "add" else 0 * anchor if action == "clear" else anchor
    a = anchor / anchor_length(int(state.phase_length))
    eta = 0.2 * float(state.scale)
    dx = -eta * y                 # x descends f
    dy = eta * (x + dx)           # y ascends f, seeing the new x (alternating)
    state = rule_update(config, state, {"x": (-x * dx, 0.5 * dx * dx, (x - a[0]) ** 2),
                                        "y": (-y * dy, 0.5 * dy * dy, (y - a[1]) ** 2)})
    x, y = x + dx, y + dy
print("alternating GDA on x·y at eta = 0.2:")
print("  " + verdict(state))

if args.lq_seeds:
    import scipy.linalg

    from gandyn.games import linear_quadratic, make_spec

    spec = make_spec([[1.0, 0.2], [0.2, 0.5]], [[1.0, 0.3], [-0.2, 0.8]], [[0.5, 0.0], [0.0, 0.3]],
                     0.3 * np.eye(2), 0.2 * np.eye(2), [4.0, -3.0], [3.0, 4.0])
    lq, eta, batch, players = linear_quadratic(spec), 0.1, 4, ("generator", "discriminator")
    opt = optax.chain(optax.sgd(eta), scale_by_fdr(delta=0.5, epsilon=0.2, test_interval=50,
                                                   min_samples=100, max_window=4000,
                                                   players=players))

    def lq_run(key):
        def lq_step(carry, k):
            params, state = carry
            g_th, g_om = lq.batch_gradients(*params, lq.sample_indices(k, batch))
            updates, state = opt.update((g_th, -g_om), state, params)
            return (optax.apply_updates(params, updates), state), None

        params = (lq.theta0, lq.omega0)
        (_, state), _ = jax.lax.scan(lq_step, (params, opt.init(params)),
                                     jax.random.split(key, 9000))
        return fdr_metrics(state)

    metrics = jax.jit(jax.vmap(lq_run))(jax.random.split(jax.random.key(0), args.lq_seeds))
    spreads = np.stack([np.asarray(metrics[f"fdr/spread_ratio/{p}"]) for p in players], axis=1)
    done = np.isfinite(spreads).all(axis=1)

    def stationary_spread(step):
        S = scipy.linalg.solve_discrete_lyapunov(np.eye(4) + step * spec.K,
                                                 step**2 * spec.field_covariance / batch)
        return np.array([np.trace(S[:2, :2]), np.trace(S[2:, 2:])])

    exact = stationary_spread(eta / 2) / stationary_spread(eta)
    trials = int(np.sum(np.asarray(metrics["fdr/n_trials"])))
    drops = int(np.sum(np.asarray(metrics["fdr/n_drops"])))
    running = int(np.sum(np.isin(np.asarray(metrics["fdr/phase"]), (1, 2, 3, 4))))
    print(f"LQ game, {args.lq_seeds} seeds, 9000 steps: {trials} trials, {drops} kept "
          f"(noise-driven), {running} under way, {trials - drops - running} read as not "
          f"shrinking; {int(np.sum(np.asarray(metrics['fdr/cycle'])))} seeds declared a cycle")
    print(f"  V1/V0 of the last trial ({int(done.sum())} seeds): mean "
          f"{np.round(spreads[done].mean(axis=0), 3)}, std {np.round(spreads[done].std(axis=0), 3)}, "
          f"max {spreads[done].max():.3f}; exact (Lyapunov) {np.round(exact, 3)}")
