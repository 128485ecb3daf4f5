"""Pure: the lines of a pip requirements file exactly as pip reads them (no packaging import).

pip (pip/_internal/req/req_file.py) splits the text with str.splitlines, then `join_lines`
joins a line ending in `\\` with the next one BEFORE comments are removed (so a `\\` at the
end of `tqdm  # note \\` folds the next line into the comment), except that a line which
starts with a comment (COMMENT_RE.match) never continues. Then `ignore_comments` removes
COMMENT_RE and strips, `expand_env_variables` expands `${VAR}`, and `break_args_options`
cuts the line at the first space-separated token that starts with `-`.
"""

from __future__ import annotations

import optparse
import re
import shlex
from dataclasses import dataclass
from typing import NoReturn

COMMENT_RE = re.compile(r"(^|\s+)#.*$")  # pip's, used with .match and .sub as pip does
ENV_VAR_RE = re.compile(r"\$\{[A-Z0-9_]+\}")  # pip's ${VAR}: upper case, digits, _
BOM = "\ufeff"
# str.splitlines' separators, so that line numbers and line ends are pip's
_SEPARATORS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE = re.compile(f"([^{_SEPARATORS}]*)(\r\n|[{_SEPARATORS}]|)")


@dataclass(frozen=True)
class Line:
    content: str  # without its line ending
    ending: str  # "\n", "\r\n", "\r", another str.splitlines separator, or "" at the very end


@dataclass(frozen=True)
class Logical:
    first: int  # index of its first physical line
    last: int  # index of its last physical line (lines joined with a trailing `\`)
    joined: str  # pip's join_lines result, comments still in
    text: str  # comment removed and stripped: what pip parses ("" for a blank line)
    args: str  # the requirement part (break_args_options), trailing spaces removed
    options: str  # the rest: per-requirement or file options, still to be shlex-split
    pieces: tuple[tuple[int, int, int], ...]  # (line index, offset in its content, length)

    @property
    def number(self) -> int:
        return self.first + 1  # what pip calls the line number

    def locate(self, index: int) -> tuple[int, int]:
        """(line index, offset in that line's content) of character `index` of `joined`."""
        start = 0
        for line, offset, length in self.pieces:
            if index < start + length:
                return line, offset + index - start
            start += length
        line, offset, length = self.pieces[-1]
        return line, offset + length


def physical(text: str) -> list[Line]:
    lines = [Line(m.group(1), m.group(2)) for m in _LINE.finditer(text)]
    if lines and lines[-1] == Line("", ""):  # the regex's empty match at the very end
        lines.pop()
    return lines


def _content(lines: list[Line], i: int) -> tuple[str, int]:
    """A line's content as pip sees it (pip decodes away one byte order mark), and its offset."""
    content = lines[i].content
    if i == 0 and content.startswith(BOM):
        return content[1:], 1
    return content, 0


def continues(lines: list[Line], i: int) -> bool:
    """pip joins line i with the next one: it ends in `\\` and does not start with a comment."""
    content, _ = _content(lines, i)
    return content.endswith("\\") and not COMMENT_RE.match(content)


def logical(lines: list[Line]) -> list[Logical]:
    """pip's join_lines and ignore_comments, keeping where each piece came from."""
    out: list[Logical] = []
    pieces: list[tuple[int, int, str]] = []
    for i in range(len(lines)):
        content, base = _content(lines, i)
        if continues(lines, i):
            lead = len(content) - len(content.lstrip("\\"))
            pieces.append((i, base + lead, content.strip("\\")))
            continue
        if COMMENT_RE.match(content):
            pieces.append((i, base - 1, " " + content))  # pip's ' ' so the comment still matches
        else:
            pieces.append((i, base, content))
        out.append(_make(pieces))
        pieces = []
    if pieces:  # the last line ends in `\`
        out.append(_make(pieces))
    return out


def _make(pieces: list[tuple[int, int, str]]) -> Logical:
    joined = "".join(p for _, _, p in pieces)
    text = COMMENT_RE.sub("", joined).strip()
    args, options = break_args_options(text)
    return Logical(
        first=pieces[0][0],
        last=pieces[-1][0],
        joined=joined,
        text=text,
        args=args.rstrip(),
        options=options,
        pieces=tuple((i, offset, len(p)) for i, offset, p in pieces),
    )


def break_args_options(line: str) -> tuple[str, str]:
    """pip's: tokens split on single spaces; the first one starting with `-` starts the options."""
    tokens = line.split(" ")
    for n, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:n]), " ".join(tokens[n:])
    return line, ""


def args_span(lg: Logical) -> tuple[int, int]:
    """Where `args` lies in `joined` (comments are only ever at the end)."""
    m = COMMENT_RE.search(lg.joined)
    uncommented = lg.joined[: m.start()] if m else lg.joined
    start = len(uncommented) - len(uncommented.lstrip())
    return start, start + len(lg.args)


@dataclass(frozen=True)
class Options:
    editables: list[str]
    requirements: list[str]
    constraints: list[str]
    hashes: bool  # --hash or --require-hashes


class _ParseError(Exception):
    pass


class _Parser(optparse.OptionParser):
    def error(self, msg: str) -> NoReturn:
        raise _ParseError(msg)

    def exit(self, status: int = 0, msg: str | None = None) -> NoReturn:
        raise _ParseError(msg or "")


# pip's requirements-file options (build_parser): the same names, so optparse resolves
# abbreviations (`--req`) and clusters (`-rfile`) the way pip's optparse does
_VALUED = (
    ("-i", "--index-url", "--pypi-url"),
    ("--extra-index-url",),
    ("-c", "--constraint"),
    ("-r", "--requirement"),
    ("-e", "--editable"),
    ("-f", "--find-links"),
    ("--no-binary",),
    ("--only-binary",),
    ("--trusted-host",),
    ("--use-feature",),
    ("--global-option",),
    ("--hash",),
    ("-C", "--config-settings"),
)
_FLAGS = ("--no-index", "--prefer-binary", "--require-hashes", "--pre")


def parse_options(options: str) -> Options | None:
    """The options pip reads from a line's option part; None where pip would fail on it."""
    parser = _Parser(add_help_option=False)
    for flags in _VALUED:
        parser.add_option(*flags, action="append", dest=flags[-1].lstrip("-").replace("-", "_"))
    for flag in _FLAGS:
        parser.add_option(flag, action="store_true", dest=flag.lstrip("-").replace("-", "_"))
    try:
        values, _ = parser.parse_args(shlex.split(options), optparse.Values())
    except (_ParseError, ValueError):
        return None
    found = vars(values)
    return Options(
        editables=found.get("editable") or [],
        requirements=found.get("requirement") or [],
        constraints=found.get("constraint") or [],
        hashes=bool(found.get("hash") or found.get("require_hashes")),
    )
