"""Train the regularised tanh WGAN with simultaneous SGD under the FDR schedule (optax).

Prints every learning-rate drop and the logged statistic mean(O_L)/mean(O_R).
Run: python examples/fdr_schedule.py [--steps N]
"""

import argparse

import jax
import optax

from gandyn.games import tanh_wgan, with_weight_decay
from gandyn.schedules import FDRRuleConfig, fdr_sgd

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=8000)
args = parser.parse_args()

game = with_weight_decay(tanh_wgan(), 0.5)
opt = fdr_sgd(FDRRuleConfig(eta0=0.2, delta=0.5, epsilon=0.2, test_interval=100, min_samples=400))
B = 8


def step(carry, key):
    params, state = carry
    g_theta, g_omega = game.batch_gradients(*params, game.sample_indices(key, B))
    updates, state = opt.update((g_theta, -g_omega), state, params)  # ω ascends: minimise −Φ
    params = optax.apply_updates(params, updates)
    return (params, state), (state.rule.eta, state.rule.last_ratio)


params = (game.theta0, game.omega0)
keys = jax.random.split(jax.random.key(0), args.steps)
(params, state), (etas, ratios) = jax.jit(
    lambda p, s: jax.lax.scan(step, (p, s), keys))(params, opt.init(params))
previous = float(etas[0])
for t, (eta, ratio) in enumerate(zip(etas.tolist(), ratios.tolist())):
    if eta != previous:
        print(f"step {t:6d}: eta {previous:.4g} -> {eta:.4g}   (mean O_L / mean O_R = {ratio:.3f})")
        previous = eta
print(f"final theta = {params[0]}, omega = {params[1]}, eta = {float(state.rule.eta):.4g}, "
      f"drops = {int(state.rule.n_drops)}")
print(f"last test: mean O_L / mean O_R = {float(state.rule.last_ratio):.3f}, "
      f"95% interval of mean(O_L - O_R)/mean O_R = {[round(float(x), 3) for x in state.rule.last_ci]}")
