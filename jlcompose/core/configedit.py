"""Pure: adding names to `unpin` in jlcompose.toml or [tool.jlcompose], touching nothing else.

Only this one key is ever written (by `jlcompose pipreq --unpin`). The edit keeps every other
byte of the file; the result is parsed again and must say exactly what was meant, or nothing
is written.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jlcompose.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*unpin\s*=")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _table_of(data: dict[str, Any], table: str | None) -> dict[str, Any]:
    for part in (table or "").split(".") if table else []:
        data = data.get(part, {})
    return data


def with_unpin(text: str, names: Sequence[str], *, table: str | None) -> str:
    """`text` with `names` added to `unpin` of `table` (None: the top level of jlcompose.toml)."""
    try:
        before = _table_of(tomllib.loads(text), table)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file is not valid TOML ({exc}); nothing was changed.") from None
    old = [str(n) for n in before.get("unpin", [])]
    merged = list(dict.fromkeys([*(_canonical(n) for n in old), *(_canonical(n) for n in names)]))
    line = "unpin = [" + ", ".join(f'"{n}"' for n in merged) + "]"
    lines = text.splitlines(keepends=True)
    start, end = _span(lines, table)
    if start is None:  # no such table yet: a new one at the end
        sep = "" if not text or text.endswith("\n") else "\n"
        new = f"{text}{sep}{chr(10) if text.strip() else ''}[{table}]\n{line}\n"
    else:
        key = next((i for i in range(start, end) if _KEY.match(lines[i])), None)
        if key is None:
            last = max((i for i in range(start, end) if lines[i].strip()), default=start - 1)
            ending = "" if last < 0 or lines[last].endswith("\n") else "\n"
            lines.insert(last + 1, f"{ending}{line}\n")
        else:
            stop = key
            while "]" not in lines[stop].split("#", 1)[0] and stop + 1 < end:
                stop += 1  # an array written over several lines
            lines[key : stop + 1] = [line + "\n"]
        new = "".join(lines)
    after = _table_of(tomllib.loads(new), table).get("unpin")
    if after != merged:
        raise ConfigError("jlcompose could not add `unpin` to the config file safely; add it by hand.")
    return new


def _span(lines: list[str], table: str | None) -> tuple[int | None, int]:
    """[start, end) of the lines belonging to `table` (None: before the first header)."""
    headers = [(i, m.group(1)) for i, ln in enumerate(lines) if (m := _HEADER.match(ln))]
    if table is None:
        return 0, headers[0][0] if headers else len(lines)
    for n, (i, name) in enumerate(headers):
        if name.replace(" ", "") == table:
            end = headers[n + 1][0] if n + 1 < len(headers) else len(lines)
            return i + 1, end
    return None, len(lines)


def unpin_target(root: Path) -> tuple[Path, str | None]:
    """Where `unpin` is kept: the file load_config reads (jlcompose.toml, else pyproject.toml)."""
    if (root / "jlcompose.toml").is_file() or not (root / "pyproject.toml").is_file():
        return root / "jlcompose.toml", None
    return root / "pyproject.toml", "tool.jlcompose"
