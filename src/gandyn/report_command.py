"""``gandyn report [CONFIG] [--quick] [--out DIR] [--json] [--no-resume]``: the whole study as one HTML page.

Runs the weak-order study, the long-run and FDR study, the kernel-GDA
spectrum, phase diagrams and convergence, and the FDR-schedule training
study, each through its own subcommand, and writes one self-contained
``report.html`` with every figure embedded, ``report.json`` with everything
the page shows, and each section's own data in ``DIR/<section>/``. CONFIG
(TOML) chooses the sections and their settings. A section that fails is
reported as failed and the others still run; the exit status is then 1.

Every finished section is checkpointed under ``DIR/.checkpoints/report/``: a
report killed part way and started again with the same command reuses the
finished sections (and the weak-order study its finished batches of runs) and
ends with the same numbers as an uninterrupted run.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .cli import UsageError, emit
from .config import ConfigError, load_toml

__all__ = ["register", "ReportConfig", "load_report_config", "DEFAULT_OUT"]

DEFAULT_OUT = "gandyn-report"
SECTION_NAMES = ("weak_order", "invariant", "kernel", "train")
SectionName = Literal["weak_order", "invariant", "kernel", "train"]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
VERSION_PACKAGES = ("jax", "jaxlib", "numpy", "equinox", "optax")


# --------------------------------------------------------------------------- configuration


class _Table(BaseModel):
    """A TOML table: unknown keys and wrong types (no coercion from strings) are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("entries must be distinct")
    return values


class ReportSettings(_Table):
    sections: list[SectionName] = Field(default_factory=lambda: list(SECTION_NAMES), min_length=1)
    seed: int = Field(0, ge=0)
    quick: bool = False
    title: str = "gandyn report"

    @field_validator("sections")
    @classmethod
    def _distinct_sections(cls, values):
        return _distinct(values)


class WeakOrderSection(_Table):
    config: Optional[str] = None
    paths: Optional[int] = Field(None, ge=2)
    seed: Optional[int] = Field(None, ge=0)


class FileSection(_Table):
    config: Optional[str] = None


class KernelSection(_Table):
    sigma: PositiveFloat = 1.0
    lam: PositiveFloat = 0.1
    eta_d: PositiveFloat = 0.1
    eta_g: PositiveFloat = 0.1
    p: PositiveFloat = 1.0
    p_gen: PositiveFloat = 0.5
    n_gen: int = Field(1, ge=1)
    dim: int = Field(1, ge=1)
    parts: list[Literal["spectrum", "phase", "convergence"]] = Field(
        default_factory=lambda: ["spectrum", "phase", "convergence"], min_length=1)
    conventions: list[Literal["theorem", "paper-figure"]] = Field(
        default_factory=lambda: ["theorem", "paper-figure"], min_length=1)
    phase_grid: Optional[int] = Field(None, ge=2, le=4000)
    convergence_steps: Optional[int] = Field(None, ge=10, le=1_000_000)

    @field_validator("parts", "conventions")
    @classmethod
    def _distinct_entries(cls, values):
        return _distinct(values)


class ReportConfig(_Table):
    report: ReportSettings = ReportSettings()
    weak_order: WeakOrderSection = WeakOrderSection()
    invariant: FileSection = FileSection()
    kernel: KernelSection = KernelSection()
    train: FileSection = FileSection()


def _config_error(err: ValidationError) -> ConfigError:
    """One line naming the table, key and problem of the first validation error."""
    first = err.errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    if first.get("type") == "extra_forbidden" and len(loc) == 1 and not isinstance(
            first.get("input"), dict):
        return ConfigError(f"report config error: unknown top-level key {loc[0]!r} (settings go "
                           "in tables: [report], [weak_order], [invariant], [kernel], [train])")
    if first.get("type") == "extra_forbidden" and len(loc) == 1:
        return ConfigError(f"report config error: unknown section [{loc[0]}] (known: report, "
                           + ", ".join(SECTION_NAMES) + ")")
    if first.get("type") == "extra_forbidden":
        return ConfigError(f"report config error: [{loc[0]}] unknown key {'.'.join(loc[1:])!r}")
    msg = first.get("msg", "invalid value").removeprefix("Value error, ")
    return ConfigError(f"report config error: {'.'.join(loc)}: {msg}")


def _resolve_file(section: str, value: str, base: Path) -> str:
    """A section's ``config`` path, resolved against CONFIG's folder and read as TOML."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        load_toml(path)  # missing, a directory, unreadable or not TOML: one line
    except ConfigError as err:
        raise ConfigError(f"report config error: {section}.config: {err}") from None
    return str(path)


def load_report_config(path: Optional[str]) -> tuple[ReportConfig, str]:
    """The validated report configuration and its source text (built-in when ``path`` is None)."""
    if path is None:
        return ReportConfig(), ""
    raw = load_toml(path)
    try:
        config = ReportConfig.model_validate(raw)
    except ValidationError as err:
        raise _config_error(err) from None
    base = Path(path).resolve().parent
    updates = {}
    for name in ("weak_order", "invariant", "train"):
        table = getattr(config, name)
        if table.config is not None:
            updates[name] = table.model_copy(
                update={"config": _resolve_file(name, table.config, base)})
    return config.model_copy(update=updates), Path(path).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- environment


def versions() -> dict:
    """Versions of Python, gandyn and the numerical packages the results depend on."""
    from importlib import metadata

    from . import __version__

    out = {"python": platform.python_version(), "gandyn": __version__}
    for name in VERSION_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def platform_info() -> dict:
    import jax

    return {"platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "jax_backend": jax.default_backend(),
            "jax_devices": ", ".join(str(d) for d in jax.devices())}


# --------------------------------------------------------------------------- running


class _Log:
    """One progress line per section start and finish on stderr (silent with --no-progress)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.started = time.perf_counter()

    def __call__(self, message: str) -> None:
        if self.enabled:
            elapsed = time.perf_counter() - self.started
            sys.stderr.write(f"report [{elapsed:7.1f} s] {message}\n")
            sys.stderr.flush()


def _one_line(err: BaseException) -> str:
    """The error as one line; bad input keeps its message, anything else is named by type."""
    text = " ".join(str(err).split()) or "no message"
    if isinstance(err, (ConfigError, UsageError)):
        return text
    return f"{type(err).__name__}: {text}"


def _settings_text(config: ReportConfig, name: str) -> str:
    from .report.toml_text import dumps_toml

    table = {k: v for k, v in getattr(config, name).model_dump().items() if v is not None}
    return dumps_toml({name: table}) if table else ""


def _run_section(spec, ctx, settings_text: str, log, index: int, total: int) -> dict:
    """Run one section; an exception marks it failed with a one-line error."""
    import jax

    from .report.io import prepare_out_dir

    log(f"[{index}/{total}] {spec.name}: started")
    entry = {"name": spec.name, "title": spec.title, "description": spec.description,
             "status": "ok", "error": None, "settings": settings_text}
    started = time.perf_counter()
    x64 = jax.config.jax_enable_x64
    try:
        prepare_out_dir(ctx.out_dir)
        output = spec.run(ctx)
    except Exception as err:  # noqa: BLE001 - a failed section must not lose the others
        from .report.sections import SectionOutput

        entry.update(status="failed", error=_one_line(err))
        output = SectionOutput(summary={}, results={})
    finally:
        jax.config.update("jax_enable_x64", x64)  # kernel and exact studies switch it on
        _close_figures()
    entry["seconds"] = time.perf_counter() - started
    entry.update(summary=output.summary, headline=output.headline, warnings=output.warnings,
                 notes=output.notes,
                 figures=output.figures if entry["status"] == "ok" else [],
                 tables=output.tables, commands=output.commands,
                 config_text=output.config_text, seeds=output.seeds,
                 files=_section_files(ctx.out_dir), results=output.results)
    detail = f": {entry['error']}" if entry["error"] else ""
    log(f"[{index}/{total}] {spec.name}: {entry['status']} in {entry['seconds']:.1f} s{detail}")
    return entry


def _close_figures() -> None:
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def _section_files(folder: Path) -> list[str]:
    """The data files of a section, relative to the report folder (checkpoints left out)."""
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder.parent)) for p in folder.rglob("*")
                  if p.is_file() and ".checkpoints" not in p.parts and not p.name.startswith("."))


def _command_line(args: argparse.Namespace, out: Path) -> str:
    argv = ["report"] + ([args.config] if args.config else [])
    argv += ["--quick"] if args.quick else []
    argv += ["--out", str(out)] + (["--json"] if args.json else [])
    argv += ["--no-progress"] if args.no_progress else []
    argv += ["--no-resume"] if args.no_resume else []
    return "gandyn " + shlex.join(argv)


def _resolved_config_text(config: ReportConfig, quick: bool) -> str:
    from .report.toml_text import dumps_toml

    data = config.model_dump()
    data["report"]["quick"] = quick
    data = {name: {k: v for k, v in table.items() if v is not None} for name, table in data.items()}
    return dumps_toml(data)


def section_fingerprint(config: ReportConfig, name: str, quick: bool) -> str:
    """A key for one section's checkpoint: what it runs, with what, under which gandyn.

    A section that names a ``config`` file is keyed on the file's content too,
    so editing the file makes the next run compute the section afresh.
    """
    from . import __version__

    settings = getattr(config, name).model_dump()
    files = {}
    if settings.get("config"):
        files[settings["config"]] = hashlib.sha256(Path(settings["config"]).read_bytes()).hexdigest()
    data = {"section": name, "settings": settings, "files": files, "quick": quick,
            "seed": config.report.seed, "gandyn": __version__}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _checkpoint_path(out: Path, name: str) -> Path:
    return out / ".checkpoints" / "report" / f"{name}.json"


def _load_finished(out: Path, name: str, key: str) -> Optional[dict]:
    """The saved entry of a finished section, if its key matches and its files are all there."""
    path = _checkpoint_path(out, name)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("key") != key:
        return None
    entry = saved.get("entry")
    if not isinstance(entry, dict):
        return None
    needed = list(entry.get("files", [])) + [f["file"] for f in entry.get("figures", [])]
    if not all((out / f).is_file() for f in needed):
        return None
    return entry


def _save_finished(out: Path, name: str, key: str, entry: dict) -> None:
    from .report.io import write_json

    path = _checkpoint_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"key": key, "entry": entry})


def run_report(config: ReportConfig, out: Path, quick: bool, progress: bool, log,
               resume: bool = True) -> dict:
    """Run the chosen sections into ``out`` and return the report object (not yet written).

    With ``resume``, sections finished by an earlier run of the same
    configuration are loaded from their checkpoints instead of run again.
    """
    from .report.sections import SECTIONS, SectionContext

    names = config.report.sections
    entries = []
    for i, name in enumerate(names, start=1):
        key = section_fingerprint(config, name, quick)
        entry = _load_finished(out, name, key) if resume else None
        if entry is not None:
            entry["resumed"] = True
            log(f"[{i}/{len(names)}] {name}: finished in an earlier run, loaded from "
                f"{_checkpoint_path(out, name)}")
        else:
            ctx = SectionContext(out_dir=out / name, settings=getattr(config, name),
                                 seed=config.report.seed, quick=quick, progress=progress,
                                 resume=resume)
            entry = _run_section(SECTIONS[name], ctx, _settings_text(config, name), log, i,
                                 len(names))
            entry["resumed"] = False
            if entry["status"] == "ok":
                _save_finished(out, name, key, entry)
        entries.append(entry)
    return {"sections": entries}


def _write_report(report: dict, out: Path) -> None:
    from .report.html import build_html
    from .report.io import atomic_write_text, write_json

    write_json(out / "report.json", report)
    atomic_write_text(out / "report.html", build_html(report, out))


def _printed(report: dict) -> dict:
    """What ``--json`` prints: the folder, the page, each section's status and key numbers."""
    keys = ("name", "status", "resumed", "seconds", "summary", "error", "warnings")
    return {"out": report["out"], "html": report["html"], "status": report["status"],
            "sections": [{k: s[k] for k in keys} for s in report["sections"]],
            "versions": report["versions"], "seconds": report["seconds"]}


def _summary(printed: dict) -> str:
    lines = [f"report: {printed['html']} ({printed['seconds']:.1f} s)"]
    for s in printed["sections"]:
        line = f"  {s['name']:<11} {s['status']:<7} {s['seconds']:8.1f} s"
        if s["resumed"]:
            line += "  (from an earlier run)"
        if s["error"]:
            line += f"  {s['error']}"
        elif s["warnings"]:
            n = len(s["warnings"])
            line += f"  ({n} warning{'s' if n > 1 else ''})"
        lines.append(line)
    return "\n".join(lines)


def _main(args: argparse.Namespace) -> int:
    from .report.io import prepare_out_dir

    config, config_text = load_report_config(args.config)
    quick = bool(args.quick or config.report.quick)
    out = prepare_out_dir(args.out or DEFAULT_OUT)
    log = _Log(enabled=not args.no_progress)
    log(f"writing to {out}{' (quick settings)' if quick else ''}")
    started = time.perf_counter()
    report = {"title": config.report.title,
              "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
              "command": _command_line(args, out), "quick": quick, "seed": config.report.seed,
              "config_file": str(Path(args.config).resolve()) if args.config else None,
              "config_source": config_text,
              "config_text": _resolved_config_text(config, quick),
              "out": str(out), "html": str(out / "report.html"),
              "versions": versions(), "platform": platform_info()}
    report.update(run_report(config, out, quick, not args.no_progress, log,
                             resume=not args.no_resume))
    failed = [s for s in report["sections"] if s["status"] != "ok"]
    report["status"] = "failed" if failed else "ok"
    report["seconds"] = time.perf_counter() - started
    _write_report(report, out)
    log(f"done in {report['seconds']:.1f} s: {out / 'report.html'}"
        + (f" ({len(failed)} sections failed)" if failed else ""))
    emit(_printed(report), args.json, _summary)
    return 1 if failed else 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="run the whole study and write one self-contained HTML report",
        description=" ".join(__doc__.split("\n\n")[1].split()))
    p.add_argument("config", nargs="?", default=None,
                   help="TOML file choosing sections and their settings (default: the built-in "
                        "study, all sections)")
    p.add_argument("--quick", action="store_true",
                   help="smaller built-in studies (about a minute on 2 CPU cores)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress lines on stderr (also passed to the subcommands)")
    p.add_argument("--no-resume", action="store_true",
                   help="run every section afresh, ignoring checkpoints of an earlier run in DIR")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--out", metavar="DIR", default=None,
                   help=f"folder for report.html, report.json and each section's data "
                        f"(default: {DEFAULT_OUT})")
    p.set_defaults(func=_main)
