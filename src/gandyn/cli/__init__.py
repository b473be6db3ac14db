"""The ``gandyn`` command: thin argparse adapters over :mod:`gandyn.studies` and :mod:`gandyn.report`.

Every analysis subcommand takes ``--json`` (then exactly one JSON object goes
to stdout: the study result's ``to_json()``; progress and logs go to stderr)
and ``--out DIR`` (figures and data). Exit status: 0 on success, 2 on bad
input (one line on stderr naming the problem), 1 on any other failure.

Each subcommand is a module here with a ``register(subparsers)`` function
that adds its parser and sets ``func`` to a callable taking the parsed
arguments: parse, build the study's typed config, run the study, emit. The
modules import nothing heavy until a subcommand runs, so ``gandyn --help``
starts fast.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from ..errors import InputError, UsageError, one_line

__all__ = ["main", "build_parser"]

#: The subcommand modules, in the order ``gandyn --help`` lists them.
SUBCOMMANDS = ("weak_order", "invariant", "kernel", "train", "report")


def build_parser():
    import importlib

    from .common import Parser

    parser = Parser(prog="gandyn", description=(
        "Training dynamics of GANs and stochastic min-max games: SGA, its SDE approximations, "
        "weak error, invariant measures, FDRs and the FDR learning-rate schedule."))
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.version:
            from .. import __version__

            print(__version__)
            return 0
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except InputError as err:  # bad input: argparse, a config file, a parameter out of range
        sys.stderr.write(f"gandyn: error: {one_line(str(err))}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("gandyn: interrupted\n")
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's last line of defence
        sys.stderr.write(f"gandyn: failed: {type(err).__name__}: {one_line(str(err))}\n")
        return 1


__all__ += ["UsageError"]
