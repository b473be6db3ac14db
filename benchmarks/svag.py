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
untimed, then takes the median of ``--repeats`` calls.

Memory (``--memory``): peak resident memory of the DCGAN's SVAG chain against
the number of steps. Each step count of ``--memory-steps`` (default 10, 100,
1000) runs in a fresh subprocess, which builds the game (``--memory-width``,
default 32: 337 794 parameters), compiles one ``fori_loop`` of ALT SVAG chain
steps (``l = 4``, ``B = --memory-batch``, ``--memory-seeds`` seeds vmapped;
the number of steps is traced, so every count runs the same program) and
reports ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` before the call (after
imports and building the game) and after it, as ``benchmarks/memory.py`` does
for the SDE engine. The chain keeps its states only, so the peak must not grow
with the steps: a growth of more than ``--tolerance-mib`` from the smallest to
the largest count is a failure (exit status 1).

Output: Markdown tables, then ONE JSON line (``{"benchmark": "svag", …}``,
with ``memory`` when measured).

    python benchmarks/svag.py
    python benchmarks/svag.py --sizes 1000 10000 --repeats 2
    python benchmarks/svag.py --no-timing --memory               # memory only: 10/100/1000 steps
    python benchmarks/svag.py --no-timing --memory --memory-steps 3,6,12 --memory-width 2  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
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


def _maxrss_mib() -> float:
    # Linux reports KiB (macOS bytes).
    scale = 1.0 / 1024 if sys.platform != "darwin" else 1.0 / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _memory_child(steps: int, width: int, batch: int, seeds: int) -> None:
    """One subprocess: ``steps`` ALT SVAG chain steps of the DCGAN; prints one JSON line."""
    jnp.zeros(1).block_until_ready()
    game = dcgan_game(loss="non-saturating", seed=0, width=width)
    step = _Chain(make_svag_step(game, SGAConfig("alt", 0.05, batch), 4))
    u = jnp.broadcast_to(game.u0, (seeds,) + game.u0.shape)
    before = _maxrss_mib()
    start = time.perf_counter()
    u = jax.block_until_ready(_loop(step, u, jax.random.key(0), jnp.asarray(steps, jnp.int32)))
    print(json.dumps({"steps": steps, "dim": game.dim, "maxrss_before_mib": before,
                      "maxrss_mib": _maxrss_mib(), "seconds": time.perf_counter() - start,
                      "u_norm_final": float(jnp.linalg.norm(u[0]))}))


def _memory(args) -> dict:
    """Peak RSS of a fresh subprocess per step count (see the module docstring)."""
    rows = []
    for steps in args.memory_steps:
        print(f"[svag memory] DCGAN width {args.memory_width}: {steps} SVAG steps",
              file=sys.stderr, flush=True)
        cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", str(steps),
               "--memory-width", str(args.memory_width), "--memory-batch",
               str(args.memory_batch), "--memory-seeds", str(args.memory_seeds)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr[-4000:], file=sys.stderr)
            rows.append({"steps": steps, "error": proc.stderr.strip().splitlines()[-1:]})
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    ok = [r for r in rows if "error" not in r]
    growth = ok[-1]["maxrss_mib"] - ok[0]["maxrss_mib"] if len(ok) >= 2 else None
    flat = growth is not None and growth <= args.tolerance_mib and len(ok) == len(rows)
    return {"width": args.memory_width, "batch_size": args.memory_batch,
            "seeds": args.memory_seeds, "l": 4, "rows": rows, "growth_mib": growth,
            "tolerance_mib": args.tolerance_mib, "flat": flat}


def _steps_list(text: str) -> list[int]:
    steps = [int(s) for s in text.split(",") if s.strip()]
    if not steps or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"expected positive comma-separated counts, got {text!r}")
    return steps


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
    p.add_argument("--no-timing", action="store_true", help="skip the timing tables")
    p.add_argument("--memory", action="store_true",
                   help="peak RSS of the DCGAN's SVAG chain against the number of steps")
    p.add_argument("--memory-steps", type=_steps_list, default=[10, 100, 1000],
                   help="comma-separated step counts, one fresh subprocess each")
    p.add_argument("--memory-width", type=int, default=32)
    p.add_argument("--memory-batch", type=int, default=8)
    p.add_argument("--memory-seeds", type=int, default=1)
    p.add_argument("--tolerance-mib", type=float, default=32.0,
                   help="allowed growth of the peak RSS, smallest to largest step count")
    p.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_child is not None:
        _memory_child(args.memory_child, args.memory_width, args.memory_batch, args.memory_seeds)
        return 0

    rows = []
    if args.no_timing:
        args.sizes = []
        args.no_dcgan = True
    if args.sizes:
        print("| n | parameters | SGA step (µs) | SVAG step (µs) | SDE sub-step (µs) | "
              "SVAG/SGA | SDE/SGA |", flush=True)
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
    memory = None
    if args.memory:
        memory = _memory(args)
        print(f"\nPeak RSS (`ru_maxrss`) per subprocess, DCGAN width {memory['width']}, ALT SVAG "
              f"l = 4, B = {memory['batch_size']}, {memory['seeds']} seed(s) vmapped:\n")
        print("| SVAG steps | parameters | peak RSS MiB | RSS before call MiB | "
              "call s (with compile) |")
        print("|---:|---:|---:|---:|---:|")
        for r in memory["rows"]:
            if "error" in r:
                print(f"| {r['steps']} | error: {r['error']} | | | |")
            else:
                print(f"| {r['steps']} | {r['dim']:,} | {r['maxrss_mib']:.0f} | "
                      f"{r['maxrss_before_mib']:.0f} | {r['seconds']:.1f} |")
        if memory["growth_mib"] is not None:
            print(f"\ngrowth {memory['rows'][0]['steps']} → {memory['rows'][-1]['steps']} steps: "
                  f"{memory['growth_mib']:+.0f} MiB ({'flat' if memory['flat'] else 'GROWS'}, "
                  f"tolerance {args.tolerance_mib:g} MiB)")
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(),
               "jax": jax.__version__, "backend": jax.default_backend()}
    print(json.dumps({"benchmark": "svag", "batch_size": args.batch_size, "runs": args.runs,
                      "steps": args.steps, "rows": rows, "dcgan": dcgan, "memory": memory,
                      "machine": machine}))
    return 0 if memory is None or memory["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
