"""Top-k eigenvalues of a ≥ 10⁶-parameter GAN: gandyn (JAX) against a Berard-style PyTorch operator.

The GAN: an MLP generator (latent 64 → 1024 → 1024 → 64) and discriminator (64 → 512 → 1) on
scikit-learn's 8×8 digits (1.21 M parameters), vanilla loss, at its initial point, on a fixed
batch of ``--images`` real images and as many latent points (Berard et al. 2020 use 1000).
Each row runs in a fresh subprocess (its peak resident memory is its own):

* ``gandyn step``: ARPACK's top ``--k`` (largest modulus) of the Jacobian of the simultaneous
  GDA training step (η = 0.01), products by ``jax.linearize`` + ``jit``
  (:func:`gandyn.analysis.step_spectrum.step_spectrum`);
* ``gandyn game Jacobian``: the same for the raw game Jacobian ``∂F/∂u``
  (:func:`gandyn.analysis.step_spectrum.field_spectrum`);
* ``torch.func step``: the training step's Jacobian in PyTorch, ``torch.func.jvp`` products
  (:func:`gandyn.analysis.torch_spectrum.torch_step_spectrum`);
* ``Berard-style torch``: the raw game Jacobian by double backpropagation
  (:func:`gandyn.analysis.torch_spectrum.berard_operator`), SciPy ``eigs`` as in their code.

All in float32 (the models' usual precision) with ARPACK ``tol = --tol``; the same weights in
both frameworks. Output: a Markdown table on stdout, then ONE JSON line (the last line, starting
with ``{"benchmark": "step_spectrum"``); progress on stderr.

    python benchmarks/step_spectrum.py                      # 1000 images, k = 20
    python benchmarks/step_spectrum.py --images 100 --k 6   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

ROWS = ("gandyn step", "gandyn game Jacobian", "torch.func step", "Berard-style torch")
ETA = 0.01


def _maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _shape(args):
    return dict(latent_dim=64, generator_hidden=1024, generator_depth=2,
                discriminator_hidden=512, discriminator_depth=1)


def prepare(args, path):
    """Build the GAN in JAX and store its weights and batches for both frameworks."""
    import numpy as np

    from gandyn.datasets import digits
    from gandyn.games import mlp_gan

    images, _ = digits()
    x = images[np.random.default_rng(args.seed).permutation(len(images))[:args.images]]
    gan = mlp_gan(x, n_latent=args.images, seed=args.seed, **_shape(args))
    np.savez(path, theta=np.asarray(gan.game.theta0), omega=np.asarray(gan.game.omega0),
             x=np.asarray(gan.game.terms[0].data), z=np.asarray(gan.game.terms[1].data))
    return gan.game.dim


def child(row, args, path):
    import numpy as np

    data = np.load(path)
    base = _maxrss_mib()
    started = time.perf_counter()
    if row.startswith("gandyn"):
        from gandyn.analysis.step_spectrum import field_spectrum, step_spectrum
        from gandyn.analysis.update_maps import GDA, training_step
        from gandyn.games import mlp_gan

        # The same seed and data give the same weights and latent points as prepare() stored.
        game = mlp_gan(data["x"], n_latent=args.images, seed=args.seed, **_shape(args)).game
        assert np.array_equal(np.asarray(game.theta0), data["theta"])
        if row == "gandyn step":
            spec = step_spectrum(training_step(game, GDA(ETA)), method="arnoldi", k=args.k,
                                 which=("LM",), tol=args.tol, seed=args.seed)
        else:
            spec = field_spectrum(game, game.u0, method="arnoldi", k=args.k, which=("LM",),
                                  tol=args.tol, seed=args.seed)
        values, matvecs = spec.eigenvalues, spec.matvecs
        residual = float(spec.residuals.max())
    else:
        import torch
        from scipy.sparse.linalg import eigs

        from gandyn.analysis.torch_spectrum import TorchGAN, berard_operator, torch_step_spectrum
        from gandyn.analysis.update_maps import GDA

        torch.set_num_threads(os.cpu_count() or 1)

        def mlp(sizes, act):
            layers = []
            for i in range(len(sizes) - 1):
                layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
                if i < len(sizes) - 2:
                    layers.append(act())
            return torch.nn.Sequential(*layers)

        G = mlp([64, 1024, 1024, 64], torch.nn.ReLU)
        D = mlp([64, 512, 1], torch.nn.LeakyReLU)
        torch.nn.utils.vector_to_parameters(torch.as_tensor(data["theta"], dtype=torch.float32),
                                            G.parameters())
        torch.nn.utils.vector_to_parameters(torch.as_tensor(data["omega"], dtype=torch.float32),
                                            D.parameters())
        gan = TorchGAN(G, D, torch.as_tensor(data["x"], dtype=torch.float32),
                       torch.as_tensor(data["z"], dtype=torch.float32))
        if row == "torch.func step":
            spec = torch_step_spectrum(gan, GDA(ETA), method="arnoldi", k=args.k, which=("LM",),
                                       tol=args.tol, seed=args.seed)
            values, matvecs = spec.eigenvalues, spec.matvecs
            residual = float(spec.residuals.max())
        else:
            op = berard_operator(gan)
            v0 = np.random.default_rng(args.seed).standard_normal(op.shape[0])
            values = eigs(op, k=args.k, which="LM", v0=v0, tol=args.tol,
                          return_eigenvectors=False)
            values = values[np.argsort(-np.abs(values))]
            matvecs, residual = op.matvecs[0], float("nan")
    seconds = time.perf_counter() - started
    print(json.dumps({"row": row, "seconds": seconds, "matvecs": int(matvecs),
                      "peak_rss_mib": _maxrss_mib(), "rss_growth_mib": _maxrss_mib() - base,
                      "residual_max": residual,
                      "top": [[float(v.real), float(v.imag)] for v in values[:5]]}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--images", type=int, default=1000, help="real images and latent points (default 1000)")
    p.add_argument("--k", type=int, default=20, help="eigenvalues (default 20)")
    p.add_argument("--tol", type=float, default=1e-4, help="ARPACK tolerance (default 1e-4)")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("--rows", default=",".join(ROWS), help="rows to run (default all)")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--data", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args.child, args, args.data)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "gan.npz")
        dim = prepare(args, path)
        rows = []
        for row in args.rows.split(","):
            sys.stderr.write(f"{row} ...\n")
            proc = subprocess.run([sys.executable, __file__, "--child", row, "--data", path,
                                   "--images", str(args.images), "--k", str(args.k),
                                   "--tol", str(args.tol), "--seed", str(args.seed)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr[-3000:])
                raise SystemExit(1)
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print("| row | matvecs | seconds | s / matvec | peak RSS (MiB) | max residual | |λ|max |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        lead = (r["top"][0][0] ** 2 + r["top"][0][1] ** 2) ** 0.5
        print(f"| {r['row']} | {r['matvecs']} | {r['seconds']:.1f} | "
              f"{r['seconds'] / max(r['matvecs'], 1):.3f} | {r['peak_rss_mib']:.0f} | "
              f"{r['residual_max']:.1e} | {lead:.6g} |")
    print(json.dumps({"benchmark": "step_spectrum", "parameters": dim, "images": args.images,
                      "k": args.k, "tol": args.tol, "cpus": os.cpu_count(),
                      "machine": platform.platform(), "processor": platform.processor(),
                      "rows": rows}))


if __name__ == "__main__":
    main()
