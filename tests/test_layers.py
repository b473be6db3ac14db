"""The package's layers import downwards only, and no modules import each other in a cycle.

``cli → report → studies → {analysis, kernel, schedules} → {sga, sde} →
{games, runs, datasets} → {errors, io, checkpoint, progress}`` (docs/architecture.md).
Every ``import`` statement of every module counts, the ones inside functions too.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = SRC / "gandyn"

LAYERS = [
    ("errors", "io", "checkpoint", "progress"),
    ("games", "runs", "datasets"),
    ("sga", "sde"),
    ("analysis", "kernel", "schedules"),
    ("studies",),
    ("report",),
    ("cli",),
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """The gandyn modules ``path`` imports (``from . import x`` resolves to the module ``x``)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "gandyn"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "gandyn":
                continue
            for alias in node.names:  # `from .studies import kernel` imports a module
                candidate = f"{target}.{alias.name}"
                found.add(candidate if _exists(candidate) else target)
    return found


def _exists(module: str) -> bool:
    path = SRC.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _layer(module: str):
    parts = module.split(".")
    return None if len(parts) < 2 else RANK.get(parts[1])


def test_every_module_has_a_layer():
    unplaced = [m for m in _graph() if m != "gandyn" and _layer(m) is None]
    assert not unplaced, f"modules outside every layer (add them to LAYERS): {unplaced}"


def test_imports_go_downwards_only():
    upward = [f"{m} (layer {_layer(m)}) imports {t} (layer {_layer(t)})"
              for m, targets in _graph().items() if m != "gandyn"
              for t in targets if t != "gandyn" and _layer(t) > _layer(m)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = _graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_an_upward_import(tmp_path, monkeypatch):
    """A control: a bottom-layer module importing the CLI is caught."""
    fake = tmp_path / "gandyn"
    (fake / "cli").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "cli" / "__init__.py").write_text("")
    (fake / "io.py").write_text("from .cli import main\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    with pytest.raises(AssertionError, match="gandyn.io .layer 0. imports gandyn.cli"):
        test_imports_go_downwards_only()


def test_import_gandyn_and_the_help_stay_light():
    """``import gandyn`` and building the CLI's parser import neither JAX nor the studies."""
    code = ("import sys, gandyn, gandyn.cli; gandyn.cli.build_parser(); "
            "print(sorted(m for m in ('jax', 'numpy', 'pydantic', 'matplotlib', 'gandyn.studies')"
            " if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_public_namespace_reaches_the_subpackages():
    import gandyn

    for name in ("kernel", "schedules", "studies", "analysis", "games", "sde"):
        assert getattr(gandyn, name).__name__ == f"gandyn.{name}"
    assert gandyn.make_sde.__module__.startswith("gandyn.sde")
    assert gandyn.studies.weak_order.run.__module__ == "gandyn.studies.weak_order"


def test_every_option_has_a_help_line_naming_its_default():
    import argparse

    from gandyn.cli import build_parser

    def parsers(parser):
        yield parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    yield from parsers(sub)

    missing = []
    for parser in parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            name = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(f"{name}: no help")
            elif action.option_strings and action.default not in (None, False) \
                    and "default" not in action.help:
                missing.append(f"{name}: default {action.default!r} not named")
    assert not missing, "\n".join(missing)
