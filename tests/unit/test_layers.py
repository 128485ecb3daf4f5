"""The floors of docs/architecture.md, checked on the source: who may import whom, and sizes."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "jlcompose"
MAX_LINES = 300
BIG_ON_PURPOSE = {"gpu/bench.py"}  # sent whole into the labs as one `python3 -c` script


@functools.cache
def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(["jlcompose", *parts])] = path
    return out


def imports(path: Path) -> set[str]:
    """Every module an import in the file loads, lazy (in-function) imports included.

    `from jlcompose.engine import translate` loads the submodule: it counts as that module.
    """
    known = modules()
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            subs = {f"{node.module}.{alias.name}" for alias in node.names}
            found.update(subs & set(known) or {node.module})
            if subs - set(known):
                found.add(node.module)
    return found


def internal(path: Path, known: dict[str, Path]) -> set[str]:
    return {name for name in imports(path) if name in known and name != "jlcompose"}


def test_only_the_engine_package_imports_python_on_whales() -> None:
    users = {
        name
        for name, path in modules().items()
        if any(m.startswith("python_on_whales") for m in imports(path))
    }
    assert users and all(name.startswith("jlcompose.engine.") for name in users), users


def test_the_core_is_pure() -> None:
    known = modules()
    for name, path in known.items():
        if name.startswith("jlcompose.core"):
            allowed = {
                m for m in internal(path, known) if m.startswith("jlcompose.core") or m == "jlcompose.errors"
            }
            assert internal(path, known) == allowed, name
            assert not imports(path) & {
                "subprocess",
                "socket",
                "urllib.request",
                "python_on_whales",
                "rich",
            }, name


def test_no_command_imports_another() -> None:
    known = modules()
    for name, path in known.items():
        if name.startswith("jlcompose.commands."):
            others = {m for m in internal(path, known) if m.startswith("jlcompose.commands.")}
            assert others == set(), (name, others)


def test_no_import_cycle() -> None:
    known = modules()
    graph = {name: internal(path, known) - {name} for name, path in known.items()}
    # a package's __init__ is imported by its submodules anyway; it must not import them back
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


def test_modules_stay_small() -> None:
    big = {
        str(path.relative_to(PACKAGE)): n
        for path in PACKAGE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert set(big) <= BIG_ON_PURPOSE, big
