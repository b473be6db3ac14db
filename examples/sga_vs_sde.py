"""Simulate SGA and its SDE side by side on the tanh WGAN and plot E|u|² over time.

Run: python examples/sga_vs_sde.py [--paths N] [--out DIR]
"""

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import gandyn

parser = argparse.ArgumentParser()
parser.add_argument("--paths", type=int, default=10_000)
parser.add_argument("--out", default="out/sga_vs_sde")
args = parser.parse_args()

game = gandyn.games.tanh_wgan()
eta, B, steps = 0.2, 64, 10
f = lambda u: jnp.array([u @ u])
fig, ax = plt.subplots(figsize=(5, 3.5))
for scheme, sde_name in (("alt", "alt-sde"), ("sml", "sml-sde")):
    sga = gandyn.simulate_sga(game, gandyn.SGAConfig(scheme, eta, B), steps, args.paths,
                              jax.random.key(0), f)
    sde = gandyn.make_sde(game, sde_name, eta, B)
    cont = gandyn.simulate_sde(sde, steps, args.paths, jax.random.key(1), f, substeps=8, richardson=True)
    t = sga.steps * eta
    ax.errorbar(t, sga.mean[:, 0], 1.96 * sga.standard_error[:, 0], fmt="o", ms=3, label=scheme.upper())
    ax.plot(t, cont.mean[:, 0], "-", label=sde_name)
ax.set_xlabel("time t = kη")
ax.set_ylabel("E |θ|² + |ω|²")
ax.legend()
out = Path(args.out)
out.mkdir(parents=True, exist_ok=True)
fig.savefig(out / "sga_vs_sde.png", dpi=120, bbox_inches="tight")
print(f"wrote {out / 'sga_vs_sde.png'}")
