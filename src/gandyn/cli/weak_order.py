"""``gandyn weak-order [CONFIG] [--json] [--out DIR]``: measured weak error and order."""

from __future__ import annotations

from .common import (add_executor_options, add_output_options, emit, executor_of, log_executor,
                     out_dir, positive_int, progress_of)

__all__ = ["register"]

DESCRIPTION = (
    "Weak error of the SDE approximations of SGA over a grid of learning rates and its fitted "
    "order (Cao & Guo, Theorems 1-2). Without CONFIG it runs the built-in study: the tanh WGAN "
    "of Cao & Guo §4.2, ALT against ALT-SDE (order 2) and SML against SML-SDE (order 1), by "
    "Monte Carlo with confidence intervals.")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "weak-order", help="weak error of the SDE approximations of SGA and its fitted order",
        description=DESCRIPTION)
    p.add_argument("config", nargs="?", default=None,
                   help="TOML study configuration (default: the built-in tanh-WGAN study)")
    p.add_argument("--paths", type=positive_int, default=None,
                   help="override study.paths (Monte Carlo paths per scheme, SDE and eta; "
                        "default: the config's)")
    p.add_argument("--seed", type=int, default=None, help="override study.seed (default: the "
                   "config's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--no-resume", action="store_true",
                   help="with --out: ignore checkpoints of an earlier, interrupted run")
    add_output_options(p)
    add_executor_options(p)
    p.set_defaults(func=_main)


def _main(args) -> int:
    from ..studies.config import read_config
    from ..studies import weak_order

    config = read_config(weak_order.WeakOrderConfig, args.config,
                         {("study", "paths"): args.paths, ("study", "seed"): args.seed},
                         default=weak_order.DEFAULT_STUDY)
    with executor_of(args, config.executor) as executor:
        out = out_dir(args)
        checkpoint = weak_order.checkpoint_store(out, config, resume=not args.no_resume)
        with progress_of(args) as progress:
            result = weak_order.run(config, executor=executor, progress=progress,
                                    checkpoint=checkpoint)
        log_executor(executor)
    if checkpoint is not None and checkpoint.loaded:
        import sys

        sys.stderr.write(f"resumed {len(checkpoint.loaded)} of {weak_order.n_pieces(config)} "
                         f"pieces from {checkpoint.directory}\n")
    if out is not None:
        weak_order.write_outputs(result, out)
    emit(result, args.json)
    return 0
