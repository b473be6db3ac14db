"""``gandyn invariant CONFIG [--json] [--out DIR]``: long-run behaviour and both FDRs."""

from __future__ import annotations

from .common import (add_executor_options, add_output_options, emit, executor_of, log_executor,
                     out_dir)

__all__ = ["register"]

DESCRIPTION = (
    "Takes the game configs of `gandyn weak-order` with a [stationary] table. Exact for "
    "linear-quadratic games (Lyapunov equations); by long Monte Carlo runs otherwise, with "
    "intervals, R-hat and effective sample sizes.")


def register(subparsers) -> None:
    p = subparsers.add_parser("invariant", help="stationary law, Theorem 6 conditions and both "
                              "FDRs", description=DESCRIPTION)
    p.add_argument("config", help="TOML configuration with [game] and [stationary] tables")
    add_output_options(p)
    add_executor_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    from ..studies.config import read_config
    from ..studies import invariant

    config = read_config(invariant.InvariantConfig, args.config)
    with executor_of(args, config.executor) as executor:
        out = out_dir(args)
        result = invariant.run(config, executor=executor)
        log_executor(executor)
    if out is not None:
        invariant.write_outputs(result, out)
    emit(result, args.json)
    return 0
