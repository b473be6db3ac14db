"""What every subcommand shares: the parser class, option types, output options, emitting."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UsageError

__all__ = ["Parser", "positive_int", "add_output_options", "add_executor_options", "executor_of",
           "executor_config",
           "log_executor", "emit", "out_dir", "progress_of"]


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


def add_executor_options(parser: argparse.ArgumentParser) -> None:
    """``--executor``, ``--ray-address``, ``--ray-num-cpus``: where a study's tasks run."""
    group = parser.add_argument_group(
        "where the tasks run", "The study's independent tasks run in this process (local) or on "
        "a Ray cluster (ray, needs pip install \"gandyn[ray]\"); the numbers are the same. "
        "Options override the config file's [executor] table.")
    group.add_argument("--executor", choices=["local", "ray"], default=None,
                       help="local: in this process, one task after another; ray: on Ray "
                            "(default: the config's [executor] kind, else local)")
    group.add_argument("--ray-address", metavar="auto|HOST:PORT", default=None,
                       help="with --executor ray: the running cluster to use (auto: the one "
                            "`ray start --head` started on this machine) (default: start a local "
                            "Ray for this command)")
    group.add_argument("--ray-num-cpus", metavar="N", type=positive_int, default=None,
                       help="with --executor ray and no --ray-address: CPUs of the local Ray, "
                            "one task per CPU (default: this machine's CPUs)")


def executor_of(args, table=None):
    """The executor the options and the config's ``[executor]`` table ask for (a context manager).

    See :func:`executor_config`. A Ray cluster that cannot be reached is a
    one-line :class:`UsageError` (exit 2) here, before any work starts.
    """
    from ..studies.executor_config import make_executor

    config = executor_config(args, table)
    if config.kind == "ray":
        import os

        # Several processes may share a GPU: none takes three quarters of its memory up front.
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    return make_executor(config)


def executor_config(args, table=None):
    """The :class:`~gandyn.studies.executor.ExecutorConfig` of the options over the table.

    ``--executor`` replaces the table's ``kind`` (``local`` drops its cluster
    settings too); ``--ray-address`` and ``--ray-num-cpus`` replace its choice
    of cluster and need ``ray``. Bad combinations are one-line
    :class:`UsageError`s (exit 2).
    """
    from ..studies.config import parse_config
    from ..studies.executor_config import ExecutorConfig
    from ..studies.ray_executor import parse_address

    data = table.model_dump() if table is not None else {}
    if args.executor == "local":
        data = {"kind": "local"}  # the option wins over the table, cluster choices included
    elif args.executor == "ray":
        data["kind"] = "ray"
    address, num_cpus = args.ray_address, args.ray_num_cpus
    for option, value in (("--ray-address", address), ("--ray-num-cpus", num_cpus)):
        if value is not None and data.get("kind", "local") != "ray":
            raise UsageError(f"{option} needs --executor ray")
    if address is not None and num_cpus is not None:
        raise UsageError("--ray-num-cpus sizes a local Ray; a cluster at --ray-address has its "
                         "own CPUs (give one of them)")
    if address is not None:
        try:
            parse_address(address)
        except ValueError:
            raise UsageError(f"--ray-address must be auto or HOST:PORT, got {address!r}") from None
        data.update(address=address, num_cpus=None)
    if num_cpus is not None:
        data.update(num_cpus=num_cpus, address=None)
    return parse_config(ExecutorConfig, data, what="config")


def log_executor(executor) -> None:
    """One line on stderr after a study ran on Ray: its tasks, workers and measured utilisation."""
    run = getattr(executor, "last_run", None)
    if run:
        sys.stderr.write(f"ray: {run['tasks']} tasks on {run['workers']} workers in "
                         f"{run['span_s']:.1f} s, utilisation {100 * run['utilisation']:.0f}%\n")


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
