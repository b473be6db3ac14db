"""Kernel-discriminator GDA: gandyn against the authors' PyTorch code, side by side.

The game (Becker et al. eq. 5, RBF kernel): 8 targets on a circle of radius 2
in ``d = 2`` with masses 1/8, 64 generated points with masses 1/64 started at
standard normal positions (seed 0), ``σ = 0.5``, ``λ = 0.1``,
``η_d = η_g = 0.1``, discriminator-first order (the order the authors' code
uses), **exact history**: every past generated point stays a kernel centre.

Two implementations run in ONE process, one after the other:

* ``gandyn``: :func:`gandyn.kernel.simulate` with ``order="d-first"``.
* ``authors``: ``KernelGAN.train`` of the public repository
  evbecker/Kernel-GAN-SMM (``kernelgan/kernelGAN.py``) with a
  ``KernelDiscriminator(Kernel('gaussian', width_param=σ), d, λ, η_d)`` and a
  ``PointGenerator``. That repository is not part of gandyn: pass the path of
  a checkout with ``--authors``. Its ``KernelGAN.train`` calls
  ``G.update(t, gradD)`` while ``PointGenerator.update`` takes
  ``(t, lr_g, gradD)``; the script adds the one-line subclass that supplies
  ``lr_g``. ``train(..., T)`` makes ``T − 1`` updates, so it gets ``steps + 1``.

What is measured:

1. **Identity** (float64 in both, ``--check-steps`` steps): the largest
   difference between the two trajectories over every point and step.
2. **Speed** (float32, the authors' default, ``--steps`` steps): wall time of
   one run each. gandyn's time includes tracing and XLA compilation (the
   shapes depend on ``steps``); the compile part JAX reports is given beside
   it. The final positions of the float32 runs are compared as well.
3. **Sweep**: ``--sweep`` configurations (λ spread over [0.05, 0.2]) at
   ``--sweep-steps`` steps as one vmapped gandyn call against a Python loop
   of authors' runs.
4. **Phase diagram**: Theorem 1's ``|ρ_max|²`` on a ``--phase``² grid of
   (σ, λ) with :func:`gandyn.kernel.phase_grid` (NumPy, vectorised).

Output: a Markdown table on stdout and ONE JSON line (the last line,
``{"benchmark": "kernel_gda", ...}``); progress on stderr. Exit status 1 if
the float64 trajectories differ by more than 1e-9.

    python benchmarks/kernel_gda.py --authors /path/to/Kernel-GAN-SMM            # full: 10^4 steps
    python benchmarks/kernel_gda.py --authors … --steps 1000 --sweep-steps 200    # quick look
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import subprocess
import sys
import time

import jax

jax.config.update("jax_enable_x64", True)  # float64 for the identity check; timing runs in float32

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import gandyn  # noqa: E402
from gandyn.kernel import KernelGDA, phase_grid, simulate  # noqa: E402
from gandyn.kernel.dynamics import rounding_memory  # noqa: E402

COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
IDENTITY_TOL = 1e-9

_events: dict[str, float] = collections.defaultdict(float)
jax.monitoring.register_event_duration_secs_listener(
    lambda name, duration, **_: _events.__setitem__(name, _events[name] + duration))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def machine_info(torch) -> dict:
    model = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                      if ln.startswith("Model name:")), None)
    except OSError:
        pass
    return {"cpu_model": model or platform.processor(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(),
            "jax": jax.__version__, "jax_backend": jax.default_backend(),
            "torch": torch.__version__ if torch else None,
            "torch_threads": torch.get_num_threads() if torch else None,
            "numpy": np.__version__, "gandyn": getattr(gandyn, "__version__", "unknown")}


def problem(n_targets: int, n_gen: int, dim: int, seed: int = 0):
    """Targets on a circle of radius 2 (in the first two coordinates), normal starts."""
    angle = 2 * math.pi * np.arange(n_targets) / n_targets
    targets = np.zeros((n_targets, dim))
    targets[:, 0], targets[:, 1] = 2 * np.cos(angle), 2 * np.sin(angle)
    x0 = np.random.default_rng(seed).normal(size=(n_gen, dim))
    return targets, x0


# --------------------------------------------------------------------------- gandyn


def run_gandyn(targets, x0, dtype, *, sigma, lam, eta_d, eta_g, steps, memory=None):
    game = KernelGDA(jnp.asarray(targets, dtype), p=jnp.full(len(targets), 1 / len(targets), dtype),
                     p_gen=jnp.full(len(x0), 1 / len(x0), dtype))
    _events.clear()
    t0 = time.perf_counter()
    traj = simulate(game, jnp.asarray(x0, dtype), sigma=sigma, lam=lam, eta_d=eta_d,
                    eta_g=eta_g, steps=steps, order="d-first", memory=memory)
    positions = np.asarray(traj.positions)  # waits for the device
    wall = time.perf_counter() - t0
    return positions, wall, sum(_events.get(k, 0.0) for k in COMPILE_EVENTS)


# --------------------------------------------------------------------------- authors


def load_authors(path: str):
    import logging

    import torch

    logging.disable(logging.WARNING)
    for sub in ("kernelgan", ""):
        sys.path.insert(0, os.path.join(path, sub))
    from kernelGAN import KernelDiscriminator, KernelGAN, PointGenerator  # noqa: E402
    from kernels import Kernel  # noqa: E402

    class Generator(PointGenerator):
        """``PointGenerator`` with the ``update(t, gradD)`` signature ``KernelGAN.train`` calls."""

        def __init__(self, x0, p_gen, lr_g):
            super().__init__(x0, p_gen)
            self.lr_g = lr_g

        def update(self, t, gradD):
            return super().update(t, self.lr_g, gradD)

    def run(targets, x0, dtype, *, sigma, lam, eta_d, eta_g, steps):
        torch.set_default_dtype(dtype)
        X_true = torch.tensor(targets, dtype=dtype)
        p_true = torch.full((len(targets),), 1 / len(targets), dtype=dtype)
        G = Generator(torch.tensor(x0, dtype=dtype),
                      torch.full((len(x0),), 1 / len(x0), dtype=dtype), eta_g)
        D = KernelDiscriminator(Kernel("gaussian", width_param=sigma), x0.shape[1], lam, eta_d)
        gan = KernelGAN(G, D)
        t0 = time.perf_counter()
        with open(os.devnull, "w") as devnull:  # train() draws a tqdm bar on stderr
            stderr, sys.stderr = sys.stderr, devnull
            try:
                gan.train(X_true, p_true, eta_d, eta_g, steps + 1, lam)
            finally:
                sys.stderr = stderr
        return G.X_gen.numpy().copy(), time.perf_counter() - t0

    return torch, run


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--authors", help="path of a checkout of evbecker/Kernel-GAN-SMM")
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--check-steps", type=int, default=500)
    ap.add_argument("--n-gen", type=int, default=64)
    ap.add_argument("--targets", type=int, default=8)
    ap.add_argument("--dim", type=int, default=2)
    ap.add_argument("--sigma", type=float, default=0.5)
    ap.add_argument("--lam", type=float, default=0.1)
    ap.add_argument("--eta-d", type=float, default=0.1)
    ap.add_argument("--eta-g", type=float, default=0.1)
    ap.add_argument("--sweep", type=int, default=8)
    ap.add_argument("--sweep-steps", type=int, default=1000)
    ap.add_argument("--phase", type=int, default=400)
    args = ap.parse_args(argv)
    for name in ("steps", "check_steps", "n_gen", "targets", "dim", "sweep", "sweep_steps", "phase"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.authors and not os.path.isfile(os.path.join(args.authors, "kernelgan", "kernelGAN.py")):
        ap.error(f"--authors {args.authors}: no kernelgan/kernelGAN.py there")

    torch, authors = load_authors(args.authors) if args.authors else (None, None)
    if torch is not None:
        torch.set_num_threads(os.cpu_count())
    hyper = dict(sigma=args.sigma, lam=args.lam, eta_d=args.eta_d, eta_g=args.eta_g)
    targets, x0 = problem(args.targets, args.n_gen, args.dim)
    result = {"benchmark": "kernel_gda", "machine": machine_info(torch),
              "config": {k: v for k, v in vars(args).items() if k != "authors"}, "rows": []}
    rows = result["rows"]

    # 1. identity, float64
    if authors:
        log(f"identity check: {args.check_steps} steps, float64 ...")
        ours, _, _ = run_gandyn(targets, x0, jnp.float64, steps=args.check_steps, **hyper)
        theirs, _ = authors(targets, x0, torch.float64, steps=args.check_steps, **hyper)
        diff = float(np.max(np.abs(ours - theirs)))
        result["identity"] = {"steps": args.check_steps, "dtype": "float64",
                              "max_abs_difference": diff,
                              "max_abs_position": float(np.max(np.abs(ours))),
                              "pass": diff <= IDENTITY_TOL}
        log(f"  max |x_gandyn - x_authors| = {diff:.3e}")

    # 2. one long exact-history run, float32
    log(f"gandyn: {args.steps} steps, float32 ...")
    ours, wall, compile_s = run_gandyn(targets, x0, jnp.float32, steps=args.steps, **hyper)
    pairs = args.n_gen * args.n_gen * args.steps * (args.steps + 1) / 2  # history kernel terms
    rows.append({"what": "exact history", "implementation": "gandyn", "steps": args.steps,
                 "seconds": wall, "compile_s": compile_s, "pair_terms_per_s": pairs / wall})
    if authors:
        log(f"authors: {args.steps} steps, float32 ...")
        theirs, twall = authors(targets, x0, torch.float32, steps=args.steps, **hyper)
        rows.append({"what": "exact history", "implementation": "authors (PyTorch)",
                     "steps": args.steps, "seconds": twall, "pair_terms_per_s": pairs / twall})
        result["float32_final_max_abs_difference"] = float(np.max(np.abs(ours[-1] - theirs[-1])))
        result["speedup"] = twall / wall

    # 2b. the same run keeping only the centres that can still change a float32 force
    log(f"gandyn: {args.steps} steps, float32, memory='rounding' ...")
    cut, cwall, ccompile = run_gandyn(targets, x0, jnp.float32, steps=args.steps, memory="rounding",
                                      **hyper)
    memory = rounding_memory(args.lam, args.eta_d, jnp.float32)
    kept = sum(args.n_gen * args.n_gen * min(t + 1, memory) for t in range(args.steps))
    rows.append({"what": f"memory='rounding' ({min(memory, args.steps)} steps kept)",
                 "implementation": "gandyn", "steps": args.steps, "seconds": cwall,
                 "compile_s": ccompile, "pair_terms_per_s": kept / cwall,
                 # compile time left out of both: it differs (memory is a shape)
                 "speedup_over_exact_history": (wall - compile_s) / max(cwall - ccompile, 1e-9),
                 "max_abs_difference_from_exact_history": float(np.max(np.abs(cut - ours)))})
    if authors:
        result["speedup_rounding_memory"] = twall / cwall

    # 3. a sweep over λ
    lams = np.linspace(0.05, 0.2, args.sweep)
    log(f"sweep: {args.sweep} configurations x {args.sweep_steps} steps ...")
    game32 = KernelGDA(jnp.asarray(targets, jnp.float32), p=jnp.full(args.targets, 1 / args.targets, jnp.float32),
                       p_gen=jnp.full(args.n_gen, 1 / args.n_gen, jnp.float32))
    t0 = time.perf_counter()
    traj = simulate(game32, jnp.asarray(x0, jnp.float32), sigma=args.sigma, lam=jnp.asarray(lams, jnp.float32),
                    eta_d=args.eta_d, eta_g=args.eta_g, steps=args.sweep_steps, order="d-first")
    np.asarray(traj.positions)  # host arrays: the device work is finished
    rows.append({"what": f"sweep of {args.sweep} λ values", "implementation": "gandyn (one vmapped call)",
                 "steps": args.sweep_steps, "seconds": time.perf_counter() - t0})
    if authors:
        t0 = time.perf_counter()
        for lam in lams:
            authors(targets, x0, torch.float32, steps=args.sweep_steps,
                    **{**hyper, "lam": float(lam)})
        rows.append({"what": f"sweep of {args.sweep} λ values",
                     "implementation": "authors (Python loop)", "steps": args.sweep_steps,
                     "seconds": time.perf_counter() - t0})

    # 4. Theorem 1 phase diagram
    grid = np.linspace(0.01, 10, args.phase), np.linspace(1e-3, 1, args.phase)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        phase_grid(*grid, eta_d=0.1, eta_g=0.01, p=1.0, p_gen=1.0, n_gen=1)
        times.append(time.perf_counter() - t0)
    rows.append({"what": f"Theorem 1 phase diagram {args.phase}x{args.phase}",
                 "implementation": "gandyn phase_grid", "seconds": float(np.median(times))})

    print("| what | implementation | steps | seconds |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['what']} | {r['implementation']} | {r.get('steps', '')} | {r['seconds']:.3g} |")
    cut_row = next(r for r in rows if r["what"].startswith("memory="))
    print(f"\nmemory='rounding': {cut_row['speedup_over_exact_history']:.2f}x the exact history, "
          f"final positions within {cut_row['max_abs_difference_from_exact_history']:.2e} of it")
    if "speedup" in result:
        print(f"\nexact history: gandyn is {result['speedup']:.2f}x the authors' speed "
              f"({result['speedup_rounding_memory']:.2f}x with memory='rounding'); "
              f"float64 trajectories differ by at most {result['identity']['max_abs_difference']:.2e}")
    print(json.dumps(result))
    return 0 if result.get("identity", {}).get("pass", True) else 1


if __name__ == "__main__":
    sys.exit(main())
