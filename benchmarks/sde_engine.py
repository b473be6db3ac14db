"""The SDE sub-step against the machine's limit and against torchsde and diffrax, in one run.

Everything here runs in ONE process, one implementation after the other, on
the SDE of Cao & Guo §4.2's tanh WGAN (``gandyn.games.tanh_wgan()``, dim 2,
two terms of 32 samples): ``sml-sde`` (eq. 7, joint covariance), η = 0.1,
B = 64, Euler–Maruyama with ``h = η/8``, ``--paths`` paths over ``--steps``
intervals of length η. Rows:

* ``gandyn samples`` (the default): ``σ(u) ΔW`` from ``n`` Brownian coordinates
  per term, no Σ formed; threefry keys.
* ``gandyn covariance``: ``noise="covariance"``: ``dim`` normals times the
  square root of ``(η/B) Σ(u)`` (the same law; other paths for a key).
* ``gandyn rbg key``: the default sampler with ``jax.random.key(seed,
  impl="rbg")`` (XLA's RngBitGenerator instead of threefry).
* ``gandyn normals only``: the same loop drawing the default's normals and
  nothing else: the share of the sub-step that is random-number generation.
* ``torchsde closed form``: ``torchsde.sdeint(method="euler")`` with b0 and σ
  written by hand in torch for this game (from ``throughput.py``).
* ``torchsde autodiff``: the same with b0 and σ from the per-sample losses by
  ``torch.func.vmap(torch.func.grad(...))``: what a user without a closed form
  writes.
* ``diffrax operator``: ``diffrax.diffeqsolve(Euler())`` with a ``ControlTerm``
  whose diffusion is gandyn's ``SDE.diffusion_times`` as a
  ``lineax.FunctionLinearOperator`` (no dense σ), ``UnsafeBrownianPath``.
* ``diffrax dense``: the same with the dense ``SDE.diffusion_matrix``.

**The limit.** One sub-step's arithmetic is counted by XLA itself
(``cost_analysis()`` of one compiled Euler sub-step of one path: ``flops``
and ``transcendentals``), and the machine's rates are measured here under
XLA: tanh/s (a loop of ``tanh`` on an L2-sized array) and FMA flops/s (a loop
of ``x * a + b``). The floor is ``flops / FMA rate + transcendentals / tanh
rate`` per path-substep; every row reports its nanoseconds per path-substep
and the floor's share of it.

Timings: a warm-up call (compilation) is not timed; the median of
``--repeats`` calls is. Agreement: ``E|u|²`` at the final time with its
standard error, and ``z`` against ``gandyn samples`` (all rows integrate the
same SDE with the same scheme and step, so ``|z| < 4`` is expected; the
script exits 1 otherwise).

Output: a Markdown table, then ONE JSON line (``{"benchmark": "sde_engine", …}``).

    python benchmarks/sde_engine.py                   # 10^4 paths, 20 intervals
    python benchmarks/sde_engine.py --paths 2000 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from throughput import log, machine_info, torch_game, torchsde_euler  # noqa: E402

from gandyn.games import tanh_wgan  # noqa: E402
from gandyn.runs import run_many  # noqa: E402
from gandyn.sde import euler_maruyama_step, make_sde, simulate_sde  # noqa: E402

Z_PASS = 4.0


# --------------------------------------------------------------------------- the machine's limit


def _loop_rate(body, x, inner: int, repeats: int = 5) -> float:
    """Operations per second of ``inner`` applications of ``body`` to every element of ``x``."""
    fn = jax.jit(lambda x: jax.lax.fori_loop(0, inner, lambda i, v: body(v), x))
    fn(x).block_until_ready()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x).block_until_ready()
        times.append(time.perf_counter() - t0)
    return x.size * inner / statistics.median(times)


def machine_limits() -> dict:
    """tanh/s, exp/s and FMA flops/s under XLA on this machine (all cores XLA uses)."""
    x = jnp.linspace(-1.0, 1.0, 1 << 18, dtype=jnp.float32)  # 1 MiB: in L2/L3, not in DRAM
    tanh_rate = _loop_rate(jnp.tanh, x, 200)
    exp_rate = _loop_rate(lambda v: jnp.exp(-v * v), x, 200)  # exp plus two flops; the kernel's
    # Eight independent FMA chains per element so the loop is throughput-bound, not latency-bound.
    xs = jnp.stack([x + i for i in range(8)])

    def fmas(v):
        for _ in range(8):
            v = v * 0.999 + 0.001
        return v

    fma_rate = 2 * 8 * _loop_rate(fmas, xs, 50)  # two flops per FMA, eight per element per loop
    return {"tanh_per_s": tanh_rate, "exp_per_s": exp_rate, "fma_flops_per_s": fma_rate}


def substep_cost(sde, h) -> dict:
    """XLA's own count of one Euler sub-step of one path: flops and transcendentals."""
    u = sde.game.u0
    dw = tuple(jnp.zeros(s) for s in sde.noise_shapes)
    compiled = jax.jit(lambda u, dw: euler_maruyama_step(sde, u, dw, h)).lower(u, dw).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return {"flops": float(cost.get("flops", 0.0)),
            "transcendentals": float(cost.get("transcendentals", 0.0))}


# --------------------------------------------------------------------------- gandyn rows


def _u2(stats) -> tuple[float, float]:
    return float(stats.mean[-1, 0]), float(stats.standard_error[-1, 0])


class _NormalsOnly(eqx.Module):
    """A 'step' that only draws the default sampler's normals (and adds a trace of them)."""

    sde: object
    substeps: int = eqx.field(static=True)

    def __call__(self, key, u):
        h = self.sde.eta / self.substeps

        def body(i, u):
            dw = self.sde.sample_noise(jax.random.fold_in(key, i), h)
            return u + 1e-30 * sum(jnp.sum(w) for w in dw)  # keeps the draws alive, moves nothing

        return jax.lax.fori_loop(0, self.substeps, body, u)


# --------------------------------------------------------------------------- torchsde with autodiff


def torchsde_autodiff(game, eta, batch, steps, substeps, n_runs, seed):
    """``torchsde.sdeint`` with b0 and σ from per-sample losses by ``torch.func``."""
    import torch
    import torchsde
    from torch.func import grad, vmap

    x, z = torch_game(game, torch.float32)
    n_real, n_fake = x.shape[0], z.shape[0]

    def real_loss(theta, omega, xj):
        return torch.tanh(omega * xj)

    def fake_loss(theta, omega, zi):
        return -torch.tanh(omega * torch.tanh(theta * zi))

    def per_sample_fields(u, loss, data):
        # (−∂θ J_k, ∂ω J_k) for every sample k, for every path: vmap over paths of vmap over k.
        g = vmap(vmap(grad(loss, argnums=(0, 1)), (None, None, 0)), (0, 0, None))
        g_theta, g_omega = g(u[:, 0], u[:, 1], data)
        return torch.stack([-g_theta, g_omega], dim=1)  # (R, 2, n)

    scale_real = math.sqrt(eta / (batch * n_real))
    scale_fake = math.sqrt(eta / (batch * n_fake))

    class AutodiffSDE(torch.nn.Module):
        noise_type = "general"
        sde_type = "ito"

        def f(self, t, y):
            return (per_sample_fields(y, real_loss, x).mean(-1)
                    + per_sample_fields(y, fake_loss, z).mean(-1))

        def g(self, t, y):
            real = per_sample_fields(y, real_loss, x)
            fake = per_sample_fields(y, fake_loss, z)
            return torch.cat([scale_real * (real - real.mean(-1, keepdim=True)),
                              scale_fake * (fake - fake.mean(-1, keepdim=True))], dim=-1)

    torch.manual_seed(seed)
    y0 = torch.tensor([[float(game.theta0[0]), float(game.omega0[0])]]).expand(n_runs, 2)
    ts = torch.arange(steps + 1, dtype=torch.float64) * eta
    with torch.no_grad():
        ys = torchsde.sdeint(AutodiffSDE(), y0.contiguous(), ts, method="euler", dt=eta / substeps)
    return ys[-1].numpy().astype(np.float64)


# --------------------------------------------------------------------------- diffrax


def diffrax_solver(sde, steps, substeps, paths, dense: bool):
    """A jitted ``keys -> final states`` of diffrax's Euler on the same SDE."""
    import diffrax
    import lineax

    eta = float(sde.eta)
    dim, noise_dim = sde.game.dim, sde.noise_dim

    def drift(t, u, args):
        return sde.drift(u)

    if dense:
        def diffusion(t, u, args):
            return sde.diffusion_matrix(u)
    else:
        def diffusion(t, u, args):
            structure = jax.ShapeDtypeStruct((noise_dim,), u.dtype)
            return lineax.FunctionLinearOperator(
                lambda w: sde.diffusion_times(u, sde.unflatten_noise(w)), structure)

    def solve(key):
        bm = diffrax.UnsafeBrownianPath(shape=(noise_dim,), key=key)
        terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion, bm))
        sol = diffrax.diffeqsolve(terms, diffrax.Euler(), 0.0, steps * eta, eta / substeps,
                                  sde.game.u0, saveat=diffrax.SaveAt(t1=True),
                                  max_steps=steps * substeps + 8, adjoint=diffrax.ForwardMode())
        return sol.ys[-1]

    batched = jax.jit(jax.vmap(solve))
    keys = jax.random.split(jax.random.key(7), paths)
    return lambda: np.asarray(batched(keys), dtype=np.float64)


# --------------------------------------------------------------------------- main


def _time(call, repeats):
    out = call()  # warm-up: compilation, torch's lazy set-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - t0)
    return times, out


def _finals_u2(finals) -> tuple[float, float]:
    u2 = np.sum(np.asarray(finals) ** 2, axis=1)
    u2 = u2[np.isfinite(u2)]
    return float(u2.mean()), float(u2.std(ddof=1) / math.sqrt(len(u2)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--paths", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=20, help="intervals of length eta")
    p.add_argument("--substeps", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--skip", default="", help="comma-separated: torchsde, diffrax")
    args = p.parse_args(argv)
    if min(args.paths, args.steps, args.substeps, args.repeats) < 1:
        p.error("--paths, --steps, --substeps and --repeats must be positive")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    R, T, S, eta, B = args.paths, args.steps, args.substeps, 0.1, 64
    game = tanh_wgan()
    key = jax.random.key(0)
    path_substeps = R * T * S

    log("[limits] tanh, exp and FMA throughput under XLA")
    limits = machine_limits()
    sde = make_sde(game, "sml-sde", eta, B)
    cost = substep_cost(sde, eta / S)
    floor_s = cost["flops"] / limits["fma_flops_per_s"] + cost["transcendentals"] / limits["tanh_per_s"]

    rows = {}

    def add(name, times, u2, note=""):
        median = statistics.median(times)
        ns = median / path_substeps * 1e9
        rows[name] = {"seconds_median": median, "seconds_all": times, "ns_per_path_substep": ns,
                      "floor_share": floor_s * 1e9 / ns, "mean_u2": u2[0], "se_u2": u2[1],
                      "note": note}
        log(f"  {name}: {median:.3f} s, {ns:.0f} ns per path-substep, E|u|^2 = {u2[0]:.5f} ± {u2[1]:.5f}")

    f = lambda u: jnp.atleast_1d(u @ u)  # noqa: E731
    for name, s, k in [("gandyn samples (default)", sde, key),
                       ("gandyn covariance", make_sde(game, "sml-sde", eta, B, noise="covariance"), key),
                       ("gandyn rbg key", sde, jax.random.key(0, impl="rbg"))]:
        log(f"[gandyn] {name}")
        times, stats = _time(lambda: simulate_sde(s, T, R, k, f, substeps=S, integrator="euler"),
                             args.repeats)
        add(name, times, _u2(stats))
    log("[gandyn] normals only")
    times, _ = _time(lambda: run_many(_NormalsOnly(sde, S), game.u0, T, R, key, f), args.repeats)
    rows["gandyn normals only"] = {"seconds_median": statistics.median(times), "seconds_all": times,
                                   "ns_per_path_substep": statistics.median(times) / path_substeps * 1e9}

    if "torchsde" not in skip:
        log("[torchsde] closed form")
        times, (finals, _) = _time(lambda: torchsde_euler(game, eta, B, T, S, R, 0), args.repeats)
        add("torchsde closed form", times, _finals_u2(finals))
        log("[torchsde] autodiff (torch.func)")
        times, finals = _time(lambda: torchsde_autodiff(game, eta, B, T, S, R, 0), args.repeats)
        add("torchsde autodiff", times, _finals_u2(finals))
    if "diffrax" not in skip:
        for dense in (False, True):
            name = "diffrax dense" if dense else "diffrax operator"
            log(f"[diffrax] {name}")
            times, finals = _time(diffrax_solver(sde, T, S, R, dense), args.repeats)
            add(name, times, _finals_u2(finals))

    ref = rows["gandyn samples (default)"]
    ok = True
    for name, row in rows.items():
        if "mean_u2" in row:
            se = math.hypot(row["se_u2"], ref["se_u2"])
            row["z"] = 0.0 if row is ref else (row["mean_u2"] - ref["mean_u2"]) / se
            row["speedup_of_gandyn"] = row["seconds_median"] / ref["seconds_median"]
            ok &= abs(row["z"]) < Z_PASS
    rng_share = rows["gandyn normals only"]["ns_per_path_substep"] / ref["ns_per_path_substep"]

    print(f"\nSDE sub-step, tanh WGAN (dim 2, n = 64), sml-sde Euler, h = eta/{S}: "
          f"{R} paths x {T} intervals x {S} sub-steps\n")
    print(f"Limit: {cost['flops']:.0f} flops + {cost['transcendentals']:.0f} transcendentals per "
          f"path-substep (XLA's count); tanh {limits['tanh_per_s']:.3g}/s, exp "
          f"{limits['exp_per_s']:.3g}/s, FMA {limits['fma_flops_per_s']:.3g} flop/s: floor "
          f"{floor_s * 1e9:.1f} ns per path-substep.\n")
    print("| implementation | s (median) | ns per path-substep | floor share | gandyn faster by | E\\|u\\|² ± se | z |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        if "mean_u2" not in row:
            continue
        print(f"| {name} | {row['seconds_median']:.3f} | {row['ns_per_path_substep']:.0f} | "
              f"{100 * row['floor_share']:.1f}% | {row['speedup_of_gandyn']:.2f}× | "
              f"{row['mean_u2']:.5f} ± {row['se_u2']:.5f} | {row['z']:+.2f} |")
    print(f"\nDrawing the default sampler's normals alone: "
          f"{rows['gandyn normals only']['ns_per_path_substep']:.0f} ns per path-substep "
          f"({100 * rng_share:.0f}% of the default's time).\n")
    print(json.dumps({"benchmark": "sde_engine", "machine": machine_info(), "paths": R, "steps": T,
                      "substeps": S, "limits": limits, "substep_cost": cost,
                      "floor_ns_per_path_substep": floor_s * 1e9, "rng_share": rng_share,
                      "rows": rows, "agree": bool(ok)}))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
