"""Top-k eigenvalues of the training step of a ≥ 10⁶-parameter GAN at checkpoints along training.

The GAN of ``benchmarks/step_spectrum.py`` (an MLP generator 64 → 1024 → 1024 → 64 and
discriminator 64 → 512 → 1 on scikit-learn's 8×8 digits, 1.21 M parameters, vanilla loss, a fixed
batch of ``--images`` real images and as many latent points) is trained full-batch by simultaneous
GDA (η = ``--eta``) for ``--train-steps`` steps; at ``--checkpoints`` evenly spaced steps (the
first at step 0, the last at ``--train-steps``) ARPACK finds the ``--k`` eigenvalues of largest
modulus of the Jacobian of the step, each solve warm-started from the previous solve's leading
eigenvector (:func:`gandyn.analysis.step_spectrum.spectrum_along_training`; products are fresh
``jax.jvp``\\ s of the step, one compilation for every checkpoint). Float32, ARPACK ``tol = --tol``.

Per checkpoint it prints the step, the matrix–vector products, the solve's seconds, the training
seconds since the previous checkpoint, the process's peak resident memory after the solve and how
much the solve raised it (``resource.getrusage``: one process, so the peak is monotone and the
first solve carries the compilation), the spectral radius, the largest residual and the leading
eigenvalues; then a Markdown table on stdout and ONE JSON line (the last line, starting with
``{"benchmark": "step_spectrum_training"``), also written to ``--json``. Progress on stderr.

    python benchmarks/step_spectrum_training.py        # 1000 images, k = 20, 5 checkpoints
    python benchmarks/step_spectrum_training.py --images 20 --k 4 --checkpoints 2 --train-steps 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _shape():
    """The networks of ``benchmarks/step_spectrum.py`` (1 215 553 parameters on the digits)."""
    return dict(latent_dim=64, generator_hidden=1024, generator_depth=2,
                discriminator_hidden=512, discriminator_depth=1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=1000,
                   help="real images and latent points (default 1000)")
    p.add_argument("--k", type=int, default=20, help="eigenvalues per checkpoint (default 20)")
    p.add_argument("--checkpoints", type=int, default=5,
                   help="checkpoints, step 0 and the last included (default 5)")
    p.add_argument("--train-steps", type=int, default=400,
                   help="training steps, a multiple of checkpoints - 1 (default 400)")
    p.add_argument("--eta", type=float, default=0.01, help="GDA step size (default 0.01)")
    p.add_argument("--tol", type=float, default=1e-4, help="ARPACK tolerance (default 1e-4)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--cold", action="store_true",
                   help="start every solve from the same random vector, not the previous one")
    p.add_argument("--json", default="step_spectrum_training.json",
                   help="file for the JSON result (default step_spectrum_training.json)")
    args = p.parse_args()
    if args.checkpoints < 2 or args.train_steps < 1 or args.train_steps % (args.checkpoints - 1):
        p.error("need checkpoints >= 2 and train-steps a positive multiple of checkpoints - 1")
    every = args.train_steps // (args.checkpoints - 1)

    import numpy as np

    from gandyn.analysis.step_spectrum import spectrum_along_training
    from gandyn.analysis.update_maps import GDA, training_step
    from gandyn.datasets import digits
    from gandyn.games import mlp_gan

    images, _ = digits()
    x = images[np.random.default_rng(args.seed).permutation(len(images))[:args.images]]
    game = mlp_gan(x, n_latent=args.images, seed=args.seed, **_shape()).game
    step = training_step(game, GDA(args.eta))
    sys.stderr.write(f"{game.dim} parameters, {args.images} images, k = {args.k}, "
                     f"{args.checkpoints} checkpoints every {every} steps\n")
    rows = []
    clock = {"last": time.perf_counter(), "rss": _maxrss_mib()}

    def record(t, state, spec):
        now = time.perf_counter()
        # the wall time since the last record is the training in between and this solve
        train_s = max(now - clock["last"] - spec.seconds, 0.0) if rows else 0.0
        rss = _maxrss_mib()
        values = spec.eigenvalues
        row = {"step": t, "matvecs": int(spec.matvecs), "seconds": spec.seconds,
               "train_seconds": train_s, "peak_rss_mib": rss,
               "rss_growth_mib": rss - clock["rss"], "spectral_radius": spec.spectral_radius,
               "residual_max": float(np.max(spec.residuals)) if spec.residuals.size else None,
               "eigenvalues": [[float(v.real), float(v.imag)] for v in values]}
        rows.append(row)
        clock.update(last=now, rss=rss)
        top = ", ".join(f"{v.real:.6f}{v.imag:+.6f}i" for v in values[:4])
        sys.stderr.write(f"step {t}: {row['matvecs']} matvecs, {spec.seconds:.1f} s, peak RSS "
                         f"{rss:.0f} MiB, rho = {row['spectral_radius']:.8f}; {top}\n")

    started = time.perf_counter()
    spectrum_along_training(step, steps=args.train_steps, every=every, k=args.k, tol=args.tol,
                            seed=args.seed, warm_start=not args.cold, callback=record)
    total = time.perf_counter() - started
    print("| step | matvecs | seconds | training s | peak RSS (MiB) | RSS growth (MiB) | ρ | "
          "max residual | top eigenvalues |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        top = ", ".join(f"{re:.5f}{im:+.5f}i" for re, im in r["eigenvalues"][:3])
        print(f"| {r['step']} | {r['matvecs']} | {r['seconds']:.1f} | {r['train_seconds']:.1f} | "
              f"{r['peak_rss_mib']:.0f} | {r['rss_growth_mib']:.0f} | "
              f"{r['spectral_radius']:.8f} | {r['residual_max']:.1e} | {top} |")
    result = {"benchmark": "step_spectrum_training", "parameters": game.dim,
              "images": args.images, "k": args.k, "checkpoints": args.checkpoints,
              "train_steps": args.train_steps, "every": every, "eta": args.eta, "tol": args.tol,
              "warm_start": not args.cold, "seconds_total": total, "cpus": os.cpu_count(),
              "machine": platform.platform(), "processor": platform.processor(),
              "rows": rows}
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
