"""The stability margin of a training step along training, and the path-angle (docs/stability.md).

An MLP GAN on the 8-Gaussian ring with an R1 penalty, trained full-batch by alternating
heavy-ball GDA (β = −0.3, TTUR: η_ω = 2η_θ). Every ``--every`` steps the top ``--k``
eigenvalues of the Jacobian of the whole training step (parameters and momentum buffers) come
from ARPACK on Jacobian–vector products, each solve warm-started from the previous leading
eigenvector (and, for comparison, from a fixed random vector); the margin ``1 − ρ`` says whether training is locally contracting there. Then the
path-angle of Berard et al. (2020) between the initial and the final point: the cosine between
the field and the straight line through them, at 100 points.

Run: python examples/stability_along_training.py [--steps N] [--every K] [--k K] [--out DIR]

    python examples/stability_along_training.py --out results/along   # plots and along.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)  # eigenvalues near the unit circle decide stability

import numpy as np  # noqa: E402

from gandyn.analysis.step_spectrum import (path_angle, plot_stability_margin,  # noqa: E402
                                           spectrum_along_training)
from gandyn.analysis.update_maps import GradientPenalty, Momentum, training_step  # noqa: E402
from gandyn.datasets import ring  # noqa: E402
from gandyn.games import mlp_gan  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    p.add_argument("--every", type=int, default=50, help="steps between spectra (default 50)")
    p.add_argument("--k", type=int, default=6, help="eigenvalues per spectrum (default 6)")
    p.add_argument("--eta", type=float, default=0.05, help="the generator's step (default 0.05)")
    p.add_argument("--out", default=None, help="folder for the plots and along.json (default none)")
    args = p.parse_args()

    gan = mlp_gan(ring(256, 0).samples, latent_dim=2, hidden=8, depth=1, n_latent=256, seed=0)
    game = gan.game
    penalty = GradientPenalty.for_game(game, r1=1.0)
    step = training_step(game, Momentum(args.eta, beta=-0.3, eta_omega=2 * args.eta,
                                        order="alternating"), penalty=penalty)
    states = []
    along = spectrum_along_training(step, steps=args.steps, every=args.every, k=args.k,
                                    tol=1e-10, callback=lambda t, s, spec: states.append(s))
    cold = spectrum_along_training(step, steps=args.steps, every=args.every, k=args.k,
                                   tol=1e-10, warm_start=False)
    u_first = game.join(states[0].theta, states[0].omega)
    u_last = game.join(states[-1].theta, states[-1].omega)
    angle = path_angle(game, u_first, u_last, penalty=penalty)

    print(f"{game.dim} parameters, state of {2 * game.dim} numbers (with the momentum buffers)")
    print("step   spectral radius   margin 1 - rho   matvecs (warm / cold start)   seconds")
    for t, r, m, c, s in zip(along.steps, along.radius, along.matvecs, cold.matvecs,
                             along.seconds):
        print(f"{t:5d}   {r:.10f}      {1 - r:+.3e}      {m:5d} / {c:5d}   {s:6.2f}")
    i = int(np.argmin(np.abs(angle["alphas"] - 1.0)))
    print(f"path-angle: cosine {angle['cosine'][0]:+.3f} at alpha = {angle['alphas'][0]:.2f}, "
          f"{angle['cosine'][i]:+.3f} near the final point, |F| there {angle['field_norm'][i]:.3g}")

    result = {"parameters": game.dim, "steps": along.steps, "radius": along.radius,
              "margin": along.margin.tolist(), "matvecs": along.matvecs,
              "matvecs_cold_start": cold.matvecs, "radius_cold_start": cold.radius,
              "residual_max": along.residual_max,
              "path_angle": {k: np.asarray(v).tolist() for k, v in angle.items()}}
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        plot_stability_margin(along).savefig(out / "margin.png", dpi=120)
        from gandyn.io import new_figure

        fig = new_figure(figsize=(5.6, 3.6), layout="constrained")
        ax = fig.subplots()
        ax.plot(angle["alphas"], angle["cosine"])
        ax.axvline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xlabel(r"$\alpha$ ($u = u_0 + \alpha(u_T - u_0)$)")
        ax.set_ylabel(r"$\cos\angle(F(u), u_T - u_0)$")
        ax.set_title("path-angle between the first and the last point")
        ax.grid(alpha=0.3)
        fig.savefig(out / "path_angle.png", dpi=120)
        (out / "along.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
