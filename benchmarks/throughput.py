"""Throughput of gandyn's SGA and SDE runs against what a user would write in PyTorch.

The game is Cao & Guo §4.2's tanh WGAN (``gandyn.games.tanh_wgan()``: critic
``D_ω(x) = tanh(ω x)``, generator ``G_θ(z) = tanh(θ z)``, scalar θ and ω, two
terms of 32 points each), started at ``u0 = (0.5, 0.5)``. One measurement
runs every implementation in ONE process, side by side:

SGA (alternating, ``n_disc = 1``, one learning rate η, minibatch B per term):

* ``gandyn simulate_sga``: all runs as one vmapped, jitted ``lax.scan``.
* ``torch loop``: a plain PyTorch training loop, a Python loop over runs, each
  run with its own ``torch.optim.SGD`` pair (the critic's with
  ``maximize=True``) and ``loss.backward()`` on a fresh minibatch per update.
  Only ``--loop-runs`` runs are timed and the time is extrapolated linearly to
  ``--runs`` (said so in the output, ``extrapolated: true``).
* ``torch batched``: the same loop with all runs as one tensor (per-run
  gradients from the gradient of the sum over runs): the fair baseline.

SDE (``sml-sde``: ``du = b0(u) dt + σ(u) dW``, σ the ``dim × n`` square root of
``(η/B) Σ`` with the joint per-sample gradient covariance, Cao & Guo eq. 7,
11) over ``--steps`` intervals of length η, each split into ``--substeps``
steps of size ``h = η / substeps``:

* ``gandyn simulate_sde`` with ``integrator="euler"`` and the default ``"heun"``.
* ``torchsde.sdeint(..., method="euler", dt=h)`` with ``noise_type="general"``
  on the same SDE: drift and σ in closed form in torch (checked here against
  gandyn's ``SDE.drift`` and ``SDE.diffusion_matrix``), all paths as one batch,
  output at the same grid ``t = kη``.

Throughput is *run-steps per second*: runs × SGA steps (for the SDE: runs ×
intervals of length η, i.e. SGA-equivalent steps; integrator steps per second
are that times ``substeps``). Steady-state times exclude compilation: every
``simulate_sga``/``simulate_sde`` call traces and compiles afresh (gandyn
builds a new ``jax.jit`` per call), so the time JAX itself reports for
tracing, lowering and compiling during the call (``jax.monitoring`` events)
is subtracted from the call's wall time and reported separately as
``compile_s``; ``end_to_end_s`` is the whole call. Each measurement is
repeated ``--repeats`` times; the median is reported.

Agreement: the mean of ``|u|²`` at the final time of every implementation is
compared with gandyn's (``z = Δmean / √(se₁² + se₂²)``, pass if ``|z| < 4``)
for the same scheme on the same model: SGA vs both torch loops, gandyn Euler
vs torchsde Euler. gandyn Heun vs Euler is printed for information only: at
``h = η/8`` Euler's O(h) weak bias (≈ 2e-3 in E|u|² at T = 2) is several
standard errors at 10⁴ paths. Exit status 1 if a same-scheme pair disagrees.

Output: a Markdown table on stdout, then ONE JSON line (the last line of
stdout, starting with ``{"benchmark": "throughput"``); progress on stderr.

    python benchmarks/throughput.py                    # full size: 10^4 runs, 20 steps
    python benchmarks/throughput.py --runs 1000 --steps 10 --repeats 2 --loop-runs 50
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import gandyn
from gandyn.games import tanh_wgan
from gandyn.sde import make_sde, simulate_sde
from gandyn.sga import SGAConfig, simulate_sga

COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)
Z_PASS = 4.0

_events: dict[str, float] = collections.defaultdict(float)


def _listener(name, duration, **_):
    _events[name] += duration


jax.monitoring.register_event_duration_secs_listener(_listener)


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def machine_info() -> dict:
    import torch
    import torchsde

    model = cpus = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("CPU(s):"):
                cpus = int(line.split(":", 1)[1].strip())
    except OSError:
        pass
    return {
        "cpu_model": model or platform.processor(),
        "cpus": cpus or os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": jax.device_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torchsde": getattr(torchsde, "__version__", "unknown"),
        "numpy": np.__version__,
        "gandyn": getattr(gandyn, "__version__", "unknown"),
    }


# --------------------------------------------------------------------------- gandyn


def time_gandyn(call, repeats: int) -> dict:
    """Time ``call() -> RunStatistics``; subtract JAX's own compile-time events."""
    walls, compiles, stats = [], [], None
    for _ in range(repeats):
        _events.clear()
        t0 = time.perf_counter()
        stats = call()  # returns NumPy arrays: the device work is finished
        wall = time.perf_counter() - t0
        walls.append(wall)
        compiles.append(sum(_events.get(k, 0.0) for k in COMPILE_EVENTS))
    steady = [max(w - c, 1e-9) for w, c in zip(walls, compiles)]
    return {
        "seconds_all": steady,
        "seconds_median": statistics.median(steady),
        "seconds_min": min(steady),
        "compile_s": statistics.median(compiles),
        "end_to_end_s": statistics.median(walls),
        "first_call_s": walls[0],
        "mean_u2": float(stats.mean[-1, 0]),
        "se_u2": float(stats.standard_error[-1, 0]),
        "n_diverged": int(stats.n_diverged[-1]),
    }


# --------------------------------------------------------------------------- torch: the game


def torch_game(game, dtype):
    import torch

    x = torch.tensor(np.array(game.terms[0].data)[:, 0], dtype=dtype)  # real data (32,)
    z = torch.tensor(np.array(game.terms[1].data)[:, 0], dtype=dtype)  # latent (32,)
    return x, z


def phi(theta, omega, x_batch, z_batch):
    """Minibatch WGAN loss mean_j tanh(ω x_j) − mean_i tanh(ω tanh(θ z_i)) (batched over runs)."""
    import torch

    fake = torch.tanh(theta.unsqueeze(-1) * z_batch)
    return (torch.tanh(omega.unsqueeze(-1) * x_batch).mean(-1)
            - torch.tanh(omega.unsqueeze(-1) * fake).mean(-1))


def torch_sga_loop(game, eta, batch, steps, n_runs, seed):
    """What a user writes: a Python loop over runs, optimisers and backward()."""
    import torch

    x, z = torch_game(game, torch.float32)
    gen = torch.Generator().manual_seed(seed)
    th0, om0 = float(game.theta0[0]), float(game.omega0[0])
    finals = np.empty((n_runs, 2))
    for r in range(n_runs):
        theta = torch.nn.Parameter(torch.tensor(th0))
        omega = torch.nn.Parameter(torch.tensor(om0))
        opt_g = torch.optim.SGD([theta], lr=eta)
        opt_d = torch.optim.SGD([omega], lr=eta, maximize=True)
        for _ in range(steps):
            # critic: ascent on a fresh minibatch (B real and B latent points, with replacement)
            xb = x[torch.randint(0, x.shape[0], (batch,), generator=gen)]
            zb = z[torch.randint(0, z.shape[0], (batch,), generator=gen)]
            opt_d.zero_grad()
            phi(theta, omega, xb, zb).backward()
            opt_d.step()
            # generator: descent on another fresh minibatch, at the updated critic (ALT)
            xb = x[torch.randint(0, x.shape[0], (batch,), generator=gen)]
            zb = z[torch.randint(0, z.shape[0], (batch,), generator=gen)]
            opt_g.zero_grad()
            phi(theta, omega, xb, zb).backward()
            opt_g.step()
        finals[r] = (theta.item(), omega.item())
    return finals


def torch_sga_batched(game, eta, batch, steps, n_runs, seed):
    """All runs as one tensor; per-run gradients are the gradient of the sum over runs."""
    import torch

    x, z = torch_game(game, torch.float32)
    gen = torch.Generator().manual_seed(seed)
    theta = torch.full((n_runs,), float(game.theta0[0]))
    omega = torch.full((n_runs,), float(game.omega0[0]))

    def batch_loss(th, om):
        xb = x[torch.randint(0, x.shape[0], (n_runs, batch), generator=gen)]
        zb = z[torch.randint(0, z.shape[0], (n_runs, batch), generator=gen)]
        return phi(th, om, xb, zb).sum()

    for _ in range(steps):
        om = omega.requires_grad_(True)
        (g_omega,) = torch.autograd.grad(batch_loss(theta, om), om)
        omega = (omega + eta * g_omega).detach()
        th = theta.requires_grad_(True)
        (g_theta,) = torch.autograd.grad(batch_loss(th, omega), th)
        theta = (theta - eta * g_theta).detach()
    return torch.stack([theta, omega], dim=1).numpy().astype(np.float64)


# --------------------------------------------------------------------------- torch: the SDE


def torch_sde_coefficients(game, eta, batch, dtype):
    """Closed-form b0(u) and σ(u) (dim × n) of the sml-sde (joint covariance) on the tanh WGAN.

    Per-sample fields G_k = (−∂_θ J_k, ∂_ω J_k): real term J_j = tanh(ω x_j) gives
    (0, x_j s_j) with s_j = 1 − tanh²(ω x_j); fake term J_i = −tanh(ω a_i), a_i = tanh(θ z_i),
    gives (ω z_i (1 − a_i²) r_i, −a_i r_i) with r_i = 1 − tanh²(ω a_i). b0 = Σ_terms mean_k G_k,
    σ = √(η/(B n)) [G_k − Ḡ]_k per term (Cao & Guo eq. 9, 11).
    """
    import torch

    x, z = torch_game(game, dtype)
    n_real, n_fake = x.shape[0], z.shape[0]
    scale_real = math.sqrt(eta / (batch * n_real))
    scale_fake = math.sqrt(eta / (batch * n_fake))

    def fields(u):
        theta, omega = u[:, :1], u[:, 1:]
        s = 1.0 - torch.tanh(omega * x) ** 2
        real = torch.stack([torch.zeros_like(s), x * s], dim=1)  # (R, 2, n_real)
        a = torch.tanh(theta * z)
        r = 1.0 - torch.tanh(omega * a) ** 2
        fake = torch.stack([omega * z * (1.0 - a**2) * r, -a * r], dim=1)  # (R, 2, n_fake)
        return real, fake

    def drift(u):
        real, fake = fields(u)
        return real.mean(-1) + fake.mean(-1)

    def diffusion(u):
        real, fake = fields(u)
        return torch.cat([scale_real * (real - real.mean(-1, keepdim=True)),
                          scale_fake * (fake - fake.mean(-1, keepdim=True))], dim=-1)

    return drift, diffusion, n_real + n_fake


def check_closed_form(game, sde, eta, batch) -> dict:
    """Max abs difference of the torch closed-form b0, σσᵀ against gandyn's, at random points."""
    import torch

    drift, diffusion, _ = torch_sde_coefficients(game, eta, batch, torch.float64)
    rng = np.random.default_rng(0)
    pts = rng.uniform(-2.0, 2.0, size=(5, 2))
    u_t = torch.as_tensor(pts)
    b_t, s_t = drift(u_t).numpy(), diffusion(u_t).numpy()
    b_j = np.stack([np.asarray(sde.drift(jnp.asarray(p, dtype=jnp.float32))) for p in pts])
    s_j = np.stack([np.asarray(sde.diffusion_matrix(jnp.asarray(p, dtype=jnp.float32)))
                    for p in pts])
    cov_t = np.einsum("rik,rjk->rij", s_t, s_t)
    cov_j = np.einsum("rik,rjk->rij", s_j, s_j)
    return {
        "drift_max_abs_err": float(np.max(np.abs(b_t - b_j))),
        "drift_max_abs": float(np.max(np.abs(b_j))),
        "sigma_sigma_T_max_abs_err": float(np.max(np.abs(cov_t - cov_j))),
        "sigma_sigma_T_max_abs": float(np.max(np.abs(cov_j))),
    }


def torchsde_euler(game, eta, batch, steps, substeps, n_runs, seed):
    import torch
    import torchsde

    drift, diffusion, noise_dim = torch_sde_coefficients(game, eta, batch, torch.float32)
    calls = {"f": 0}

    class SmlSDE(torch.nn.Module):
        noise_type = "general"
        sde_type = "ito"

        def f(self, t, y):
            calls["f"] += 1
            return drift(y)

        def g(self, t, y):
            return diffusion(y)

    torch.manual_seed(seed)
    y0 = torch.tensor([[float(game.theta0[0]), float(game.omega0[0])]]).expand(n_runs, 2)
    y0 = y0.contiguous()
    # float64 grid times, so that no float32 rounding can add a tiny extra step
    ts = torch.arange(steps + 1, dtype=torch.float64) * eta
    with torch.no_grad():
        ys = torchsde.sdeint(SmlSDE(), y0, ts, method="euler", dt=eta / substeps)
    return ys[-1].numpy().astype(np.float64), calls["f"]


# --------------------------------------------------------------------------- timing helpers


def time_torch(call, repeats: int):
    walls, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = call()
        walls.append(time.perf_counter() - t0)
    return walls, out


def u2_stats(finals: np.ndarray):
    u2 = np.sum(finals**2, axis=1)
    ok = np.isfinite(u2)
    u2 = u2[ok]
    return float(u2.mean()), float(u2.std(ddof=1) / math.sqrt(len(u2))), int((~ok).sum())


def torch_result(walls, finals, n_runs_timed, n_runs, steps):
    factor = n_runs / n_runs_timed
    secs = [w * factor for w in walls]
    mean, se, n_div = u2_stats(finals)
    return {
        "seconds_all": secs,
        "seconds_median": statistics.median(secs),
        "seconds_min": min(secs),
        "compile_s": 0.0,
        "end_to_end_s": statistics.median(secs),
        "first_call_s": secs[0],
        "runs_timed": n_runs_timed,
        "extrapolated": n_runs_timed < n_runs,
        "mean_u2": mean,
        "se_u2": se,
        "n_diverged": n_div,
    }


def z_score(a: dict, b: dict) -> float:
    se = math.hypot(a["se_u2"], b["se_u2"])
    return (a["mean_u2"] - b["mean_u2"]) / se if se > 0 else float("inf")


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=10_000, help="runs (paths) per measurement")
    p.add_argument("--steps", type=int, default=20, help="SGA steps / SDE intervals of length eta")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per implementation")
    p.add_argument("--eta", type=float, default=0.1, help="learning rate = SDE interval length")
    p.add_argument("--batch", type=int, default=64, help="minibatch size B (per term)")
    p.add_argument("--substeps", type=int, default=8,
                   help="SDE integrator steps per interval (h = eta/substeps), gandyn's default")
    p.add_argument("--loop-runs", type=int, default=500,
                   help="runs timed in the plain PyTorch loop (time extrapolated to --runs); "
                        "0 = all")
    p.add_argument("--torch-threads", type=int, default=0,
                   help="torch.set_num_threads (0 = leave torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip", default="", help="comma-separated names to skip: "
                   "torch-loop, torch-batched, torchsde, sde")
    args = p.parse_args(argv)
    if min(args.runs, args.steps, args.repeats, args.batch, args.substeps) < 1:
        p.error("--runs, --steps, --repeats, --batch and --substeps must be positive")
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    import torch

    if args.torch_threads > 0:
        torch.set_num_threads(args.torch_threads)
    R, T, eta, B, S = args.runs, args.steps, args.eta, args.batch, args.substeps
    loop_runs = R if args.loop_runs <= 0 else min(args.loop_runs, R)
    game = tanh_wgan()
    f = lambda u: jnp.array([u @ u])  # noqa: E731
    key = jax.random.key(args.seed)
    jnp.zeros(1).block_until_ready()  # backend start-up is not part of any timing

    results, order = {}, []

    def add(name, family, res, **extra):
        res.update(name=name, family=family, runs=R, steps=T, **extra)
        res.setdefault("runs_timed", R)
        res.setdefault("extrapolated", False)
        res["run_steps_per_s"] = R * T / res["seconds_median"]
        results[name] = res
        order.append(name)
        log(f"  {name}: {res['seconds_median']:.3f} s steady, "
            f"{res['run_steps_per_s']:.3g} run-steps/s, compile {res['compile_s']:.2f} s, "
            f"E|u|^2 = {res['mean_u2']:.5f} ± {res['se_u2']:.5f}")

    # ---- SGA
    cfg = SGAConfig("alt", eta_theta=eta, batch_size=B)
    log(f"[sga] gandyn simulate_sga, {R} runs x {T} steps")
    add("gandyn simulate_sga", "sga",
        time_gandyn(lambda: simulate_sga(game, cfg, T, R, key, f), args.repeats),
        integrator_steps_per_step=1)
    if "torch-loop" not in skip:
        log(f"[sga] torch loop, {loop_runs} runs timed")
        torch_sga_loop(game, eta, B, 2, 2, args.seed)  # warm-up: torch's lazy initialisation
        walls, finals = time_torch(lambda: torch_sga_loop(game, eta, B, T, loop_runs, args.seed),
                                   args.repeats)
        add("torch loop over runs", "sga", torch_result(walls, finals, loop_runs, R, T),
            integrator_steps_per_step=1)
    if "torch-batched" not in skip:
        log(f"[sga] torch batched, {R} runs")
        torch_sga_batched(game, eta, B, 2, 2, args.seed)  # warm-up
        walls, finals = time_torch(lambda: torch_sga_batched(game, eta, B, T, R, args.seed),
                                   args.repeats)
        add("torch batched", "sga", torch_result(walls, finals, R, R, T),
            integrator_steps_per_step=1)

    # ---- SDE
    checks = {}
    if "sde" not in skip:
        sde = make_sde(game, "sml-sde", eta=eta, batch_size=B)
        for integ in ("euler", "heun"):
            log(f"[sde] gandyn simulate_sde {integ}, {R} paths x {T} intervals x {S} substeps")
            add(f"gandyn simulate_sde {integ}", "sde",
                time_gandyn(lambda: simulate_sde(sde, T, R, key, f, substeps=S, integrator=integ),
                            args.repeats),
                integrator_steps_per_step=S, drift_evals_per_substep=1 if integ == "euler" else 2)
        checks["torch_closed_form_vs_gandyn"] = check_closed_form(game, sde, eta, B)
        if "torchsde" not in skip:
            log(f"[sde] torchsde euler, {R} paths")
            torchsde_euler(game, eta, B, 1, S, 2, args.seed)  # warm-up
            calls = []

            def run_tsde():
                finals, n_f = torchsde_euler(game, eta, B, T, S, R, args.seed)
                calls.append(n_f)
                return finals

            walls, finals = time_torch(run_tsde, args.repeats)
            add("torchsde sdeint euler", "sde", torch_result(walls, finals, R, R, T),
                integrator_steps_per_step=S, drift_evals_per_substep=1,
                drift_calls_per_path_batch=calls[-1])  # T*S, plus torchsde's shape checks

    # ---- agreement
    # Same scheme on the same model: must agree. Heun vs Euler: informational only, the
    # difference is Euler's O(h) weak bias (about 2e-3 in E|u|^2 at h = 0.0125, T = 2).
    pairs = [("gandyn simulate_sga", n, True) for n in ("torch loop over runs", "torch batched")]
    pairs.append(("gandyn simulate_sde euler", "torchsde sdeint euler", True))
    pairs.append(("gandyn simulate_sde heun", "gandyn simulate_sde euler", False))
    agreement = []
    for a, b, gate in pairs:
        if a in results and b in results:
            z = z_score(results[a], results[b])
            agreement.append({"a": a, "b": b, "z": z, "ok": abs(z) < Z_PASS,
                              "same_scheme": gate,
                              "difference": results[a]["mean_u2"] - results[b]["mean_u2"]})
    for name in order:
        fam_ref = ("gandyn simulate_sga" if results[name]["family"] == "sga"
                   else "gandyn simulate_sde euler")
        results[name]["z_vs_gandyn"] = (z_score(results[name], results[fam_ref])
                                        if fam_ref in results and name != fam_ref else None)

    config = {"runs": R, "steps": T, "repeats": args.repeats, "eta": eta, "batch_size": B,
              "substeps": S, "h": eta / S, "loop_runs": loop_runs, "seed": args.seed,
              "game": "tanh_wgan() (Cao & Guo §4.2, 32+32 points, u0=(0.5,0.5))",
              "sga_scheme": "alt", "sde": "sml-sde (joint covariance)",
              "observable": "|u|^2 at the final step", "z_pass": Z_PASS}
    machine = machine_info()

    # ---- Markdown
    md = []
    md.append(f"Throughput on the tanh WGAN: {R} runs, {T} steps, eta={eta}, B={B}, "
              f"SDE h=eta/{S}; median of {args.repeats} repeats; "
              f"{machine['cpu_model']} ({machine['cpus']} CPUs), python {machine['python']}, "
              f"jax {machine['jax']}, torch {machine['torch']} ({machine['torch_threads']} "
              f"threads), torchsde {machine['torchsde']}.")
    md.append("")
    md.append("| implementation | runs timed | steady s | run-steps/s | vs gandyn | compile s "
              "| end-to-end s | E\\|u\\|² at T ± se | z vs gandyn |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in order:
        r = results[name]
        ref = results.get("gandyn simulate_sga" if r["family"] == "sga" else
                          "gandyn simulate_sde euler", r)
        speed = r["run_steps_per_s"] / ref["run_steps_per_s"]
        timed = f"{r['runs_timed']}" + (" (extrapolated)" if r["extrapolated"] else "")
        z = "—" if r["z_vs_gandyn"] is None else f"{r['z_vs_gandyn']:+.2f}"
        md.append(f"| {name} | {timed} | {r['seconds_median']:.3f} | "
                  f"{r['run_steps_per_s']:.3g} | {speed:.3g}× | {r['compile_s']:.2f} | "
                  f"{r['end_to_end_s']:.3f} | {r['mean_u2']:.5f} ± {r['se_u2']:.5f} | {z} |")
    md.append("")
    md.append("SDE rows count intervals of length eta (SGA-equivalent steps); each is "
              f"{S} integrator steps. 'vs gandyn' is throughput relative to gandyn "
              "simulate_sga (SGA rows) or gandyn simulate_sde euler (SDE rows).")
    for ag in agreement:
        if ag["same_scheme"]:
            md.append(f"- agreement {ag['a']} vs {ag['b']}: z = {ag['z']:+.2f} "
                      f"({'OK' if ag['ok'] else 'DISAGREE'}, |z| < {Z_PASS:g})")
        else:
            md.append(f"- {ag['a']} − {ag['b']}: {ag['difference']:+.5f} (z = {ag['z']:+.2f}; "
                      "informational: different schemes, Euler carries an O(h) weak bias)")
    if "torch_closed_form_vs_gandyn" in checks:
        c = checks["torch_closed_form_vs_gandyn"]
        md.append(f"- torch closed-form coefficients vs gandyn: max |Δb0| = "
                  f"{c['drift_max_abs_err']:.1e}, max |Δσσᵀ| = {c['sigma_sigma_T_max_abs_err']:.1e}")
    print("\n".join(md))
    out = {"benchmark": "throughput", "config": config, "machine": machine,
           "results": [results[n] for n in order], "agreement": agreement, "checks": checks,
           "all_agree": all(a["ok"] for a in agreement if a["same_scheme"])}
    print(json.dumps(out, sort_keys=False), flush=True)
    return 0 if out["all_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
