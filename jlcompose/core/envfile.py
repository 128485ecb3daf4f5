"""A Compose `.env` file, read as `docker compose` reads it.

python-dotenv reads the lines: quotes and their escapes, inline comments, `export`, values
over several lines. Its `${VAR}` and `${VAR:-default}` are resolved here the way Compose
resolves them: from the shell first, then from earlier lines of the file; `:-` takes the
default for an unset *or empty* variable; a single-quoted value is taken literally.

Compose knows a few forms python-dotenv does not (`$VAR` without braces, `${VAR-default}`,
`${VAR:+alt}`, `${VAR:?error}`, nested defaults, `$$`), and reads two backslashes inside
single quotes and `KEY= # text` differently. A value written so is not guessed at: it is
kept in `unresolved`, and a caller that needs it says so (tests/integration/
test_dotenv_engine.py holds jlcompose to what `docker compose config` resolves).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dotenv.parser import parse_stream
from dotenv.variables import Literal, Variable, parse_variables

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# what the value of a binding starts with, which python-dotenv does not say: a single quote
# (no ${VAR} inside), or blanks then # (python-dotenv reads no value; Compose the text)
_KEY = r"\s*(?:export\s+)?(?:'[^']+'|[^=#\s]+)\s*="
_SINGLE_QUOTED = re.compile(_KEY + r"\s*'")
_BLANKS_THEN_HASH = re.compile(_KEY + r"[^\S\r\n]+#")
SUPPORTED = "plain text, quotes, ${VAR} or ${VAR:-default}"


@dataclass(frozen=True)
class EnvFile:
    path: Path
    values: dict[str, str] = field(default_factory=dict)  # resolved as Compose resolves them
    unresolved: dict[str, str] = field(default_factory=dict)  # key -> the line, as written
    lines: dict[str, int] = field(default_factory=dict)  # key -> line number (the last one)

    def where(self, key: str) -> str:
        return f"{self.path}:{self.lines[key]}" if key in self.lines else str(self.path)


def read_env_file(path: Path, environ: Mapping[str, str]) -> EnvFile:
    """The file's variables; `environ` (the shell) is what `${VAR}` looks up first."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError):
        return EnvFile(path)
    return parse_env_text(text, environ, path=path)


def parse_env_text(text: str, environ: Mapping[str, str], *, path: Path = Path(".env")) -> EnvFile:
    out = EnvFile(path)
    for binding in parse_stream(io.StringIO(text)):
        key, value = binding.key, binding.value
        if binding.error or key is None or value is None:
            continue  # unparsable (Compose says why when it reads it), or "KEY" alone: the shell's
        out.lines[key] = binding.original.line
        out.values.pop(key, None)
        out.unresolved.pop(key, None)
        original = binding.original.string.strip()
        if _BLANKS_THEN_HASH.match(binding.original.string):
            out.unresolved[key] = original
            continue
        if _SINGLE_QUOTED.match(binding.original.string):
            if "\\\\" in original:  # python-dotenv makes one backslash of two here; Compose does not
                out.unresolved[key] = original
            else:
                out.values[key] = value
            continue
        resolved = _resolve(value, {**out.values, **environ}, set(out.unresolved))
        if resolved is None:
            out.unresolved[key] = original
        else:
            out.values[key] = resolved
    return out


def _resolve(value: str, env: Mapping[str, str], unresolved: set[str]) -> str | None:
    """`value` with its variables filled in; None where Compose might read it otherwise."""
    parts: list[str] = []
    for atom in parse_variables(value):
        if isinstance(atom, Literal):
            if "$" in atom.value:
                return None
            parts.append(atom.value)
        elif isinstance(atom, Variable):
            default = atom.default
            if not _NAME.fullmatch(atom.name) or (atom.name in unresolved and atom.name not in env):
                return None
            if default is not None and "$" in default:
                return None
            found = env.get(atom.name, "")
            parts.append(default if default is not None and not found else found)
    return "".join(parts)
