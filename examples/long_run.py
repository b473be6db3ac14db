"""The long run of SGA from Python: stationary law, Theorem 6 and both FDRs (Cao & Guo §4).

Run long enough, SGA does not stop at an equilibrium: the minibatch noise keeps it moving and its
state settles into a stationary law. At stationarity two fluctuation–dissipation relations (FDRs)
tie the gradients to the noise: FDR1 (Theorem 7) with V = Φ, FDR2 (Theorem 9) with V = ½|u|².
Each is reported as its left side and three right sides (docs/long_run.md): the paper's printed
form, the discrete chain's own form, and the exact identity of the dynamics simulated ("model").
This script shows

1. exactly, on the regularised linear-quadratic game of examples/invariant_lq.toml: the
   stationary law N(0, S) of SML (discrete Lyapunov equation) and its rate, then both FDRs as
   exact Gaussian expectations for SML, ALT and their SDEs; which right side equals the left
   side depends on the dynamics, and the model form always does;
2. Theorem 6's hypotheses (bounded, dissipative, elliptic) checked on that game and on the
   tanh WGAN with and without weight decay, and how much weight decay dissipativity needs;
3. by Monte Carlo, long SML runs on the tanh WGAN with weight decay (as
   examples/invariant_tanh.toml, with more chains): stationary mean, both FDRs with 95%
   intervals, split-R̂.

Run: python examples/long_run.py [--paths N] [--burn-in N] [--steps N] [--out DIR]

    python examples/long_run.py                            # 2000 chains, 200 + 1000 steps
    python examples/long_run.py --paths 200 --out results/long_run   # also long_run.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax

# The exact route checks identities to ~1e-12: float32 would hide them under rounding.
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from gandyn.analysis.conditions import check_theorem6  # noqa: E402
from gandyn.analysis.fdr import FDR_FIELDS, FDRIntegrands, fdr_integrands, value_and_hessian  # noqa: E402
from gandyn.analysis.invariant import (exact_stationary_sde, exact_stationary_sga,  # noqa: E402
                                       stationary_estimate)
from gandyn.games import linear_quadratic, make_spec, tanh_wgan, with_weight_decay  # noqa: E402
from gandyn.sde import make_sde  # noqa: E402
from gandyn.sga import SGAConfig, make_sga_step  # noqa: E402

# The order of fdr_integrands' output (gandyn.analysis.fdr.FDR_FIELDS): per FDR, the left side
# and the three right sides.
SIDES = ("lhs", "rhs", "rhs_discrete", "rhs_model")
# The dynamics of the exact part, as (model, noise covariance of an SDE): the rows of the table
# in docs/long_run.md.
MODELS = (("sml", None), ("alt", None), ("sml-sde", "joint"), ("sml-sde", "blockdiag"),
          ("alt-sde", "blockdiag"))


def fdr_blocks(values) -> dict:
    """``{"fdr1": {lhs, rhs, rhs_discrete, rhs_model}, "fdr2": {...}}`` from the 8 integrands."""
    values = np.asarray(values, dtype=float)
    return {name: {side: float(values[4 * i + j]) for j, side in enumerate(SIDES)}
            for i, name in enumerate(("fdr1", "fdr2"))}


def exact_lq_study(spec, eta: float, batch_size: int) -> dict:
    """Stationary law and exact FDR expectations of every model in MODELS."""
    game = linear_quadratic(spec)
    zero = jnp.zeros(game.dim)
    rows = {}
    for model, covariance in MODELS:
        if covariance is None:  # a discrete scheme: S = M S Mᵀ + Q
            S, rate = exact_stationary_sga(spec, model, eta, batch_size)
        else:                   # an Ornstein–Uhlenbeck SDE: F S + S Fᵀ + Γ = 0
            S, rate = exact_stationary_sde(spec, model, covariance, eta, batch_size)
        if S is None:
            raise SystemExit(f"{model}: no stationary law at eta = {eta} (unstable); pick a smaller --eta")
        # Every FDR integrand is quadratic in u here and the law is N(0, S), so its expectation is
        # exactly f(0) + ½ Tr(∇²f(0) S): no sampling at all.
        # value_and_hessian compiles the integrands and their Hessian as one program (op by op,
        # the nested derivatives would take far longer); the integrands come first in its output,
        # then their paired gaps.
        f = FDRIntegrands(game, eta, batch_size, model, covariance)
        f0, hessians = (np.asarray(a)[:len(FDR_FIELDS)] for a in value_and_hessian(f, zero))
        values = f0 + 0.5 * np.einsum("kij,ji->k", hessians, S)
        name = model if covariance is None else f"{model} ({covariance})"
        # The mean is 0: it solves m = M m (F m = 0 for an SDE), and a stable M (F) leaves only 0.
        rows[name] = {"model": model, "covariance": covariance, "rate": rate,
                      "stationary_mean": [0.0] * game.dim, "stationary_covariance": S.tolist(),
                      **fdr_blocks(values)}
    return rows


def print_fdr_table(rows: dict) -> None:
    """Both FDRs for every dynamics; ``=`` marks a right side equal to the left side (1e-9)."""
    for fdr, lhs_text in (("fdr1", "E[|g_θ|² − |g_ω|²]"), ("fdr2", "E[θᵀg_θ − ωᵀg_ω]")):
        print(f"  {fdr.upper()}: left side {lhs_text}")
        print(f"    {'dynamics':<22}{'lhs':>12}{'rhs (paper)':>15}{'rhs_discrete':>15}{'rhs_model':>15}")
        for name, r in rows.items():
            scale = abs(r["fdr1"]["lhs"]) + abs(r["fdr2"]["lhs"])
            cells = [f"{r[fdr]['lhs']:12.6f}"]
            for side in SIDES[1:]:
                same = abs(r[fdr][side] - r[fdr]["lhs"]) <= 1e-9 * scale
                cells.append(f"{r[fdr][side]:14.6f}{'=' if same else ' '}")
            print(f"    {name:<22}" + "".join(cells))


def print_conditions(title: str, c: dict) -> None:
    d = c["dissipativity"]
    extra = f", weight decay needed ≈ {d['weight_decay_needed']:.3g}" if d["weight_decay_needed"] else ""
    print(f"  {title}: bounded {c['bounded']['verdict']}, dissipative {d['verdict']}{extra}, "
          f"elliptic {c['ellipticity']['verdict']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eta", type=float, default=0.1, help="learning rate (both players)")
    ap.add_argument("--batch-size", type=int, default=2, help="batch size of the linear-quadratic game")
    ap.add_argument("--weight-decay", type=float, default=0.5, help="tanh WGAN: L2 on both players")
    ap.add_argument("--paths", type=int, default=2000, help="tanh WGAN: independent chains")
    ap.add_argument("--burn-in", type=int, default=200, help="tanh WGAN: steps discarded per chain")
    ap.add_argument("--steps", type=int, default=1000, help="tanh WGAN: steps averaged per chain")
    ap.add_argument("--seed", type=int, default=0, help="seeds the chains and Theorem 6's sample points")
    ap.add_argument("--out", type=Path, default=None, help="directory for long_run.json")
    args = ap.parse_args(argv)
    if not args.eta > 0 or args.batch_size < 1 or args.weight_decay < 0:
        ap.error("--eta and --batch-size must be positive, --weight-decay non-negative")
    if args.paths < 2 or args.burn_in < 0 or args.steps < 20:
        ap.error("need --paths >= 2, --burn-in >= 0 and --steps >= 20 (20 batches per chain)")

    # --- 1. The linear-quadratic game: everything exact. ---------------------------------------
    # The matrices of examples/invariant_lq.toml: Φ = ½θᵀAθ + θᵀCω − ½ωᵀDω plus per-sample
    # linear noise with covariance [[σ_θ, σ_θω], [σ_θωᵀ, σ_ω]]. A and D positive definite play the
    # role of regularisation: they make the field b0(u) = K u contracting.
    lq_matrices = dict(A=[[1.0, 0.2], [0.2, 0.5]], C=[[1.0, 0.3], [-0.2, 0.8]], D=[[0.5, 0.0], [0.0, 0.3]],
                       sigma_theta=[[0.3, 0.1], [0.1, 0.2]], sigma_omega=[[0.25, -0.05], [-0.05, 0.15]],
                       sigma_theta_omega=[[0.1, 0.05], [0.0, -0.08]], theta0=[1.0, -0.5], omega0=[0.5, 1.0])
    spec = make_spec(**lq_matrices)
    lq_rows = exact_lq_study(spec, args.eta, args.batch_size)
    sml = lq_rows["sml"]
    print(f"Linear-quadratic game (examples/invariant_lq.toml), η = {args.eta:g}, B = {args.batch_size}")
    print(f"  SML's stationary law: N(m, S), converged to at rate {sml['rate']:.4f} per unit time")
    print(f"    m = {np.round(sml['stationary_mean'], 6).tolist()}")
    for i, row in enumerate(sml["stationary_covariance"]):
        print("    S =" if i == 0 else "       ", "  ".join(f"{v:10.6f}" for v in row))
    print_fdr_table(lq_rows)
    print("  (the discrete schemes need their own terms; the SDEs with block-diagonal noise satisfy"
          "\n   the paper's forms; the model form holds for every dynamics)")

    # --- 2. Theorem 6: sufficient conditions for a unique stationary law. ----------------------
    # Checked on random points of spheres of growing radius around the starting point (seeded).
    lq_game = linear_quadratic(spec)
    tanh_plain = tanh_wgan()
    tanh_game = with_weight_decay(tanh_plain, args.weight_decay)
    conditions = {
        "linear-quadratic": check_theorem6(make_sde(lq_game, "sml-sde", args.eta, args.batch_size),
                                           center=lq_game.u0, seed=args.seed),
        "tanh-wgan": check_theorem6(make_sde(tanh_plain, "sml-sde", args.eta, 8),
                                    center=tanh_plain.u0, seed=args.seed),
        f"tanh-wgan + weight decay {args.weight_decay:g}": check_theorem6(
            make_sde(tanh_game, "sml-sde", args.eta, 8), center=tanh_game.u0, seed=args.seed),
    }
    print("\nTheorem 6 (sampling can refute a condition, only support it):")
    for title, c in conditions.items():
        print_conditions(title, c)
    print("  (no game here meets all three: a linear drift, weight decay included, is unbounded, and"
          "\n   the tanh nets' noise degenerates far out. The theorem is sufficient, not necessary:"
          "\n   the linear-quadratic law exists, above, and the long runs below converge)")

    # --- 3. The tanh WGAN with weight decay: no closed form, so long runs. ---------------------
    B = 8
    step = make_sga_step(tanh_game, SGAConfig("sml", args.eta, B))

    def observables(u):
        v = fdr_integrands(tanh_game, u, args.eta, B, "sml")
        # The paired differences lhs − rhs_discrete have much tighter intervals than either side.
        gaps = jnp.stack([v[0] - v[2], v[4] - v[6]])
        return jnp.concatenate([v, gaps, u])

    est = stationary_estimate(step, tanh_game.u0, observables, burn_in=args.burn_in, steps=args.steps,
                              paths=args.paths, key=jax.random.key(args.seed), n_batches=20,
                              rate_indices=np.arange(10, 10 + tanh_game.dim))  # rate from u's mean
    if est.n_chains < 2:
        raise SystemExit("tanh WGAN: fewer than 2 chains stayed finite; lower --eta")
    tanh = {"weight_decay": args.weight_decay, "eta": args.eta, "batch_size": B, "paths": args.paths,
            "burn_in": args.burn_in, "steps": args.steps, "seed": args.seed,
            "n_chains": est.n_chains, "n_diverged": est.n_diverged,
            "rhat_max": float(np.nanmax(est.rhat)), "ess_min": float(np.nanmin(est.ess)),
            "rate": None if est.rate is None else est.rate / args.eta,
            "stationary_mean": est.mean[10:].tolist(), "stationary_mean_ci": est.ci[10:].tolist()}
    for i, name in enumerate(("fdr1", "fdr2")):
        tanh[name] = {side: float(est.mean[4 * i + j]) for j, side in enumerate(SIDES)}
        tanh[name].update({f"{side}_ci": est.ci[4 * i + j].tolist() for j, side in enumerate(SIDES)})
        tanh[name]["gap_rhs_discrete"] = float(est.mean[8 + i])
        tanh[name]["gap_rhs_discrete_ci"] = est.ci[8 + i].tolist()
    print(f"\ntanh WGAN + weight decay {args.weight_decay:g}, SML, η = {args.eta:g}, B = {B}: "
          f"{est.n_chains} chains × ({args.burn_in} burn-in + {args.steps}) steps, "
          f"split-R̂ max {tanh['rhat_max']:.3f}")
    print("  stationary mean (θ, ω): " + ", ".join(
        f"{m:.4f} [{lo:.4f}, {hi:.4f}]" for m, (lo, hi) in zip(est.mean[10:], est.ci[10:])))
    for name in ("fdr1", "fdr2"):
        f = tanh[name]
        lo, hi = f["gap_rhs_discrete_ci"]
        print(f"  {name.upper()}: lhs {f['lhs']:.5f}   rhs (paper) {f['rhs']:.5f}   rhs_discrete "
              f"{f['rhs_discrete']:.5f}   lhs − rhs_discrete {f['gap_rhs_discrete']:+.1e} "
              f"(95% interval [{lo:+.1e}, {hi:+.1e}])")
    print("  (SML's discrete FDR2 is exact on every game, its FDR1 only when Φ is quadratic)")

    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        result = {"linear_quadratic": {"game": lq_matrices, "eta": args.eta,
                                       "batch_size": args.batch_size, "dynamics": lq_rows},
                  "conditions": {k: {n: v for n, v in c.items() if n != "shells"}
                                 for k, c in conditions.items()},
                  "tanh_wgan": tanh}
        (args.out / "long_run.json").write_text(json.dumps(result, indent=1))
        print(f"\nwrote {args.out / 'long_run.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
