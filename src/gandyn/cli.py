"""The ``gandyn`` command.

Every analysis subcommand takes ``--json`` (then exactly one JSON object goes
to stdout; progress and logs go to stderr) and ``--out DIR`` (figures and
data). Exit status: 0 on success, 2 on bad input (one line on stderr naming
the problem), 1 on any other failure.

Subcommands register themselves through a ``register(subparsers)`` function
(see :mod:`gandyn.commands`); each sets ``func`` to a callable taking the
parsed arguments and returning the JSON-able result object.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional, Sequence

from .config import ConfigError
from .report.io import jsonable

__all__ = ["main", "UsageError", "build_parser", "emit"]


class UsageError(Exception):
    """Bad input: reported as one line on stderr with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own errors: one line, exit 2
        raise UsageError(message)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """The ``--json`` and ``--out`` options every analysis subcommand shares."""
    parser.add_argument("--json", action="store_true",
                        help="print exactly one JSON object on stdout")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="folder for figures (PNG, SVG) and data (CSV, JSON)")


def emit(result: dict, as_json: bool, summary: Optional[Callable[[dict], str]] = None) -> None:
    """Print ``result``: one JSON object with ``--json``, else a readable summary."""
    if as_json:
        sys.stdout.write(json.dumps(jsonable(result)) + "\n")
    elif summary is not None:
        sys.stdout.write(summary(result) + "\n")
    else:
        sys.stdout.write(json.dumps(jsonable(result), indent=2) + "\n")


def build_parser() -> argparse.ArgumentParser:
    from . import commands

    parser = _Parser(prog="gandyn", description=(
        "Training dynamics of GANs and stochastic min-max games: SGA, its SDE approximations, "
        "weak error, invariant measures, FDRs and the FDR learning-rate schedule."))
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for register in commands.REGISTRY:
        register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.version:
            from . import __version__

            print(__version__)
            return 0
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except (UsageError, ConfigError) as err:  # bad input, from argparse or a config file
        sys.stderr.write(f"gandyn: error: {_one_line(str(err))}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("gandyn: interrupted\n")
        return 130
    except Exception as err:  # noqa: BLE001 - the CLI's last line of defence
        sys.stderr.write(f"gandyn: failed: {type(err).__name__}: {_one_line(str(err))}\n")
        return 1


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "invalid input"


if __name__ == "__main__":
    sys.exit(main())
