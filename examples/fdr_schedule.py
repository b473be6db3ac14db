"""The FDR schedule after any optax optimiser, and its cycle check.

1. The weight-decayed tanh WGAN of Cao & Guo §4.2, trained with simultaneous SGD and with Adam,
   each followed by ``gandyn.schedules.scale_by_fdr``: prints every change of the scale (the
   cycle check lowers it for a trial, then keeps it or restores it) and the schedule's verdict.
2. Alternating GDA on the bilinear game f(x, y) = x·y, a bounded deterministic cycle: the FDR
   holds on it, and the cycle check refuses to lower η there, saying what would help.

Run: python examples/fdr_schedule.py [--steps N]
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
