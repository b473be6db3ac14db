"""``gandyn scaling-rule CONFIG [--json] [--out DIR]``: SGD's linear and Adam's square-root rule."""

from __future__ import annotations

from .common import (add_executor_options, add_output_options, emit, executor_of, log_executor,
                     out_dir, progress_of)

__all__ = ["register"]

DESCRIPTION = (
    "Train a network game (mlp-gan, dcgan) with (kappa*eta, kappa*B) for every kappa of "
    "scaling.kappas: SGD by the linear scaling rule, Adam by the square-root rule of Malladi et "
    "al. 2022 (eta -> sqrt(kappa) eta, 1-beta -> kappa(1-beta), eps -> eps/sqrt(kappa)), "
    "several seeds each; say for which kappa the curves follow the base run's within their "
    "intervals, and report per player the gradient noise-to-signal ratio along training.")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "scaling-rule", help="do (kappa*eta, kappa*B) trainings follow the same curves?",
        description=DESCRIPTION)
    p.add_argument("config", help="TOML configuration with [game] and [scaling] tables")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_output_options(p)
    add_executor_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    from ..studies import scaling_rule
    from ..studies.config import read_config

    config = read_config(scaling_rule.ScalingRuleConfig, args.config)
    with executor_of(args, config.executor) as executor:
        out = out_dir(args)
        with progress_of(args) as progress:
            result = scaling_rule.run(config, executor=executor, progress=progress)
        log_executor(executor)
    if out is not None:
        scaling_rule.write_outputs(result, out)
    emit(result, args.json)
    return 0
