"""The report's configuration: which sections run, with which settings.

A report CONFIG (TOML) has a ``[report]`` table and one table per section;
every table is a :class:`gandyn.studies.config.StrictModel` and a bad one is
answered by the same one-line formatter as every study config. Section names
may be written as the command line spells them (``weak-order``) or as the
tables do (``weak_order``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import AliasChoices, BeforeValidator, Field, field_validator, model_validator

from ..errors import ConfigError
from ..studies.config import PositiveFloat, StrictModel, load_toml, parse_config
from ..studies.executor_config import ExecutorConfig
from ..studies.kernel import Convention, KernelGame

__all__ = ["SECTION_NAMES", "DEFAULT_SECTIONS", "StabilitySection", "ReportSettings", "WeakOrderSection", "FileSection", "KernelSection",
           "ReportConfig", "load_report_config"]

SECTION_NAMES = ("weak_order", "invariant", "kernel", "train", "stability", "svag")
#: The sections a report runs when ``[report] sections`` is not given (``stability`` and
#: ``svag`` are opt-in: the network-scale SVAG study alone takes minutes).
DEFAULT_SECTIONS = ("weak_order", "invariant", "kernel", "train")


def _table_spelling(value):
    """``weak-order`` (the command's name) is ``weak_order`` (the table's)."""
    return value.replace("-", "_") if isinstance(value, str) else value


SectionName = Annotated[Literal[SECTION_NAMES], BeforeValidator(_table_spelling)]  # type: ignore[valid-type]


def _distinct(values: list) -> list:
    if len(set(values)) != len(values):
        raise ValueError("entries must be distinct")
    return values


class ReportSettings(StrictModel):
    sections: list[SectionName] = Field(default_factory=lambda: list(DEFAULT_SECTIONS), min_length=1)
    seed: int = Field(0, ge=0)
    quick: bool = False
    title: str = "gandyn report"

    @field_validator("sections")
    @classmethod
    def _distinct_sections(cls, values):
        return _distinct(values)


class WeakOrderSection(StrictModel):
    config: Optional[str] = None
    paths: Optional[int] = Field(None, ge=2)
    seed: Optional[int] = Field(None, ge=0)


class FileSection(StrictModel):
    config: Optional[str] = None


class StabilitySection(StrictModel):
    """The stability section: the closed-form cases (the step size, the bilinear game's σ,
    R1's and consensus's γ, β) and the digits GAN along training (its size: ``None`` takes
    the full or the ``--quick`` default of :data:`gandyn.report.sections.DIGITS_ALONG`)."""

    parts: list[Literal["closed_forms", "digits"]] = Field(
        default_factory=lambda: ["closed_forms", "digits"], min_length=1)
    eta: PositiveFloat = 0.2
    sigma: PositiveFloat = 1.0
    gamma: PositiveFloat = 0.5
    beta: float = Field(-0.5, gt=-1, lt=1)
    digits_eta: PositiveFloat = 0.05
    digits_hidden: Optional[int] = Field(None, ge=1, le=4096)
    digits_images: Optional[int] = Field(None, ge=2, le=1797)
    digits_steps: Optional[int] = Field(None, ge=1, le=10**6)
    digits_every: Optional[int] = Field(None, ge=1, le=10**6)
    digits_k: Optional[int] = Field(None, ge=1, le=100)

    @field_validator("parts")
    @classmethod
    def _distinct_parts(cls, values):
        return _distinct(values)

    @model_validator(mode="after")
    def _every_within_steps(self):
        if (self.digits_steps is not None and self.digits_every is not None
                and self.digits_every > self.digits_steps):
            raise ValueError(f"digits_every must be at most digits_steps ({self.digits_every} > "
                             f"{self.digits_steps})")
        return self


class SVAGSection(FileSection):
    """The SVAG section: the SVAG-l chains (``config``: a ``gandyn svag`` file, or the built-in
    study) and the scaling rules (``scaling_config``: a ``gandyn scaling-rule`` file, or the
    built-in study), as ``parts`` asks."""

    parts: list[Literal["svag", "scaling"]] = Field(
        default_factory=lambda: ["svag", "scaling"], min_length=1)
    scaling_config: Optional[str] = None

    @field_validator("parts")
    @classmethod
    def _distinct_parts(cls, values):
        return _distinct(values)


class KernelSection(KernelGame):
    """The kernel section's game (the Corollary-1 counterexample by default) and what it runs."""

    eta_d: PositiveFloat = 0.1
    eta_g: PositiveFloat = 0.1
    p_gen: PositiveFloat = 0.5
    parts: list[Literal["spectrum", "phase", "convergence"]] = Field(
        default_factory=lambda: ["spectrum", "phase", "convergence"], min_length=1)
    conventions: list[Convention] = Field(
        default_factory=lambda: ["theorem", "paper-figure"], min_length=1)
    phase_grid: Optional[int] = Field(None, ge=2, le=4000)
    convergence_steps: Optional[int] = Field(None, ge=10, le=1_000_000)

    @field_validator("parts", "conventions")
    @classmethod
    def _distinct_entries(cls, values):
        return _distinct(values)


def _section_table(name: str):
    return AliasChoices(name, name.replace("_", "-"))


class ReportConfig(StrictModel):
    report: ReportSettings = ReportSettings()
    weak_order: WeakOrderSection = Field(WeakOrderSection(),
                                         validation_alias=_section_table("weak_order"))
    invariant: FileSection = FileSection()
    kernel: KernelSection = KernelSection()
    train: FileSection = FileSection()
    stability: StabilitySection = StabilitySection()
    svag: SVAGSection = SVAGSection()
    # Where the sections' tasks run (--executor and --ray-* override it); never part of a
    # section's numbers, so not of its checkpoint key either.
    executor: Optional[ExecutorConfig] = None


#: The settings of each section that name a file (resolved against CONFIG's folder; their
#: content is part of the section's resume fingerprint).
FILE_SETTINGS = {"weak_order": ("config",), "invariant": ("config",), "train": ("config",),
                 "svag": ("config", "scaling_config")}


def _resolve_file(section: str, value: str, base: Path, key: str = "config") -> str:
    """A section's ``config`` (or other ``key``) path, resolved against CONFIG's folder and read
    as TOML."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        load_toml(path)  # missing, a directory, unreadable or not TOML: one line
    except ConfigError as err:
        raise ConfigError(f"report config error: {section}.{key}: {err}") from None
    return str(path)


def load_report_config(path: Optional[str]) -> tuple[ReportConfig, str]:
    """The validated report configuration and its source text (built-in when ``path`` is None)."""
    if path is None:
        return ReportConfig(), ""
    config = parse_config(ReportConfig, load_toml(path), what="report config")
    base = Path(path).resolve().parent
    updates = {}
    for name, keys in FILE_SETTINGS.items():
        table = getattr(config, name)
        paths = {key: _resolve_file(name, getattr(table, key), base, key)
                 for key in keys if getattr(table, key) is not None}
        if paths:
            updates[name] = table.model_copy(update=paths)
    return config.model_copy(update=updates), Path(path).read_text(encoding="utf-8")
