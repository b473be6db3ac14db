"""Running a report: the sections in order, each checkpointed, then the page.

:func:`run_report` runs the chosen sections (:mod:`gandyn.report.sections`)
into ``DIR/<section>/`` and returns the report object that
:func:`write_report` turns into ``report.json`` and ``report.html``. Every
finished section is saved in one :class:`gandyn.checkpoint.CheckpointStore`
under ``DIR/.checkpoints/report/``, keyed on its settings: a report killed
part way and started again with the same command reuses the finished sections
(and the weak-order study its finished batches of runs) and ends with the same
numbers as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
import time
from pathlib import Path
from typing import Optional

from ..checkpoint import CheckpointStore, fingerprint_key
from ..errors import InputError
from .config import FILE_SETTINGS, ReportConfig

__all__ = ["DEFAULT_OUT", "versions", "platform_info", "Log", "section_fingerprint", "build_report",
           "run_report", "write_report", "printed", "summary"]

DEFAULT_OUT = "gandyn-report"
VERSION_PACKAGES = ("jax", "jaxlib", "numpy", "equinox", "optax")


# --------------------------------------------------------------------------- environment


def versions() -> dict:
    """Versions of Python, gandyn and the numerical packages the results depend on."""
    from importlib import metadata

    from .. import __version__

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


class Log:
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
    if isinstance(err, InputError):
        return text
    return f"{type(err).__name__}: {text}"


def _settings_text(config: ReportConfig, name: str) -> str:
    from .toml_text import dumps_toml

    table = {k: v for k, v in getattr(config, name).model_dump().items() if v is not None}
    return dumps_toml({name: table}) if table else ""


def _run_section(spec, ctx, settings_text: str, log, index: int, total: int) -> dict:
    """Run one section; an exception marks it failed with a one-line error."""
    from ..io import prepare_out_dir

    log(f"[{index}/{total}] {spec.name}: started")
    entry = {"name": spec.name, "title": spec.title, "description": spec.description,
             "status": "ok", "error": None, "settings": settings_text}
    started = time.perf_counter()
    try:
        prepare_out_dir(ctx.out_dir)
        output = spec.run(ctx)
    except Exception as err:  # noqa: BLE001 - a failed section must not lose the others
        from .sections import SectionOutput

        entry.update(status="failed", error=_one_line(err))
        output = SectionOutput(summary={}, results={})
    entry["seconds"] = time.perf_counter() - started
    entry.update(summary=output.summary, headline=output.headline, warnings=output.warnings,
                 notes=output.notes, verdicts=output.verdicts,
                 figures=output.figures if entry["status"] == "ok" else [],
                 tables=output.tables, commands=output.commands,
                 config_text=output.config_text, seeds=output.seeds,
                 files=_section_files(ctx.out_dir), results=output.results)
    detail = f": {entry['error']}" if entry["error"] else ""
    log(f"[{index}/{total}] {spec.name}: {entry['status']} in {entry['seconds']:.1f} s{detail}")
    return entry


def _section_files(folder: Path) -> list[str]:
    """The data files of a section, relative to the report folder (checkpoints left out)."""
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder.parent)) for p in folder.rglob("*")
                  if p.is_file() and ".checkpoints" not in p.parts and not p.name.startswith("."))


def resolved_config_text(config: ReportConfig, quick: bool) -> str:
    """The whole configuration a report ran with, defaults filled in, as TOML."""
    from .toml_text import dumps_toml

    data = config.model_dump()
    data["report"]["quick"] = quick
    data = {name: {k: v for k, v in table.items() if v is not None}
            for name, table in data.items() if table is not None}
    return dumps_toml(data)


def section_fingerprint(config: ReportConfig, name: str, quick: bool) -> str:
    """A key for one section's checkpoint: what it runs, with what, under which gandyn.

    A section that names a ``config`` file is keyed on the file's content too,
    so editing the file makes the next run compute the section afresh.
    """
    from .. import __version__

    settings = getattr(config, name).model_dump()
    files = {}
    for key in FILE_SETTINGS.get(name, ()):  # the files the section reads
        if settings.get(key):
            files[settings[key]] = hashlib.sha256(Path(settings[key]).read_bytes()).hexdigest()
    data = {"section": name, "settings": settings, "files": files, "quick": quick,
            "seed": config.report.seed, "gandyn": __version__}
    return fingerprint_key(data)


def _load_finished(store: CheckpointStore, out: Path, name: str, key: str) -> Optional[dict]:
    """The saved entry of a finished section, if its key matches and its files are all there."""
    entry = store.load_json(name, key)
    if entry is None:
        return None
    try:
        needed = list(entry.get("files", [])) + [f["file"] for f in entry.get("figures", [])]
    except (TypeError, KeyError):
        return None
    if not all(isinstance(f, str) and (out / f).is_file() for f in needed):
        return None
    return entry


def run_report(config: ReportConfig, out: Path, quick: bool, progress: bool, log,
               resume: bool = True, executor=None, executor_argv: tuple = ()) -> dict:
    """Run the chosen sections into ``out`` and return the report object (not yet written).

    With ``resume``, sections finished by an earlier run of the same
    configuration are loaded from their checkpoints instead of run again.
    ``executor`` runs the sections' tasks (in process by default);
    ``executor_argv`` are the options that ask for it, added to the sections'
    equivalent commands.
    """
    from .sections import SECTIONS, SectionContext

    names = config.report.sections
    store = CheckpointStore(out / ".checkpoints" / "report", {"store": "report sections"})
    for other in SECTIONS:  # sections of an earlier report into this folder, not run now
        if other not in names:
            _clear_section(out / other, keep_checkpoints=False)
            store.path(other, ".json").unlink(missing_ok=True)
    entries = []
    for i, name in enumerate(names, start=1):
        key = section_fingerprint(config, name, quick)
        entry = _load_finished(store, out, name, key) if resume else None
        if entry is not None:
            entry["resumed"] = True
            log(f"[{i}/{len(names)}] {name}: finished in an earlier run, loaded from "
                f"{store.path(name, '.json')}")
        else:
            _clear_section(out / name, keep_checkpoints=True)
            ctx = SectionContext(out_dir=out / name, settings=getattr(config, name),
                                 seed=config.report.seed, quick=quick, progress=progress,
                                 resume=resume, executor=executor,
                                 executor_argv=tuple(executor_argv))
            entry = _run_section(SECTIONS[name], ctx, _settings_text(config, name), log, i,
                                 len(names))
            entry["resumed"] = False
            if entry["status"] == "ok":
                store.save_json(name, entry, key)
        entries.append(entry)
    return {"sections": entries}


def _clear_section(folder: Path, keep_checkpoints: bool) -> None:
    """Remove what a section wrote into ``folder`` before it is run again (or left out).

    A report owns its ``report.*`` files and its section folders, nothing else in the output
    folder. A section about to run keeps its ``.checkpoints`` (finished pieces of its study).
    """
    import shutil

    if not folder.is_dir():
        return
    if not keep_checkpoints:
        shutil.rmtree(folder)
        return
    for child in folder.iterdir():
        if child.name == ".checkpoints":
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def write_report(report: dict, out: Path) -> None:
    """``report.json`` and the self-contained ``report.html``."""
    from ..io import atomic_write_text, write_json
    from .html import build_html

    write_json(out / "report.json", report)
    atomic_write_text(out / "report.html", build_html(report, out))


def printed(report: dict) -> dict:
    """What ``--json`` prints: the folder, the page, each section's status and key numbers."""
    keys = ("name", "status", "resumed", "seconds", "summary", "error", "warnings")
    return {"out": report["out"], "html": report["html"], "status": report["status"],
            "sections": [{k: s[k] for k in keys} for s in report["sections"]],
            "versions": report["versions"], "seconds": report["seconds"],
            "executor": report["executor"]}


def summary(report: dict) -> str:
    """Readable lines: the page, then each section's status and time."""
    lines = [f"report: {report['html']} ({report['seconds']:.1f} s)"]
    for s in report["sections"]:
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


def build_report(config: ReportConfig, out: Path, *, quick: bool, progress: bool = True,
                 resume: bool = True, command: str = "", config_file: Optional[str] = None,
                 config_source: str = "", executor=None, executor_argv: tuple = ()) -> dict:
    """Run every chosen section into ``out``, write ``report.json`` and ``report.html``.

    Returns the report object (``status`` is ``failed`` when a section failed).
    ``executor`` runs the sections' tasks (in process by default).
    """
    from ..studies.executor import default_executor

    executor = default_executor(executor)
    import datetime

    log = Log(enabled=progress)
    log(f"writing to {out}{' (quick settings)' if quick else ''}")
    started = time.perf_counter()
    report = {"title": config.report.title,
              "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
              "command": command, "quick": quick, "seed": config.report.seed,
              "config_file": str(Path(config_file).resolve()) if config_file else None,
              "config_source": config_source,
              "config_text": resolved_config_text(config, quick),
              "out": str(out), "html": str(out / "report.html"),
              "versions": versions(), "platform": platform_info(),
              "executor": executor.to_json()}
    report.update(run_report(config, out, quick, progress, log, resume=resume, executor=executor,
                             executor_argv=executor_argv))
    failed = [s for s in report["sections"] if s["status"] != "ok"]
    report["status"] = "failed" if failed else "ok"
    report["seconds"] = time.perf_counter() - started
    write_report(report, out)
    log(f"done in {report['seconds']:.1f} s: {out / 'report.html'}"
        + (f" ({len(failed)} sections failed)" if failed else ""))
    return report
