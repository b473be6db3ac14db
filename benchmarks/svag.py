"""One SVAG step against one SGA step and one per-sample SDE sub-step, over data-set sizes.

The game: the MLP GAN of REFERENCE.md §6 (2403 parameters: generator and
discriminator ``eqx.nn.MLP`` with 2 hidden layers of 32, vanilla loss) on the
8-Gaussian ring with ``n`` data points and ``n`` latent points, for ``n`` in
``--sizes`` (default 10³, 10⁴, 10⁵). Per size, three steps at the same
``B`` (``--batch-size``, default 64), each of ``--runs`` runs vmapped:

* ``sga``: one SML SGA step (one minibatch gradient);
* ``svag``: one SML SVAG chain step (two minibatch gradients, ``l = 4``);
* ``sde``: one Euler–Maruyama sub-step of the per-sample SML-SDE (its noise
  ``σ(u)ΔW`` is a weighted pass over every per-sample field, so its cost grows
  with ``n``).

Then the DCGAN of :mod:`gandyn.games.dcgan` (337 794 parameters): SGA (ALT)
and SVAG (ALT, ``l = 4``) steps per second at ``B = 64`` with ``--dcgan-seeds``
seeds as one vmapped run (``--dcgan-steps`` steps in one compiled loop).

Timing: each row compiles a ``fori_loop`` of ``--steps`` steps, calls it once
untimed, then takes the median of ``--repeats`` calls. Output: a Markdown
table, then ONE JSON line (``{"benchmark": "svag", …}``).

    python benchmarks/svag.py
    python benchmarks/svag.py --sizes 1000 10000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import equinox as eqx
import jax
import jax.numpy as jnp

from gandyn.datasets import ring
from gandyn.games import dcgan_game, mlp_gan
from gandyn.sde import make_sde
from gandyn.sde.integrate import euler_maruyama_step
from gandyn.sde.svag import make_svag_step
from gandyn.sga import SGAConfig, make_sga_step


class _SDESubStep(eqx.Module):
    sde: object
    h: jax.Array

    def __call__(self, key, u):
        return euler_maruyama_step(self.sde, u, self.sde.sample_noise(key, self.h), self.h)


class _Chain(eqx.Module):
    svag: object

    def __call__(self, key, u):
        return self.svag.chain_step(key, u)


@eqx.filter_jit
def _loop(step, u, key, n_steps):
    def body(t, u):
        keys = jax.random.split(jax.random.fold_in(key, t), u.shape[0])
        return jax.vmap(step)(keys, u)

    return jax.lax.fori_loop(0, n_steps, body, u)


def _time(step, u0, runs, steps, repeats):
    u = jnp.broadcast_to(u0, (runs,) + u0.shape)
    n = jnp.asarray(steps, jnp.int32)
    jax.block_until_ready(_loop(step, u, jax.random.key(0), n))  # compile + warm-up
    times = []
    for r in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(_loop(step, u, jax.random.key(r + 1), n))
        times.append(time.perf_counter() - start)
    return statistics.median(times) / (steps * runs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--runs", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dcgan-seeds", type=int, default=3)
    p.add_argument("--dcgan-steps", type=int, default=10)
    p.add_argument("--no-dcgan", action="store_true")
    args = p.parse_args(argv)

    rows = []
    print("| n | parameters | SGA step (µs) | SVAG step (µs) | SDE sub-step (µs) | SVAG/SGA | "
          "SDE/SGA |", flush=True)
    print("|---|---|---|---|---|---|---|", flush=True)
    for n in args.sizes:
        game = mlp_gan(ring(n, seed=0).samples, hidden=32, depth=2, n_latent=n, seed=0).game
        cfg = SGAConfig("sml", 0.05, args.batch_size)
        sde = make_sde(game, "sml-sde", 0.05, args.batch_size, "joint")
        steps = {"sga": make_sga_step(game, cfg), "svag": _Chain(make_svag_step(game, cfg, 4)),
                 "sde": _SDESubStep(sde, jnp.asarray(0.05 / 8))}
        row = {"n": n, "dim": game.dim}
        for name, step in steps.items():
            row[f"{name}_us"] = 1e6 * _time(step, game.u0, args.runs, args.steps, args.repeats)
        row["svag_over_sga"] = row["svag_us"] / row["sga_us"]
        row["sde_over_sga"] = row["sde_us"] / row["sga_us"]
        rows.append(row)
        r = row
        print(f"| {r['n']:,} | {r['dim']:,} | {r['sga_us']:.1f} | {r['svag_us']:.1f} | "
              f"{r['sde_us']:.1f} | {r['svag_over_sga']:.2f} | {r['sde_over_sga']:.1f} |",
              flush=True)
    dcgan = None
    if not args.no_dcgan:
        game = dcgan_game(loss="non-saturating", seed=0)
        cfg = SGAConfig("alt", 0.05, 64)
        dcgan = {"dim": game.dim, "seeds": args.dcgan_seeds}
        for name, step in (("sga", make_sga_step(game, cfg)),
                           ("svag", _Chain(make_svag_step(game, cfg, 4)))):
            per = _time(step, game.u0, args.dcgan_seeds, args.dcgan_steps, args.repeats)
            dcgan[f"{name}_steps_per_s"] = 1.0 / (per * args.dcgan_seeds)
            dcgan[f"{name}_seed_steps_per_s"] = 1.0 / per
        dcgan["svag_over_sga"] = dcgan["sga_steps_per_s"] / dcgan["svag_steps_per_s"]

    if dcgan:
        print(f"\nDCGAN ({dcgan['dim']:,} parameters, B = 64, {dcgan['seeds']} seeds vmapped): "
              f"SGA {dcgan['sga_steps_per_s']:.2f} steps/s, SVAG {dcgan['svag_steps_per_s']:.2f} "
              f"steps/s (SVAG/SGA time {dcgan['svag_over_sga']:.2f})")
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "jax": jax.__version__, "backend": jax.default_backend()}
    print(json.dumps({"benchmark": "svag", "batch_size": args.batch_size, "runs": args.runs,
                      "steps": args.steps, "rows": rows, "dcgan": dcgan, "machine": machine}))


if __name__ == "__main__":
    main()
