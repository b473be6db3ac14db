"""``gandyn weak-order [CONFIG] [--json] [--out DIR]``: measured weak error and order.

Without CONFIG it runs the built-in study: the tanh WGAN of Cao & Guo §4.2,
ALT against ALT-SDE (order 2, Theorem 1) and SML against SML-SDE (order 1,
Theorem 2), by Monte Carlo with confidence intervals.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from .cli import UsageError, add_output_options, emit, positive_int
from .config import ConfigError, WeakOrderConfig, load_toml, parse_config

__all__ = ["register", "DEFAULT_STUDY", "run_weak_order"]

#: The built-in study of ``gandyn weak-order`` with no CONFIG.
DEFAULT_STUDY: dict[str, Any] = {
    "game": {"kind": "tanh-wgan", "n_latent": 32, "n_data": 32, "theta_star": 1.5,
             "theta0": 0.5, "omega0": 0.5, "seed": 0},
    "study": {
        "batch_size": 64,
        "horizon": 2.0,
        "etas": [0.4, 0.2, 0.1],
        "method": "monte-carlo",
        "paths": 40_000,
        "seed": 0,
        "test_function": "sq-norm",
        "comparisons": [
            {"scheme": "alt", "sde": "alt-sde", "covariance": "blockdiag"},
            {"scheme": "sml", "sde": "sml-sde", "covariance": "joint"},
        ],
    },
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "weak-order",
        help="weak error of the SDE approximations of SGA and its fitted order",
        description=__doc__.split("\n\n")[0] + " " + " ".join(__doc__.split("\n\n")[1].split()),
    )
    p.add_argument("config", nargs="?", default=None,
                   help="TOML study configuration (default: the built-in tanh-WGAN study)")
    p.add_argument("--paths", type=positive_int, default=None,
                   help="override study.paths (Monte Carlo paths per scheme, SDE and eta)")
    p.add_argument("--seed", type=int, default=None, help="override study.seed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--no-resume", action="store_true",
                   help="with --out: ignore checkpoints of an earlier, interrupted run")
    add_output_options(p)
    p.set_defaults(func=_main)


def _load(args) -> tuple[WeakOrderConfig, dict]:
    import copy

    raw = copy.deepcopy(DEFAULT_STUDY) if args.config is None else load_toml(args.config)
    if args.paths is not None or args.seed is not None:
        study = raw.get("study")
        if not isinstance(study, dict):
            raise ConfigError("config error: study: missing table")
        if args.paths is not None:
            study["paths"] = args.paths
        if args.seed is not None:
            study["seed"] = args.seed
    return parse_config(WeakOrderConfig, raw), raw


def run_weak_order(config: WeakOrderConfig, progress=None, checkpoint=None) -> dict:
    """Run a validated weak-order study and return the JSON result object."""
    from .analysis.test_functions import make_test_function
    from .analysis.weak_error import Comparison, exact_weak_error, monte_carlo_weak_error

    study = config.study
    game = config.game.build()
    try:
        tf = make_test_function(study.test_function, game.d_theta, game.d_omega)
    except ValueError as err:
        raise UsageError(f"config error: study.test_function: {err}") from None
    comparisons = [Comparison(c.scheme, c.sde, c.covariance) for c in study.comparisons]
    started = time.perf_counter()
    if study.method == "exact":
        results = exact_weak_error(config.game.spec(), comparisons, study.etas, study.horizon,
                                   study.batch_size, tf)
    else:
        results = monte_carlo_weak_error(
            game, comparisons, study.etas, study.horizon, study.batch_size, tf,
            paths=study.paths, seed=study.seed, test_function_name=study.test_function,
            substeps=(lambda eta: study.substeps) if study.substeps else None,
            richardson=study.richardson, integrator=study.integrator,
            chunk_size=study.chunk_size, bound=study.divergence_bound, progress=progress,
            checkpoint=checkpoint)
    return {
        "game": config.game.kind,
        "method": study.method,
        "test_function": study.test_function,
        "batch_size": study.batch_size,
        "horizon": study.horizon,
        "paths": study.paths if study.method == "monte-carlo" else None,
        "seed": study.seed if study.method == "monte-carlo" else None,
        "comparisons": [r.to_json() for r in results],
        "elapsed_s": time.perf_counter() - started,
    }


def _summary(result: dict) -> str:
    lines = [f"weak-order study: {result['game']} ({result['method']}, f = {result['test_function']}, "
             f"B = {result['batch_size']}, T = {result['horizon']})"]
    for c in result["comparisons"]:
        ci = c.get("order_final_ci")
        ci_text = f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci and None not in ci else ""
        of = c["order_final"]
        om = c["order_max"]
        lines.append(
            f"  {c['scheme'].upper()} vs {c['sde']} ({c['covariance']}): order (final) "
            f"{'n/a' if of is None else f'{of:.2f}'}{ci_text}, order (max over grid) "
            f"{'n/a' if om is None else f'{om:.2f}'}, expected {c['expected_order']}")
        for eta, e in zip(c["etas"], c["error_final"]):
            lines.append(f"      eta = {eta:<8g} error_final = {e:.3e}")
        for note in c["notes"]:
            lines.append(f"      note: {note}")
    if result.get("out"):
        lines.append(f"figures and data in {result['out']}")
    return "\n".join(lines)


def _main(args: argparse.Namespace) -> int:
    from .report.io import prepare_out_dir

    config, raw = _load(args)
    out_dir = prepare_out_dir(args.out) if args.out else None
    from .report.progress import progress_reporter

    checkpoint = None
    if out_dir is not None and config.study.method == "monte-carlo":
        import shutil

        from . import __version__
        from .checkpoint import CheckpointStore

        ckpt_dir = out_dir / ".checkpoints" / "weak-order"
        if args.no_resume and ckpt_dir.exists():
            shutil.rmtree(ckpt_dir)
        checkpoint = CheckpointStore(ckpt_dir, {"config": config.model_dump(mode="json"),
                                                "version": __version__})
    with progress_reporter(enabled=not args.no_progress) as progress:
        result = run_weak_order(config, progress=progress, checkpoint=checkpoint)
    if checkpoint is not None:
        result["resumed_pieces"] = len(checkpoint.loaded)
    result["config"] = raw
    if out_dir is not None:
        from .report.weak_order_plots import write_weak_order_outputs

        result["out"] = str(out_dir)
        result["files"] = write_weak_order_outputs(result, out_dir)
    emit(result, args.json, _summary)
    return 0
