"""``gandyn report [CONFIG] [--quick] [--out DIR] [--json] [--no-resume]``: the whole study as one HTML page."""

from __future__ import annotations

import json
import shlex
import sys

__all__ = ["register"]

DEFAULT_OUT = "gandyn-report"  # the same as gandyn.report.run.DEFAULT_OUT (kept light here)

DESCRIPTION = (
    "Runs the weak-order study, the long-run and FDR study, the kernel-GDA spectrum, phase "
    "diagrams and convergence, and the FDR-schedule training study, and writes one "
    "self-contained report.html with every figure embedded, report.json with everything the "
    "page shows, and each section's own data in DIR/<section>/. CONFIG (TOML) chooses the "
    "sections and their settings. A section that fails is reported as failed and the others "
    "still run; the exit status is then 1.")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="run the whole study and write one self-contained HTML report",
        description=DESCRIPTION)
    p.add_argument("config", nargs="?", default=None,
                   help="TOML file choosing sections and their settings (default: the built-in "
                        "study, all sections)")
    p.add_argument("--quick", action="store_true",
                   help="smaller built-in studies (about 1.5 minutes on 2 CPU cores, 35 s once "
                        "compiled; default: the full study)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress lines on stderr")
    p.add_argument("--no-resume", action="store_true",
                   help="run every section afresh, ignoring checkpoints of an earlier run in DIR")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--out", metavar="DIR", default=None,
                   help=f"folder for report.html, report.json and each section's data "
                        f"(default: {DEFAULT_OUT})")
    from .common import add_executor_options

    add_executor_options(p)
    p.set_defaults(func=_main)


def _command_line(args, out, executor_argv=()) -> str:
    argv = ["report"] + ([args.config] if args.config else [])
    argv += ["--quick"] if args.quick else []
    argv += ["--out", str(out)] + (["--json"] if args.json else [])
    argv += ["--no-progress"] if args.no_progress else []
    argv += ["--no-resume"] if args.no_resume else []
    argv += list(executor_argv)
    return "gandyn " + shlex.join(argv)


def _main(args) -> int:
    from ..io import jsonable, prepare_out_dir
    from ..report.config import load_report_config
    from ..report.run import build_report, printed, summary

    from .common import executor_config, executor_of

    config, config_text = load_report_config(args.config)  # before any folder is made
    quick = bool(args.quick or config.report.quick)
    argv = executor_config(args, config.executor).argv()
    with executor_of(args, config.executor) as executor:  # an unreachable cluster: exit 2 here
        out = prepare_out_dir(args.out or DEFAULT_OUT)
        report = build_report(config, out, quick=quick, progress=not args.no_progress,
                              resume=not args.no_resume, command=_command_line(args, out, argv),
                              config_file=args.config, config_source=config_text,
                              executor=executor, executor_argv=argv)
    shown = printed(report)
    sys.stdout.write((json.dumps(jsonable(shown)) if args.json else summary(shown)) + "\n")
    return 1 if report["status"] != "ok" else 0
