"""``gandyn train CONFIG [--json] [--out DIR]``: what the FDR schedule is worth in practice.

Trains MLP GANs on the 8-Gaussian ring, the 25-Gaussian grid or the digits
with constant-rate SGD, step decay, Adam and the FDR schedule, several seeds
each, and reports sample-quality scores (see :mod:`gandyn.train`).
"""

from __future__ import annotations

import argparse

from .cli import add_output_options, emit
from .config import TrainConfig, load_toml, parse_config

__all__ = ["register"]


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="train MLP GANs with SGD, step decay, Adam and the "
                              "FDR schedule; score the samples",
                              description=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("config", help="TOML configuration with a [train] table")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    add_output_options(p)
    p.set_defaults(func=_main)


def _summary(result: dict) -> str:
    from .train import results_table

    return (f"training study: {result['dataset']} ({result['loss']}), {result['steps']} steps, "
            f"B = {result['batch_size']}\n" + results_table(result))


def _main(args: argparse.Namespace) -> int:
    from .report.io import prepare_out_dir, save_figure, write_json, atomic_write_text
    from .report.progress import progress_reporter
    from .train import plot_training, results_table, train_study

    config = parse_config(TrainConfig, load_toml(args.config))
    out_dir = prepare_out_dir(args.out) if args.out else None
    with progress_reporter(enabled=not args.no_progress) as progress:
        result = train_study(config.train.model_dump(), progress=progress)
    result["config"] = config.train.model_dump()
    result["table_markdown"] = results_table(result)
    if out_dir is not None:
        files = save_figure(plot_training(result), out_dir, "training")
        files.append(str(atomic_write_text(out_dir / "training_table.md", result["table_markdown"] + "\n")))
        files.append(str(out_dir / "training.json"))
        result["out"], result["files"] = str(out_dir), files
        write_json(out_dir / "training.json", result)
    emit(result, args.json, _summary)
    return 0
