"""``gandyn svag CONFIG [--json] [--out DIR]``: SVAG chains against the limit SDE of training."""

from __future__ import annotations

from .common import (add_executor_options, add_output_options, emit, executor_of, log_executor,
                     out_dir, positive_int, progress_of)

__all__ = ["register"]

DESCRIPTION = (
    "Simulate the SDE of a game's training from minibatches alone (SVAG, Li, Malladi & Arora "
    "2021, carried to games): chains with l in svag.ls (step eta/l, l times as many steps, two "
    "independent minibatches per step combined so the noise is l times larger), their error "
    "against the limit SDE du = b0 dt + (eta/B Sigma)^(1/2) dW with the scheme's covariance "
    "(blockdiag for ALT, joint for SML), and its order in 1/l. Exact on linear-quadratic "
    "games; Monte Carlo otherwise; on network games (mlp-gan, dcgan) curves per l and seed and "
    "a converged-in-l verdict.")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "svag", help="SVAG chains: the SDE of training at network scale, error in 1/l",
        description=DESCRIPTION)
    p.add_argument("config", help="TOML configuration with [game] and [svag] tables")
    p.add_argument("--paths", type=positive_int, default=None,
                   help="override svag.paths (Monte Carlo chains per l and SDE paths; default: "
                        "the config's)")
    p.add_argument("--seed", type=int, default=None,
                   help="override svag.seed (default: the config's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_output_options(p)
    add_executor_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    from ..studies import svag
    from ..studies.config import read_config

    config = read_config(svag.SVAGConfig, args.config,
                         {("svag", "paths"): args.paths, ("svag", "seed"): args.seed})
    with executor_of(args, config.executor) as executor:
        out = out_dir(args)
        with progress_of(args) as progress:
            result = svag.run(config, executor=executor, progress=progress)
        log_executor(executor)
    if out is not None:
        svag.write_outputs(result, out)
    emit(result, args.json)
    return 0
