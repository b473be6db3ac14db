"""``gandyn kernel spectrum|simulate|phase|convergence``: kernel-discriminator GDA (Becker et al.)."""

from __future__ import annotations

import argparse

from ..errors import UsageError
from .common import (add_executor_options, add_output_options, emit, executor_of, log_executor,
                     out_dir, positive_int)

__all__ = ["register"]

DESCRIPTION = (
    "One target at the origin with mass p, N generated points of mass p̃ each, RBF kernel of "
    "width σ unless --kernel says otherwise. `spectrum` prints Theorem 1's eigenvalues, both "
    "rates, the verdict and the step-size bounds; `simulate` runs the exact dynamics from a "
    "small offset and fits the empirical rate; `phase` draws Figure 2 over a (σ, λ) grid; "
    "`convergence` draws Figure 3.")

GAME_FIELDS = ("sigma", "lam", "eta_d", "eta_g", "p", "p_gen", "n_gen", "dim", "order")


def _add_game(p, sigma=True, lam=True):
    if sigma:
        p.add_argument("--sigma", type=float, default=1.0, help="kernel width σ (default: 1.0)")
    if lam:
        p.add_argument("--lam", type=float, default=0.1, help="regularisation λ (default: 0.1)")
    p.add_argument("--eta-d", type=float, default=0.01,
                   help="discriminator step η_d (default: 0.01)")
    p.add_argument("--eta-g", type=float, default=0.01, help="generator step η_g (default: 0.01)")
    p.add_argument("--p", type=float, default=1.0, help="target mass p (default: 1.0)")
    p.add_argument("--p-gen", type=float, default=0.8,
                   help="mass p̃ of each generated point (default: 0.8)")
    p.add_argument("--n-gen", type=int, default=1,
                   help="generated points N at the target (default: 1)")
    p.add_argument("--dim", type=int, default=1, help="dimension d (default: 1)")
    _add_order(p)


def _add_order(p):
    p.add_argument("--order", choices=["simultaneous", "d-first"], default="simultaneous",
                   help="update order: eq. (5) (default: simultaneous) or discriminator first "
                        "(Lemma 1, the authors' code)")


def _start(p, default, what):
    p.add_argument("--discriminator-start", choices=["zero", "equilibrium"], default=default,
                   help=f"{what} (default: {default})")


def register(subparsers) -> None:
    kp = subparsers.add_parser("kernel", help="kernel-discriminator GDA: spectrum, simulation, "
                               "phase diagrams (Becker et al.)", description=DESCRIPTION)
    sub = kp.add_subparsers(dest="kernel_command", parser_class=type(kp))
    kp.set_defaults(func=_choose)

    sp = sub.add_parser("spectrum", help="Theorem 1: eigenvalues, rates, stability, η_d bounds")
    _add_game(sp)
    sp.add_argument("--convention", choices=["theorem", "paper-figure"], default="theorem",
                    help="paper-figure also lists the b mode when N = 1, as the authors' plot "
                         "(default: theorem)")
    add_output_options(sp)
    sp.set_defaults(func=_spectrum)

    sm = sub.add_parser("simulate", help="exact kernel GDA from an offset; empirical vs "
                        "predicted rate")
    _add_game(sm)
    sm.add_argument("--steps", type=positive_int, default=2000, help="GDA steps (default: 2000)")
    sm.add_argument("--offset", type=float, default=1e-3,
                    help="initial distance of each point from the target (default: 1e-3)")
    sm.add_argument("--mode", choices=["random", "symmetric", "antisymmetric"], default="random",
                    help="initial offsets: random directions (all modes), symmetric (only c±), "
                         "antisymmetric (only b) (default: random)")
    sm.add_argument("--kernel", choices=["rbf", "rational_quadratic", "inverse_multiquadric"],
                    default="rbf", help="the discriminator's kernel (default: rbf)")
    sm.add_argument("--memory", type=_memory, default=None,
                    help="steps of discriminator memory, or 'rounding': only the centres that "
                         "can still change the force (the exact history to rounding) "
                         "(default: all, exact)")
    sm.add_argument("--seed", type=int, default=0, help="seed of the offsets (default: 0)")
    _start(sm, "zero", "f⁰ = 0 as in training, or the equilibrium discriminator (shows the "
                       "local rate without the build-up)")
    add_output_options(sm)
    sm.set_defaults(func=_simulate)

    ph = sub.add_parser("phase", help="Figure 2: |ρ_max|² over a (σ, λ) grid")
    _add_game(ph, sigma=False, lam=False)
    ph.add_argument("--sigma", default="0.05:2:400", help="σ grid LO:HI:COUNT (default: "
                    "0.05:2:400)")
    ph.add_argument("--lam", default="0.01:1:400", help="λ grid LO:HI:COUNT (default: "
                    "0.01:1:400)")
    ph.add_argument("--convention", choices=["theorem", "paper-figure"], default="theorem",
                    help="which modes count (default: theorem)")
    ph.add_argument("--quantity", choices=["joint", "generator"], default="joint",
                    help="the joint rate or the generator rate (default: joint)")
    ph.add_argument("--simulate", type=positive_int, default=None, metavar="STEPS",
                    help="also simulate every cell for STEPS steps (keep the grid small; "
                         "default: off)")
    _start(ph, "equilibrium", "start of the simulated runs' discriminator (equilibrium: short "
                              "runs measure the local rate, not the build-up from f⁰ = 0)")
    ph.add_argument("--paths", type=positive_int, default=None,
                    help="with --simulate: runs per cell from independent random offsets "
                         "(default: 1, or 4 with --adaptive)")
    ph.add_argument("--adaptive", action="store_true",
                    help="with --simulate: more paths (doubling, up to --max-paths) only for the "
                         "cells whose 95%% interval of |ρ|² straddles a boundary between "
                         "converge, oscillate and diverge (default: off)")
    ph.add_argument("--max-paths", type=positive_int, default=32,
                    help="with --adaptive: the most paths one cell gets (default: 32)")
    ph.add_argument("--boundary-tol", type=float, default=0.01,
                    help="with --adaptive: oscillate means |ρ|² within this of 1 (default: 0.01)")
    add_output_options(ph)
    add_executor_options(ph)
    ph.set_defaults(func=_phase)

    cv = sub.add_parser("convergence", help="Figure 3: simulated vs linearised convergence")
    cv.add_argument("--eta-d", type=float, default=0.1, help="discriminator step (default: 0.1)")
    cv.add_argument("--eta-g", type=float, default=0.01, help="generator step (default: 0.01)")
    cv.add_argument("--lams", default="1,0.1,0.01",
                    help="comma-separated λ values (default: 1,0.1,0.01)")
    cv.add_argument("--sigmas", default="0.1,1,10",
                    help="comma-separated σ values (default: 0.1,1,10)")
    cv.add_argument("--steps", type=positive_int, default=1000, help="GDA steps (default: 1000)")
    cv.add_argument("--offset", type=float, default=0.1,
                    help="initial distance from the target (default: 0.1)")
    _start(cv, "zero", "f⁰ = 0 as in the paper's runs, or the equilibrium discriminator the "
                       "linearised prediction assumes")
    _add_order(cv)
    add_output_options(cv)
    add_executor_options(cv)
    cv.set_defaults(func=_convergence)


def _choose(args):
    raise UsageError("choose one of: gandyn kernel spectrum|simulate|phase|convergence")


def _config(model, args, names, **extra):
    from ..studies.config import parse_config

    data = {name: getattr(args, name) for name in names} | extra
    return parse_config(model, data, what="argument", options=True)


def _run(args, study, write, model, names, **extra):
    config = _config(model, args, names, **extra)
    if not hasattr(args, "executor"):  # spectrum, simulate: one computation, no tasks
        out = out_dir(args)
        result = study(config)
    else:
        with executor_of(args) as executor:
            out = out_dir(args)
            result = study(config, executor=executor)
            log_executor(executor)
    if out is not None:
        write(result, out)
    emit(result, args.json)
    return 0


def _memory(text: str):
    """``--memory``: a positive number of steps, or ``rounding``."""
    if text == "rounding":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'rounding', got {text!r}") from None


def _spectrum(args) -> int:
    from ..studies import kernel

    return _run(args, kernel.spectrum, kernel.write_spectrum, kernel.SpectrumConfig,
                GAME_FIELDS + ("convention",))


def _simulate(args) -> int:
    from ..studies import kernel

    return _run(args, kernel.simulate, kernel.write_simulation, kernel.SimulateConfig,
                GAME_FIELDS + ("steps", "offset", "mode", "kernel", "memory", "seed",
                               "discriminator_start"))


def _grid(text: str, option: str) -> dict:
    from ..studies.kernel import GridRange

    try:
        return GridRange.parse(text)
    except ValueError as err:
        raise UsageError(f"argument {option}: {err}") from None


def _phase(args) -> int:
    from ..studies import kernel

    names = tuple(n for n in GAME_FIELDS if n not in ("sigma", "lam"))
    return _run(args, kernel.phase, kernel.write_phase, kernel.PhaseConfig,
                names + ("convention", "quantity", "simulate", "discriminator_start", "paths",
                         "adaptive", "max_paths", "boundary_tol"),
                sigma_grid=_grid(args.sigma, "--sigma"), lam_grid=_grid(args.lam, "--lam"))


def _floats(text: str, option: str) -> list:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UsageError(f"{option} must be comma-separated numbers, got {text!r}") from None


def _convergence(args) -> int:
    from ..studies import kernel

    return _run(args, kernel.convergence, kernel.write_convergence, kernel.ConvergenceConfig,
                ("eta_d", "eta_g", "steps", "offset", "discriminator_start", "order"),
                lams=_floats(args.lams, "--lams"), sigmas=_floats(args.sigmas, "--sigmas"))
