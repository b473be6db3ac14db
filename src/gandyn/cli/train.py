"""``gandyn train CONFIG [--json] [--out DIR]``: what the FDR schedule is worth in practice."""

from __future__ import annotations

from .common import (add_executor_options, add_output_options, emit, executor_of, log_executor,
                     out_dir, progress_of)

__all__ = ["register"]

DESCRIPTION = (
    "Trains MLP GANs on the 8-Gaussian ring, the 25-Gaussian grid or the digits with "
    "constant-rate SGD, step decay, reduce-on-plateau, Adam and the FDR schedule after SGD and "
    "after Adam, several seeds each, and reports sample-quality scores (mean ± standard error) "
    "and what the FDR schedule decided (drops, cycle checks, verdicts).")


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train MLP GANs with SGD, step decay, plateau, Adam "
                              "and the FDR schedule; score the samples", description=DESCRIPTION)
    p.add_argument("config", help="TOML configuration with a [train] table")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    add_output_options(p)
    add_executor_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    from ..studies.config import read_config
    from ..studies import train

    config = read_config(train.TrainConfig, args.config)
    with executor_of(args, config.executor) as executor:
        out = out_dir(args)
        with progress_of(args) as progress:
            result = train.run(config, executor=executor, progress=progress)
        log_executor(executor)
    if out is not None:
        train.write_outputs(result, out)
    emit(result, args.json)
    return 0
