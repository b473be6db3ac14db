"""When the local picture breaks: several targets, stray points and mode collapse.

Theorem 1 of Becker et al. describes points that start next to their target.
Here 64 generated points start from a standard normal cloud and 8 targets sit
on a circle of radius 2 (the 8-Gaussian ring's centres), RBF discriminator,
discriminator-first GDA (the authors' order), for several kernel widths σ in
ONE vmapped run. For each σ the script reports which target every point ends
at (:func:`gandyn.kernel.nearest_target`), how many targets got at least one
point (mode coverage), the points still farther than ``--radius`` from every
target (they left, or never reached, a target's neighbourhood), and the mass
imbalance ``|p_i − Σ_{j→i} p̃_j|`` the local theory assumes to be zero.

    python examples/kernel_modes.py                      # 2000 steps, σ = 0.2, 0.5, 1, 2
    python examples/kernel_modes.py --steps 300 --out results/modes
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from gandyn.kernel import KernelGDA, memory_for, nearest_target, simulate


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--sigmas", default="0.2,0.5,1,2", help="comma-separated kernel widths")
    ap.add_argument("--n-gen", type=int, default=64)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--eta", type=float, default=0.1, help="η_d = η_g")
    ap.add_argument("--radius", type=float, default=0.25, help="a point within this of a target has reached it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="directory for kernel_modes.png/.json")
    args = ap.parse_args(argv)
    try:
        sigmas = np.array([float(s) for s in args.sigmas.split(",")])
    except ValueError:
        ap.error(f"--sigmas: not a comma-separated list of numbers: {args.sigmas!r}")
    if args.steps < 1 or args.n_gen < 1 or not np.all(sigmas > 0):
        ap.error("--steps and --n-gen must be positive, and every σ too")

    angle = 2 * math.pi * np.arange(8) / 8
    targets = np.stack([2 * np.cos(angle), 2 * np.sin(angle)], axis=1)
    x0 = np.random.default_rng(args.seed).normal(size=(args.n_gen, 2))
    game = KernelGDA(targets, n_gen=args.n_gen)  # masses 1/8 and 1/n_gen
    # Centres older than this weigh less than 1e-6 of a new one; dropping them keeps each step cheap.
    memory = memory_for(1e-6, args.lam, args.eta)
    traj = simulate(game, x0, sigma=sigmas, lam=args.lam, eta_d=args.eta, eta_g=args.eta,
                    steps=args.steps, order="d-first", memory=memory, every=max(1, args.steps // 100))
    final = np.asarray(traj.positions[:, -1])  # (n_sigma, N, 2)
    index, distance = (np.asarray(a) for a in nearest_target(game, final))

    results = []
    print(f"{args.n_gen} points, 8 targets, λ = {args.lam}, η_d = η_g = {args.eta}, "
          f"{args.steps} steps, memory {min(memory, args.steps)} steps")
    print(f"{'σ':>6} {'targets reached':>16} {'stray points':>13} {'max mass error':>15}  points per target")
    for k, sigma in enumerate(sigmas):
        reached = distance[k] < args.radius
        counts = np.bincount(index[k][reached], minlength=8)
        mass_error = float(np.max(np.abs(1 / 8 - counts / args.n_gen)))
        row = {"sigma": float(sigma), "targets_reached": int(np.sum(counts > 0)),
               "stray_points": int(np.sum(~reached)), "points_per_target": counts.tolist(),
               "max_mass_error": mass_error, "diverged": bool(traj.diverged[k]),
               "nearest_target": index[k].tolist(), "distance": distance[k].tolist()}
        results.append(row)
        print(f"{sigma:6g} {row['targets_reached']:>12} / 8 {row['stray_points']:>13} "
              f"{mass_error:>15.3f}  {counts.tolist()}" + ("  DIVERGED" if row["diverged"] else ""))

    if args.out is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        args.out.mkdir(parents=True, exist_ok=True)
        paths = np.asarray(traj.positions)
        fig, axes = plt.subplots(1, len(sigmas), figsize=(3.2 * len(sigmas), 3.4), squeeze=False)
        for k, ax in enumerate(axes[0]):
            for j in range(args.n_gen):
                ax.plot(paths[k, :, j, 0], paths[k, :, j, 1], lw=0.5, color="0.7")
            ax.scatter(*final[k].T, s=8, c=np.where(distance[k] < args.radius, "C0", "C3"), zorder=3)
            ax.scatter(*targets.T, marker="x", s=60, color="k", zorder=4)
            ax.set_title(f"σ = {sigmas[k]:g}: {results[k]['targets_reached']}/8 targets, "
                         f"{results[k]['stray_points']} stray", fontsize=9)
            ax.set_aspect("equal")
            ax.set_xlim(-3.5, 3.5)
            ax.set_ylim(-3.5, 3.5)
        fig.suptitle("Kernel GDA from a normal cloud: paths (grey), final points "
                     "(blue: at a target, red: stray), targets (×)", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.out / "kernel_modes.png", dpi=120)
        (args.out / "kernel_modes.json").write_text(json.dumps(
            {"steps": args.steps, "lam": args.lam, "eta": args.eta, "memory": memory,
             "results": results}, indent=1))
        print(f"wrote {args.out / 'kernel_modes.png'} and kernel_modes.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
