"""What pyproject.toml promises: Python 3.10 syntax and stdlib, declared imports, sane bounds."""

import ast
import sys
from importlib import metadata
from pathlib import Path

import pytest

from gandyn.studies.config import tomllib

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SOURCES = sorted((ROOT / "src" / "gandyn").rglob("*.py"))
NEWER_STDLIB = {"tomllib": (3, 11)}  # stdlib modules younger than the oldest supported Python


def _oldest_python() -> tuple:
    spec = PYPROJECT["project"]["requires-python"]
    assert spec.startswith(">=")
    return tuple(int(x) for x in spec[2:].split("."))


def test_sources_parse_as_the_oldest_supported_python():
    oldest = _oldest_python()
    for path in SOURCES:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=oldest)


def test_newer_stdlib_modules_are_imported_with_a_fallback():
    oldest = _oldest_python()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        guarded = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try)
                   for n in ast.walk(t) if isinstance(n, ast.Import)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import) and id(node) not in guarded:
                for alias in node.names:
                    since = NEWER_STDLIB.get(alias.name)
                    assert since is None or since <= oldest, f"{path}: import {alias.name}"


def _requirement_name(req: str) -> str:
    for stop in "<>=!~; [":
        req = req.split(stop)[0]
    return req.strip().lower().replace("_", "-")


def test_third_party_imports_are_declared():
    declared = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    optional = {_requirement_name(r) for extra in PYPROJECT["project"]["optional-dependencies"]
                .values() for r in extra}
    module_to_dist = {"sklearn": "scikit-learn", "yaml": "pyyaml"}
    stdlib = set(sys.stdlib_module_names)
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top == "gandyn":
                    continue
                dist = module_to_dist.get(top, top).lower()
                assert dist in declared or dist in optional, f"{path}: {top} is not declared"


@pytest.mark.parametrize("req", PYPROJECT["project"]["dependencies"])
def test_installed_versions_satisfy_the_declared_ranges(req):
    from packaging.requirements import Requirement

    requirement = Requirement(req)
    if requirement.marker is not None and not requirement.marker.evaluate():
        pytest.skip(f"{req}: not for this Python")
    version = metadata.version(requirement.name)
    assert requirement.specifier.contains(version, prereleases=True), f"{req}: {version}"
