"""Security properties that hold for the code as written (the engine-side ones are in tests/integration)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "jlcompose"


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def test_no_shell_strings_anywhere() -> None:
    """Every process is started from an argument list: no shell=True, os.system or os.popen."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            name = ast.unparse(call.func)
            if name in ("os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"):
                offenders.append(f"{path.name}:{call.lineno} {name}")
            for kw in call.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    offenders.append(f"{path.name}:{call.lineno} shell=")
    assert offenders == []


def test_lab_binds_to_loopback_by_default() -> None:
    compose = (PACKAGE.parent / "compose/compose.yaml").read_text()
    assert '"${JLC_BIND:-127.0.0.1}:${JLC_TORCH_PORT:-8888}:8888"' in compose
    assert '"${JLC_BIND:-127.0.0.1}:${JLC_TF_PORT:-8889}:8888"' in compose


def test_token_is_never_logged_by_jlcompose() -> None:
    """No logging call in the package mentions the token."""
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            name = ast.unparse(call.func)
            if name.startswith(("log.", "logger.", "logging.")):
                assert "token" not in ast.unparse(call).lower(), f"{path.name}:{call.lineno}"
