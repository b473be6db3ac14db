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

__all__ = ["main", "build_parser", "compilation_cache_dir", "UsageError"]

#: The subcommand modules, in the order ``gandyn --help`` lists them.
SUBCOMMANDS = ("weak_order", "invariant", "kernel", "train", "svag", "scaling_rule", "spectrum",
               "report")


def build_parser():
    import importlib

    from .common import Parser

    parser = Parser(prog="gandyn", description=(
        "Training dynamics of GANs and stochastic min-max games: SGA, its SDE approximations, "
        "weak error, invariant measures, FDRs and the FDR learning-rate schedule."))
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="do not keep compiled programs between runs (default: kept in "
                             "$GANDYN_COMPILATION_CACHE or ~/.cache/gandyn/jax)")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def compilation_cache_dir() -> Optional[str]:
    """Where the command keeps JAX's compiled programs between runs (``None``: switched off).

    ``GANDYN_COMPILATION_CACHE`` names the folder, or ``off``; the default is
    ``$XDG_CACHE_HOME/gandyn/jax`` (``~/.cache/gandyn/jax``).
    """
    import os
    from pathlib import Path

    setting = os.environ.get("GANDYN_COMPILATION_CACHE", "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    if setting:
        return setting
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "gandyn" / "jax")


#: Disk space the compilation cache may take; least recently used programs are evicted beyond it.
COMPILATION_CACHE_MAX_BYTES = 2 * 2**30


def _use_compilation_cache(enabled: bool) -> None:
    """JAX's persistent compilation cache: a second run of a command compiles nothing."""
    folder = compilation_cache_dir() if enabled else None
    if folder is None:
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    # A size limit makes JAX evict least-recently-used entries and, with it, take a file lock
    # around every read and write: two commands running at once then never read an entry the
    # other is half-way through writing (without the limit JAX reads and writes unlocked).
    jax.config.update("jax_compilation_cache_max_size", COMPILATION_CACHE_MAX_BYTES)
    _adopt_entries_without_access_time(folder)


def _adopt_entries_without_access_time(folder: str) -> None:
    """Give entries written without a size limit the access-time file JAX's LRU cache needs.

    A JAX process without ``jax_compilation_cache_max_size`` (an older gandyn, a script that
    points JAX at this folder) writes ``<key>-cache`` files alone. With the limit set, JAX
    reads ``<key>-atime`` of every entry before each write, fails on the first one missing,
    warns, and caches nothing new. Each such entry gets its modification time as its access
    time (JAX's format: nanoseconds, 8 bytes little-endian), so it is evicted in turn instead.
    """
    from pathlib import Path

    try:
        for entry in Path(folder).glob("*-cache"):
            atime = entry.with_name(entry.name[: -len("-cache")] + "-atime")
            if not atime.exists():
                atime.write_bytes(entry.stat().st_mtime_ns.to_bytes(8, "little"))
    except OSError:  # a folder being created or cleaned by another process: JAX copes with it
        pass


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
        _use_compilation_cache(not args.no_compile_cache)
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

