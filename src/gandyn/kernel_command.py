"""``gandyn kernel spectrum|simulate|phase|convergence``: kernel-discriminator GDA (Becker et al.).

One target at the origin with mass ``p``, ``N`` generated points of mass
``p̃`` each, RBF kernel of width ``σ`` unless ``--kernel`` says otherwise.
``spectrum`` prints Theorem 1's eigenvalues, both rates, the verdict and the
step-size bounds; ``simulate`` runs the exact dynamics from a small offset and
fits the empirical rate; ``phase`` draws Figure 2 over a ``(σ, λ)`` grid;
``convergence`` draws Figure 3.
"""

from __future__ import annotations

import argparse

import numpy as np

from .cli import UsageError, add_output_options, emit, positive_int

__all__ = ["register"]


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}")
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def grid_range(text: str):
    """``LO:HI:COUNT`` → ``np.linspace(LO, HI, COUNT)`` with ``0 < LO <= HI`` and ``COUNT >= 1``."""
    parts = text.split(":")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"expected LO:HI:COUNT, got {text!r}")
    try:
        lo, hi = float(parts[0]), float(parts[1])
        count = int(parts[2])
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO:HI:COUNT with numbers, got {text!r}")
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= 0 or hi < lo:
        raise argparse.ArgumentTypeError(f"need 0 < LO <= HI in {text!r}")
    if count < 1 or (count > 1 and hi == lo):
        raise argparse.ArgumentTypeError(f"need COUNT >= 1 (and LO < HI when COUNT > 1) in {text!r}")
    if count > 4000:
        raise argparse.ArgumentTypeError(f"COUNT at most 4000, got {count}")
    return np.linspace(lo, hi, count)


def _add_game(p, sigma=True, lam=True):
    if sigma:
        p.add_argument("--sigma", type=positive_float, default=1.0, help="kernel width σ (1.0)")
    if lam:
        p.add_argument("--lam", type=positive_float, default=0.1, help="regularisation λ (0.1)")
    p.add_argument("--eta-d", type=positive_float, default=0.01, help="discriminator step η_d (0.01)")
    p.add_argument("--eta-g", type=positive_float, default=0.01, help="generator step η_g (0.01)")
    p.add_argument("--p", type=positive_float, default=1.0, help="target mass p (1.0)")
    p.add_argument("--p-gen", type=positive_float, default=0.8,
                   help="mass p̃ of each generated point (0.8)")
    p.add_argument("--n-gen", type=positive_int, default=1, help="generated points N at the target (1)")
    p.add_argument("--dim", type=positive_int, default=1, help="dimension d (1)")


def _add_order(p):
    p.add_argument("--order", choices=["simultaneous", "d-first"], default="simultaneous",
                   help="update order: eq. (5) (default) or discriminator first (Lemma 1, "
                        "the authors' code)")


def _params(args, sigma=None, lam=None):
    from .kernel.theory import KernelParams

    return KernelParams(sigma if sigma is not None else args.sigma,
                        lam if lam is not None else args.lam, args.eta_d, args.eta_g, args.p,
                        args.p_gen, args.n_gen, args.dim)


def register(subparsers) -> None:
    kp = subparsers.add_parser("kernel", help="kernel-discriminator GDA: spectrum, simulation, "
                               "phase diagrams (Becker et al.)",
                               description=" ".join(__doc__.split("\n\n")[1].split()))
    sub = kp.add_subparsers(dest="kernel_command", parser_class=type(kp))
    kp.set_defaults(func=lambda args: (_ for _ in ()).throw(
        UsageError("choose one of: gandyn kernel spectrum|simulate|phase|convergence")))

    sp = sub.add_parser("spectrum", help="Theorem 1: eigenvalues, rates, stability, η_d bounds")
    _add_game(sp)
    _add_order(sp)
    sp.add_argument("--convention", choices=["theorem", "paper-figure"], default="theorem",
                    help="paper-figure also lists the b mode when N = 1, as the authors' plot")
    add_output_options(sp)
    sp.set_defaults(func=_spectrum)

    sm = sub.add_parser("simulate", help="exact kernel GDA from an offset; empirical vs predicted rate")
    _add_game(sm)
    _add_order(sm)
    sm.add_argument("--steps", type=positive_int, default=2000, help="GDA steps (2000)")
    sm.add_argument("--offset", type=positive_float, default=1e-3,
                    help="initial distance of each point from the target (1e-3)")
    sm.add_argument("--mode", choices=["random", "symmetric", "antisymmetric"], default="random",
                    help="initial offsets: random directions (all modes), symmetric (only c±), "
                         "antisymmetric (only b)")
    sm.add_argument("--kernel", choices=["rbf", "rational_quadratic", "inverse_multiquadric"],
                    default="rbf")
    sm.add_argument("--memory", type=positive_int, default=None,
                    help="steps of discriminator memory (default: all, exact)")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--discriminator-start", choices=["zero", "equilibrium"], default="zero",
                    help="f⁰ = 0 as in training (default), or the equilibrium discriminator "
                         "(shows the local rate without the build-up)")
    add_output_options(sm)
    sm.set_defaults(func=_simulate)

    ph = sub.add_parser("phase", help="Figure 2: |ρ_max|² over a (σ, λ) grid")
    _add_game(ph, sigma=False, lam=False)
    ph.add_argument("--sigma", type=grid_range, default=grid_range("0.05:2:400"),
                    help="σ grid LO:HI:COUNT (0.05:2:400)")
    ph.add_argument("--lam", type=grid_range, default=grid_range("0.01:1:400"),
                    help="λ grid LO:HI:COUNT (0.01:1:400)")
    ph.add_argument("--convention", choices=["theorem", "paper-figure"], default="theorem")
    ph.add_argument("--quantity", choices=["joint", "generator"], default="joint")
    _add_order(ph)
    ph.add_argument("--simulate", type=positive_int, default=None, metavar="STEPS",
                    help="also simulate every cell for STEPS steps (keep the grid small)")
    ph.add_argument("--discriminator-start", choices=["zero", "equilibrium"],
                    default="equilibrium",
                    help="start of the simulated runs' discriminator (equilibrium: short runs "
                         "measure the local rate, not the build-up from f⁰ = 0)")
    add_output_options(ph)
    ph.set_defaults(func=_phase)

    cv = sub.add_parser("convergence", help="Figure 3: simulated vs linearised convergence")
    cv.add_argument("--eta-d", type=positive_float, default=0.1)
    cv.add_argument("--eta-g", type=positive_float, default=0.01)
    cv.add_argument("--lams", default="1,0.1,0.01", help="comma-separated λ values")
    cv.add_argument("--sigmas", default="0.1,1,10", help="comma-separated σ values")
    cv.add_argument("--steps", type=positive_int, default=1000)
    cv.add_argument("--offset", type=positive_float, default=0.1)
    cv.add_argument("--discriminator-start", choices=["zero", "equilibrium"], default="zero",
                    help="f⁰ = 0 as in the paper's runs (default), or the equilibrium discriminator "
                         "the linearised prediction assumes")
    _add_order(cv)
    add_output_options(cv)
    cv.set_defaults(func=_convergence)


def _enable_x64():
    import jax

    jax.config.update("jax_enable_x64", True)


def _validated(make):
    try:
        return make()
    except ValueError as err:
        raise UsageError(str(err)) from None


def _spectrum(args) -> int:
    from .kernel.study import spectrum_report

    params = _validated(lambda: _params(args))
    result = spectrum_report(params, order=args.order, convention=args.convention)
    if args.out:
        from .report.io import prepare_out_dir, save_figure, write_json

        from .analysis.game_spectrum import plot_spectrum

        out = prepare_out_dir(args.out)
        write_json(out / "spectrum.json", result)
        values = [complex(e["re"], e["im"]) for e in result["eigenvalues"]]
        save_figure(plot_spectrum(values, "Theorem 1 spectrum"), out, "spectrum")
    emit(result, args.json, _spectrum_summary)
    return 0


def _spectrum_summary(r):
    lines = [f"{e['mode']:>3}: ρ = {e['re']:+.6f}{e['im']:+.6f}i  |ρ| = {e['abs']:.6f}  "
             f"multiplicity {e['multiplicity'] if e['multiplicity'] is not None else '∞'}"
             for e in r["eigenvalues"]]
    lines += [f"rho_joint {r['rho_joint']:.6f}, rho_generator {r['rho_generator']:.6f}, "
              f"{'stable' if r['stable'] else 'UNSTABLE'}",
              f"eta_d_max {r['eta_d_max']:.6g} (Corollary 1: {r['eta_d_max_corollary1']:.6g})"]
    lines += [f"note: {n}" for n in r["disagreements"]]
    return "\n".join(lines)


def _simulate(args) -> int:
    _enable_x64()
    from .kernel.kernels import kernel_by_name
    from .kernel.study import simulate_local

    params = _validated(lambda: _params(args))
    if args.mode == "antisymmetric" and args.n_gen < 2:
        raise UsageError("--mode antisymmetric needs --n-gen >= 2")
    result = simulate_local(params, steps=args.steps, order=args.order, offset=args.offset,
                            mode=args.mode, seed=args.seed, kernel=kernel_by_name(args.kernel),
                            memory=args.memory, warm=args.discriminator_start == "equilibrium")
    curve = result.pop("distance_curve")
    if args.out:
        from .report.io import prepare_out_dir, save_figure, write_csv, write_json

        from .kernel.plots import _plt

        out = prepare_out_dir(args.out)
        write_json(out / "simulate.json", result)
        write_csv(out / "distance.csv", ["step", "distance"], enumerate(curve.tolist()))
        plt = _plt()
        fig, ax = plt.subplots(figsize=(5, 3.5))
        t = np.arange(curve.size)
        ax.semilogy(t, curve, label="simulated")
        ax.semilogy(t, curve[0] * result["rate_generator"] ** t, ":", label="rho_generator^t")
        ax.set_xlabel("step")
        ax.set_ylabel("distance to the target")
        ax.legend()
        save_figure(fig, out, "distance")
    emit(result, args.json)
    return 0


def _phase(args) -> int:
    from .kernel.study import phase_grid, simulated_phase_grid, summarise_phase

    kwargs = dict(eta_d=args.eta_d, eta_g=args.eta_g, p=args.p, p_gen=args.p_gen, n_gen=args.n_gen)
    for s_, l_ in ((args.sigma[0], args.lam[0]), (args.sigma[0], args.lam[-1]),
                   (args.sigma[-1], args.lam[0]), (args.sigma[-1], args.lam[-1])):
        _validated(lambda: _params(args, sigma=float(s_), lam=float(l_)))  # corners: no overflow
    grid = phase_grid(args.sigma, args.lam, convention=args.convention, quantity=args.quantity,
                      order=args.order, **kwargs)
    result = {"convention": args.convention, "quantity": args.quantity, "order": args.order,
              "grid": {"sigma": [float(args.sigma[0]), float(args.sigma[-1]), int(args.sigma.size)],
                       "lam": [float(args.lam[0]), float(args.lam[-1]), int(args.lam.size)]},
              **summarise_phase(grid),
              "complex_fraction": float(np.mean(grid["complex"])),
              "dominant_fraction": {m: float(np.mean(grid["dominant"] == m)) for m in grid["modes"]}}
    simulated = None
    if args.simulate:
        _enable_x64()
        simulated = simulated_phase_grid(args.sigma, args.lam, steps=args.simulate,
                                         order=args.order, dim=args.dim,
                                         warm=args.discriminator_start == "equilibrium", **kwargs)
        theory_gen = phase_grid(args.sigma, args.lam, convention="theorem", quantity="generator",
                                order=args.order, **kwargs)
        diff = simulated["rho2"] - theory_gen["rho2"]
        result["simulated"] = {"steps": args.simulate,
                               "discriminator_start": simulated["discriminator_start"],
                               "max_abs_difference": float(np.nanmax(np.abs(diff))),
                               "median_abs_difference": float(np.nanmedian(np.abs(diff))),
                               "diverged_fraction": float(np.mean(simulated["diverged"]))}
    if args.out:
        from .report.io import prepare_out_dir, save_figure, write_csv, write_json

        from .kernel.plots import plot_phase, plot_phase_comparison

        out = prepare_out_dir(args.out)
        rows = ((float(s), float(l), float(grid["rho2"][i, j]), str(grid["dominant"][i, j]),
                 bool(grid["complex"][i, j]))
                for i, l in enumerate(grid["lam"]) for j, s in enumerate(grid["sigma"]))
        write_csv(out / "phase.csv", ["sigma", "lam", "rho_max_sq", "dominant", "complex"], rows)
        write_json(out / "phase.json", {**result, "sigma": grid["sigma"], "lam": grid["lam"],
                                        "rho_max_sq": grid["rho2"],
                                        "ab_line_sigma": grid["ab_line_sigma"]})
        save_figure(plot_phase(grid), out, f"phase_{args.convention}_{args.quantity}")
        if simulated is not None:
            write_json(out / "phase_simulated.json", {"sigma": simulated["sigma"],
                                                      "lam": simulated["lam"],
                                                      "rate_sq": simulated["rho2"]})
            save_figure(plot_phase_comparison(theory_gen, simulated), out, "phase_simulated")
    emit(result, args.json)
    return 0


def _floats(text: str, name: str):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"--{name} must be comma-separated numbers, got {text!r}") from None
    if not values or not all(np.isfinite(v) and v > 0 for v in values):
        raise UsageError(f"--{name} must be positive numbers, got {text!r}")
    return values


def _convergence(args) -> int:
    _enable_x64()
    from .kernel.study import convergence_study

    runs = convergence_study(eta_d=args.eta_d, eta_g=args.eta_g, lams=_floats(args.lams, "lams"),
                             sigmas=_floats(args.sigmas, "sigmas"), steps=args.steps,
                             offset=args.offset, order=args.order,
                             warm=args.discriminator_start == "equilibrium")
    result = {"order": args.order, "eta_d": args.eta_d, "eta_g": args.eta_g, "steps": args.steps,
              "discriminator_start": args.discriminator_start,
              "runs": [{k: r[k] for k in ("lam", "sigma", "rate_predicted", "rate_empirical",
                                          "diverged")} | {"final_distance": float(r["distance"][-1])}
                       for r in runs]}
    if args.out:
        from .report.io import prepare_out_dir, save_figure, write_json

        from .kernel.plots import plot_convergence

        out = prepare_out_dir(args.out)
        write_json(out / "convergence.json", {**result, "curves": [
            {"lam": r["lam"], "sigma": r["sigma"], "simulated": r["distance"],
             "linearised": r["predicted"]} for r in runs]})
        save_figure(plot_convergence(runs, f"η_d = {args.eta_d:g}, η_g = {args.eta_g:g}, "
                                           f"{args.order} updates, discriminator from "
                                           f"{'equilibrium' if args.discriminator_start == 'equilibrium' else 'f⁰ = 0'}"),
                    out, "convergence")
    emit(result, args.json)
    return 0
