"""``gandyn spectrum CONFIG [--json] [--out DIR] [--no-progress]``: local stability of a whole training step."""

from __future__ import annotations

from .common import add_output_options, emit, out_dir, progress_of

__all__ = ["register"]

DESCRIPTION = (
    "The spectrum of the Jacobian of one training step (GDA simultaneous or alternating with "
    "TTUR and n_disc, heavy-ball momentum, extragradient, optimistic GDA, consensus, and Adam or "
    "RMSprop with the preconditioner frozen at the point; R1/R2 penalties) on the augmented "
    "state (parameters and optimiser state), at an equilibrium, the initial point, a "
    "checkpoint, or every K steps along training (with the stability margin and the "
    "path-angle between checkpoints): dense or matrix-free (ARPACK on Jacobian-vector products), with the spectral "
    "radius, the stable step-size interval, the game Jacobian's eigenvalues and the players' "
    "Hessians. The config has [game], [optimizer], [point] and [spectrum] tables "
    "(docs/stability.md).")


def register(subparsers) -> None:
    p = subparsers.add_parser("spectrum", help="spectrum of a training step: local stability, "
                              "stable step sizes", description=DESCRIPTION)
    p.add_argument("config", help="TOML configuration with [game] and [optimizer] tables, "
                                  "optional [point] and [spectrum]")
    add_output_options(p)
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bar on stderr (along training)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    from ..studies import step_spectrum
    from ..studies.config import read_config

    config = read_config(step_spectrum.StepSpectrumConfig, args.config)
    out = out_dir(args)
    with progress_of(args) as progress:
        result = step_spectrum.run(config, progress=progress)
    if out is not None:
        step_spectrum.write_outputs(result, out)
    emit(result, args.json)
    return 0
