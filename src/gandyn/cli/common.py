"""What every subcommand shares: the parser class, option types, output options, emitting."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UsageError

__all__ = ["Parser", "positive_int", "add_output_options", "emit", "out_dir", "progress_of"]


class Parser(argparse.ArgumentParser):
    """argparse with its own errors raised as :class:`UsageError` (one line, exit 2)."""

    def error(self, message):
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
                        help="folder for figures (PNG, SVG) and data (CSV, JSON) (default: none)")


def out_dir(args):
    """The ``--out`` folder, created and checked, or ``None``."""
    if not args.out:
        return None
    from ..io import prepare_out_dir

    return prepare_out_dir(args.out)


def progress_of(args):
    """A progress context (a bar on stderr) unless ``--no-progress`` was given."""
    from ..progress import progress_reporter

    return progress_reporter(enabled=not getattr(args, "no_progress", False))


def emit(result, as_json: bool) -> None:
    """Print a study result: its ``to_json()`` with ``--json``, else its readable summary."""
    from ..io import jsonable

    if as_json:
        sys.stdout.write(json.dumps(jsonable(result.to_json())) + "\n")
    else:
        sys.stdout.write(result.summary() + "\n")
