"""Your own stochastic min-max game in a few lines: SGA vs its SDE, weak error with an interval.

Run: python examples/custom_game.py [--paths N]
"""

import argparse

import jax

import gandyn
from gandyn.analysis import Comparison, monte_carlo_weak_error

parser = argparse.ArgumentParser()
parser.add_argument("--paths", type=int, default=20_000)
args = parser.parse_args()

# A bilinear-quadratic game with per-sample noise: min over θ, max over ω.
data = jax.random.normal(jax.random.key(0), (256, 2))


def loss(theta, omega, x):
    return 0.5 * theta @ theta + 2.0 * theta @ omega - 0.5 * omega @ omega + theta @ x[:1] + omega @ x[1:]


game = gandyn.make_game(loss, data, theta0=[1.0], omega0=[0.5])
results = monte_carlo_weak_error(
    game, [Comparison("alt", "alt-sde"), Comparison("sml", "sml-sde")], etas=[0.2, 0.1],
    horizon=1.0, batch_size=8, test_fn=lambda u: u @ u, paths=args.paths, seed=0)
for r in results:
    print(f"{r.scheme.upper()} vs {r.sde} ({r.covariance}): errors {[f'{e:.2e}' for e in r.error_final]}, "
          f"order {r.order_final:.2f}, 95% interval {[round(x, 2) for x in r.order_final_ci]}")
