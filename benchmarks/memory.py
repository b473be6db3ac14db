"""Peak memory of ``simulate_sga`` / ``simulate_sde`` does not grow with the number of steps.

gandyn keeps only streaming statistics (running mean and sum of squared
deviations of the observables at the recording times) and the current state
of each run, so its memory is ``O(runs · dim)`` plus ``O(steps · n_obs)`` for
the recorded statistics, which is a few kB here. This script runs each
implementation in a fresh subprocess per step count (default 20, 200, 2000)
on the tanh WGAN of Cao & Guo §4.2 (η = 0.1, B = 64, 10⁴ runs) and reports
the process's peak resident memory, ``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
before the call (after imports and JAX start-up) and after it.

A positive control shows that the measurement can see growth: a plain
``jax.vmap`` of a ``lax.scan`` that keeps every state (``runs × steps × dim``
float32, what a user who stores whole paths gets) must grow by about
``runs · steps · dim · 4`` bytes.

Output: a Markdown table on stdout, then ONE JSON line (the last line,
starting with ``{"benchmark": "memory"``); progress on stderr. Exit status 1
if a gandyn row grows by more than ``--tolerance-mib`` between the smallest
and the largest step count.

    python benchmarks/memory.py                         # full size: 10^4 runs, 20/200/2000 steps
    python benchmarks/memory.py --runs 1000 --steps 20,200,2000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

KINDS = ("sga", "sde-euler", "sde-heun", "control-keep-all-states")
LABELS = {
    "sga": "gandyn simulate_sga (alt)",
    "sde-euler": "gandyn simulate_sde sml-sde euler",
    "sde-heun": "gandyn simulate_sde sml-sde heun",
    "control-keep-all-states": "control: vmap(scan) keeping all states",
}


def _maxrss_mib() -> float:
    # Linux reports KiB (macOS bytes).
    scale = 1.0 / 1024 if sys.platform != "darwin" else 1.0 / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def child(kind: str, runs: int, steps: int, eta: float, batch: int, substeps: int, seed: int):
    import jax
    import jax.numpy as jnp

    from gandyn.games import tanh_wgan
    from gandyn.sde import make_sde, simulate_sde
    from gandyn.sga import SGAConfig, make_sga_step, simulate_sga

    jnp.zeros(1).block_until_ready()
    game = tanh_wgan()
    f = lambda u: jnp.array([u @ u])  # noqa: E731
    key = jax.random.key(seed)
    cfg = SGAConfig("alt", eta_theta=eta, batch_size=batch)
    before = _maxrss_mib()
    t0 = time.perf_counter()
    if kind == "sga":
        stats = simulate_sga(game, cfg, steps, runs, key, f)
        final = float(stats.mean[-1, 0])
    elif kind.startswith("sde-"):
        sde = make_sde(game, "sml-sde", eta=eta, batch_size=batch)
        stats = simulate_sde(sde, steps, runs, key, f, substeps=substeps,
                             integrator=kind.split("-", 1)[1])
        final = float(stats.mean[-1, 0])
    elif kind == "control-keep-all-states":
        step = make_sga_step(game, cfg)

        def one(r):
            run_key = jax.random.fold_in(key, r)

            def body(u, t):
                u = step(jax.random.fold_in(run_key, t), u)
                return u, u

            return jax.lax.scan(body, game.u0, jnp.arange(steps, dtype=jnp.uint32))[1]

        paths = jax.jit(jax.vmap(one))(jnp.arange(runs, dtype=jnp.uint32))
        final = float(jnp.mean(jnp.sum(paths[:, -1] ** 2, axis=-1)))
    else:
        raise SystemExit(f"unknown kind {kind!r}")
    seconds = time.perf_counter() - t0
    print(json.dumps({"kind": kind, "runs": runs, "steps": steps,
                      "maxrss_before_mib": before, "maxrss_mib": _maxrss_mib(),
                      "seconds": seconds, "mean_u2_final": final}))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10_000)
    p.add_argument("--steps", default="20,200,2000", help="comma-separated step counts")
    p.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, from {KINDS}")
    p.add_argument("--eta", type=float, default=0.1)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--substeps", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance-mib", type=float, default=32.0,
                   help="allowed growth of a gandyn row's peak RSS, smallest to largest steps")
    p.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    steps_list = [int(s) for s in args.steps.split(",") if s.strip()]
    if args.child:
        child(args.child, args.runs, steps_list[0], args.eta, args.batch, args.substeps, args.seed)
        return 0
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not steps_list or min(steps_list) < 1 or args.runs < 1:
        p.error(f"bad --kinds {bad} or --steps/--runs")

    rows = []
    for kind in kinds:
        for steps in steps_list:
            print(f"[memory] {kind}: {args.runs} runs x {steps} steps", file=sys.stderr,
                  flush=True)
            cmd = [sys.executable, os.path.abspath(__file__), "--child", kind,
                   "--runs", str(args.runs), "--steps", str(steps), "--eta", str(args.eta),
                   "--batch", str(args.batch), "--substeps", str(args.substeps),
                   "--seed", str(args.seed)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                print(proc.stderr[-4000:], file=sys.stderr)
                rows.append({"kind": kind, "runs": args.runs, "steps": steps,
                             "error": proc.stderr.strip().splitlines()[-1:]})
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  peak RSS {row['maxrss_mib']:.0f} MiB ({row['seconds']:.1f} s)",
                  file=sys.stderr, flush=True)
            rows.append(row)

    summary = []
    for kind in kinds:
        ok_rows = [r for r in rows if r["kind"] == kind and "error" not in r]
        if len(ok_rows) < 2:
            continue
        first, last = ok_rows[0], ok_rows[-1]
        growth = last["maxrss_mib"] - first["maxrss_mib"]
        expected = (args.runs * (last["steps"] - first["steps"]) * 2 * 4 / 2**20
                    if kind.startswith("control") else 0.0)
        flat = growth <= args.tolerance_mib
        summary.append({"kind": kind, "growth_mib": growth, "expected_growth_mib": expected,
                        "flat": flat, "from_steps": first["steps"], "to_steps": last["steps"]})

    import jax

    md = [f"Peak RSS (`ru_maxrss`) per subprocess, tanh WGAN, {args.runs} runs, eta={args.eta}, "
          f"B={args.batch}, SDE substeps={args.substeps}; python {platform.python_version()}, "
          f"jax {jax.__version__}.", "",
          "| implementation | steps | peak RSS MiB | RSS before call MiB | call s |",
          "|---|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            md.append(f"| {LABELS[r['kind']]} | {r['steps']} | error: {r['error']} | | |")
        else:
            md.append(f"| {LABELS[r['kind']]} | {r['steps']} | {r['maxrss_mib']:.0f} | "
                      f"{r['maxrss_before_mib']:.0f} | {r['seconds']:.1f} |")
    md.append("")
    for s in summary:
        extra = (f" (expected ≈ {s['expected_growth_mib']:.0f} MiB for stored states)"
                 if s["kind"].startswith("control") else
                 f" ({'flat' if s['flat'] else 'GROWS'}, tolerance {args.tolerance_mib:g} MiB)")
        md.append(f"- {LABELS[s['kind']]}: {s['from_steps']} → {s['to_steps']} steps, "
                  f"peak RSS {s['growth_mib']:+.0f} MiB{extra}")
    print("\n".join(md))
    gandyn_ok = all(s["flat"] for s in summary if not s["kind"].startswith("control"))
    errors = any("error" in r for r in rows)
    print(json.dumps({"benchmark": "memory",
                      "config": {"runs": args.runs, "steps": steps_list, "eta": args.eta,
                                 "batch_size": args.batch, "substeps": args.substeps,
                                 "seed": args.seed, "tolerance_mib": args.tolerance_mib},
                      "machine": {"python": platform.python_version(), "jax": jax.__version__,
                                  "platform": platform.platform(), "cpus": os.cpu_count()},
                      "rows": rows, "summary": summary,
                      "gandyn_memory_flat": gandyn_ok and not errors}), flush=True)
    return 0 if gandyn_ok and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
