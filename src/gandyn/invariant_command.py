"""``gandyn invariant CONFIG [--json] [--out DIR]``: long-run behaviour and both FDRs.

Takes the game configs of ``gandyn weak-order`` with a ``[stationary]`` table.
Exact for linear-quadratic games (Lyapunov equations); by long Monte Carlo
runs otherwise, with intervals, R̂ and effective sample sizes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .cli import UsageError, add_output_options, emit
from .config import InvariantConfig, load_toml, parse_config

__all__ = ["register", "run_invariant"]

FDR_KEYS = ("lhs", "rhs", "rhs_discrete", "rhs_model")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "invariant", help="stationary law, Theorem 6 conditions and both FDRs",
        description=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("config", help="TOML configuration with [game] and [stationary] tables")
    add_output_options(p)
    p.set_defaults(func=_main)


def _with_gaps(values):
    """Append the paired differences ``lhs − rhs*`` (their intervals are much tighter)."""
    import jax.numpy as jnp

    gaps = [values[4 * i] - values[4 * i + j] for i in range(2) for j in (1, 2, 3)]
    return jnp.concatenate([values, jnp.stack(gaps)])


def _fdr_objects(values, cis=None) -> dict:
    """``fdr1``/``fdr2`` blocks from the 8 integrand means and the 6 gap means."""
    out = {}
    for i, name in enumerate(("fdr1", "fdr2")):
        block = {k: float(values[4 * i + j]) for j, k in enumerate(FDR_KEYS)}
        for j, k in enumerate(FDR_KEYS[1:]):
            block[f"gap_{k}"] = float(values[8 + 3 * i + j])
        if cis is not None:
            for j, k in enumerate(FDR_KEYS):
                block[f"{k}_ci"] = [float(cis[4 * i + j][0]), float(cis[4 * i + j][1])]
            for j, k in enumerate(FDR_KEYS[1:]):
                block[f"gap_{k}_ci"] = [float(c) for c in cis[8 + 3 * i + j]]
        out[name] = block
    return out


def run_invariant(config: InvariantConfig) -> dict:
    """Run a validated stationary study and return the JSON result object."""
    import jax
    import jax.numpy as jnp

    from .analysis.conditions import check_theorem6
    from .analysis.fdr import FDR_FIELDS, fdr_integrands
    from .sde.coefficients import SDE_NAMES, make_sde

    st = config.stationary
    started = time.perf_counter()
    if st.method == "exact":
        jax.config.update("jax_enable_x64", True)
    game = config.game.build()
    if not game.zero_sum:
        raise UsageError("config error: game: the FDRs need a zero-sum game (loss = "
                         "\"vanilla\" or \"wgan\")")
    model = st.scheme
    sde_name = model if model in SDE_NAMES else ("alt-sde" if model == "alt" else "sml-sde")
    sde = make_sde(game, sde_name, st.eta, st.batch_size,
                   st.covariance if model in SDE_NAMES else None)
    integrand = lambda u: _with_gaps(
        fdr_integrands(game, u, st.eta, st.batch_size, model, sde.covariance))
    conditions = check_theorem6(sde, center=game.u0, seed=st.seed)
    result = {"game": config.game.kind, "scheme": model, "eta": st.eta,
              "batch_size": st.batch_size, "method": st.method,
              "covariance": sde.covariance if model in SDE_NAMES else None}

    if st.method == "exact":
        from .analysis.invariant import exact_stationary_sde, exact_stationary_sga

        spec = config.game.spec()
        if model in SDE_NAMES:
            S, rate = exact_stationary_sde(spec, model, sde.covariance, st.eta, st.batch_size)
        else:
            S, rate = exact_stationary_sga(spec, model, st.eta, st.batch_size)
        result["rate"] = rate
        if S is None:
            result.update(stationary=False, fdr1=None, fdr2=None,
                          note="no stationary law: the linearised dynamics are unstable")
        else:
            # Every integrand is quadratic in u and the law is N(0, S): E f = f(0) + ½ Tr(∇²f(0) S).
            zero = jnp.zeros(game.dim)
            f0 = np.asarray(jax.jit(integrand)(zero))
            hess = np.asarray(jax.jit(jax.hessian(integrand))(zero))  # compiled: ~10× faster
            values = f0 + 0.5 * np.einsum("kij,ji->k", hess, S)
            result.update(stationary=True, **_fdr_objects(values),
                          stationary_covariance=S.tolist(),
                          stationary_mean=[0.0] * game.dim)
    else:
        from .analysis.invariant import stationary_estimate
        from .sde.integrate import make_sde_step
        from .sga import SGAConfig, make_sga_step

        if model in SDE_NAMES:
            step = make_sde_step(sde, st.substeps, integrator=st.integrator)
        else:
            step = make_sga_step(game, SGAConfig(model, st.eta, st.batch_size))
        observables = lambda u: jnp.concatenate([integrand(u), u, jnp.atleast_1d(u @ u)])
        est = stationary_estimate(step, game.u0, observables, burn_in=st.burn_in, steps=st.steps,
                                  paths=st.paths, key=jax.random.key(st.seed),
                                  n_batches=st.n_batches, bound=st.divergence_bound,
                                  rate_indices=np.arange(len(FDR_FIELDS) + 6,
                                                         len(FDR_FIELDS) + 6 + game.dim))
        k = len(FDR_FIELDS) + 6
        result.update(_fdr_objects(est.mean[:k], est.ci[:k]))
        result.update(
            stationary=bool(est.n_chains >= 2),
            rate=None if est.rate is None else est.rate / st.eta,
            stationary_mean=est.mean[k:k + game.dim].tolist(),
            stationary_mean_ci=est.ci[k:k + game.dim].tolist(),
            mean_sq_norm=float(est.mean[-1]), mean_sq_norm_ci=est.ci[-1].tolist(),
            diagnostics={"rhat_max": float(np.nanmax(est.rhat)),
                         "ess_min": float(np.nanmin(est.ess)),
                         "n_chains": est.n_chains, "n_diverged": est.n_diverged,
                         "converged": bool(np.nanmax(est.rhat) < 1.05)},
            paths=st.paths, burn_in=st.burn_in, steps=st.steps, seed=st.seed)
        result["marginals"] = _marginals(est.final_states, game.d_theta)
        if hasattr(config.game, "generator"):
            result["generated"] = _generated_summary(config.game, est.final_states, game.d_theta)
    result["conditions"] = {k: v for k, v in conditions.items() if k != "shells"}
    result["conditions_shells"] = conditions["shells"]
    result["elapsed_s"] = time.perf_counter() - started
    return result


QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def _marginals(states: np.ndarray, d_theta: int) -> dict:
    """Quantiles of every coordinate of the stationary law (one sample per chain)."""
    names = [f"theta[{i}]" for i in range(d_theta)] + [
        f"omega[{j}]" for j in range(states.shape[1] - d_theta)]
    if states.shape[1] > 50:  # large models: summarise the two players' norms instead
        names = ["|theta|", "|omega|"]
        states = np.stack([np.linalg.norm(states[:, :d_theta], axis=1),
                           np.linalg.norm(states[:, d_theta:], axis=1)], axis=1)
    q = np.quantile(states, QUANTILES, axis=0)
    return {"quantiles": list(QUANTILES),
            "coordinates": {n: q[:, i].tolist() for i, n in enumerate(names)}}


def _generated_summary(game_config, states: np.ndarray, d_theta: int, max_chains: int = 200) -> dict:
    """The generated distribution implied by the stationary generator parameters.

    Pools ``G_θ(z_i)`` over the latent set for up to ``max_chains`` stationary
    ``θ`` samples, and compares its moments with the real data's.
    """
    import jax

    generate, data = game_config.generator()
    thetas = states[:max_chains, :d_theta]
    samples = np.asarray(jax.vmap(generate)(thetas)).reshape(-1, np.asarray(data).shape[1])
    data = np.asarray(data)
    return {"n_samples": int(samples.shape[0]), "mean": samples.mean(0).tolist(),
            "std": samples.std(0).tolist(), "data_mean": data.mean(0).tolist(),
            "data_std": data.std(0).tolist(),
            "quantiles": np.quantile(samples, QUANTILES, axis=0).tolist()}


def _summary(r: dict) -> str:
    lines = [f"stationary study: {r['game']}, {r['scheme']} (eta = {r['eta']}, B = {r['batch_size']}, "
             f"{r['method']})"]
    if r.get("rate") is not None:
        lines.append(f"  rate of convergence: {r['rate']:.4g} per unit time")
    for name in ("fdr1", "fdr2"):
        f = r.get(name)
        if f:
            lines.append(f"  {name.upper()}: lhs {f['lhs']:.5g}   rhs (paper) {f['rhs']:.5g}   "
                         f"rhs_discrete {f['rhs_discrete']:.5g}   rhs_model {f['rhs_model']:.5g}")
    for k, v in r["conditions"].items():
        lines.append(f"  Theorem 6 {k}: {v['verdict']} ({v['detail']})")
    if "diagnostics" in r:
        d = r["diagnostics"]
        lines.append(f"  R-hat max {d['rhat_max']:.3f}, ESS min {d['ess_min']:.0f}, "
                     f"{d['n_diverged']} of {r['paths']} chains diverged")
    if r.get("generated"):
        g = r["generated"]
        lines.append(f"  generated distribution: mean {np.round(g['mean'], 4).tolist()} "
                     f"(data {np.round(g['data_mean'], 4).tolist()}), std "
                     f"{np.round(g['std'], 4).tolist()} (data {np.round(g['data_std'], 4).tolist()})")
    if r.get("note"):
        lines.append(f"  note: {r['note']}")
    return "\n".join(lines)


def _main(args: argparse.Namespace) -> int:
    from .report.io import prepare_out_dir, write_json

    config = parse_config(InvariantConfig, load_toml(args.config))
    out_dir = prepare_out_dir(args.out) if args.out else None
    result = run_invariant(config)
    if out_dir is not None:
        result["out"] = str(out_dir)
        write_json(out_dir / "invariant.json", result)
        result["files"] = [str(out_dir / "invariant.json")]
    emit(result, args.json, _summary)
    return 0
