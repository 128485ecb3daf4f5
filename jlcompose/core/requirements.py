"""Pure: reading and editing pip requirements files without disturbing anything else."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jlcompose.errors import RequirementError

# pip's own rule (pip/_internal/req/req_file.py COMMENT_RE): '#' at the start or after whitespace
_COMMENT = re.compile(r"(^|\s+)#.*$")
_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|)")
_OPTION_START = re.compile(r"\s+-")  # per-requirement options such as `--hash=...`


# -- requirements files ------------------------------------------------------------------


class Change(Enum):
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Edit:
    text: str  # the whole new file
    change: Change
    requirement: str  # the requirement now in the file for this package
    previous: str | None = None  # what the file said before, for an UPDATED line


@dataclass(frozen=True)
class Diff:
    added: list[str] = field(default_factory=list)  # requirement strings new or changed
    removed: list[str] = field(default_factory=list)  # canonical names no longer listed
    other_changed: bool = False  # options, paths, URLs or unparseable lines changed


@dataclass(frozen=True)
class _Line:
    content: str  # without its line ending
    ending: str  # "\n", "\r\n", "\r" or "" (the last line of a file without a final newline)


@dataclass(frozen=True)
class _Logical:
    first: int  # index of its first physical line
    last: int  # index of its last physical line (continuation lines joined with `\`)
    text: str  # joined, comment removed, stripped
    req: Requirement | None  # None for blank lines, options and anything not PEP 508


def _physical(text: str) -> list[_Line]:
    lines = [_Line(m.group(1), m.group(2)) for m in _LINE.finditer(text)]
    if lines and lines[-1] == _Line("", ""):  # the regex's empty match at the very end
        lines.pop()
    return lines


def _is_comment(content: str) -> bool:
    return _COMMENT.search(content) is not None


def _logical(lines: list[_Line]) -> list[_Logical]:
    """Logical lines as pip reads them (pip's join_lines, then comment and option removal)."""
    out: list[_Logical] = []
    start: int | None = None
    parts: list[str] = []
    for i, line in enumerate(lines):
        content = line.content.lstrip("\ufeff") if i == 0 else line.content
        if content.endswith("\\") and not _is_comment(content):
            start = i if start is None else start
            parts.append(content.strip("\\"))
            continue
        parts.append(content)
        out.append(_make_logical(i if start is None else start, i, "".join(parts)))
        start, parts = None, []
    if parts and start is not None:  # a dangling `\` on the last line
        out.append(_make_logical(start, len(lines) - 1, "".join(parts)))
    return out


def _requirement_text(joined: str) -> str:
    text = _COMMENT.sub("", joined).strip()
    m = _OPTION_START.search(text)
    return text[: m.start()].rstrip() if m else text


def _make_logical(first: int, last: int, joined: str) -> _Logical:
    text = _requirement_text(joined)
    req: Requirement | None = None
    if text and not text.startswith("-"):
        try:
            req = Requirement(text)
        except InvalidRequirement:
            req = None
    return _Logical(first, last, text, req)


def _key(req: Requirement) -> tuple[str, str]:
    # Same name + same marker = the same line. The same name under another marker is a
    # separate, legitimate line (e.g. a different pin for an older Python).
    return canonicalize_name(req.name), str(req.marker) if req.marker else ""


def normalize(req: Requirement) -> str:
    """One spelling per requirement: canonical name and extras, packaging's specifier order."""
    extras = sorted(canonicalize_name(e) for e in req.extras)
    out = canonicalize_name(req.name) + (f"[{','.join(extras)}]" if extras else "")
    if req.url:
        out += f" @ {req.url}"
    else:
        out += str(req.specifier)
    if req.marker:
        out += f"{' ' if req.url else ''}; {req.marker}"
    return out


def _merge(old: Requirement, new: Requirement) -> Requirement:
    """Keep the file's spelling of the name; new extras join; a bare name keeps the old pin."""
    extras = sorted(set(old.extras) | set(new.extras))
    out = old.name + (f"[{','.join(extras)}]" if extras else "")
    src = new if (new.specifier or new.url) else old
    out += f" @ {src.url}" if src.url else str(src.specifier)
    if old.marker:
        out += f"{' ' if src.url else ''}; {old.marker}"
    return Requirement(out)


def has_hashes(text: str) -> bool:
    """True when pip would read this file in hash-checking mode (every line then needs a hash)."""
    return any(
        "--hash" in stripped or "--require-hashes" in stripped
        for stripped in (_COMMENT.sub("", ln.content) for ln in _physical(text))
    )


def _ending(lines: list[_Line]) -> str:
    crlf = sum(1 for ln in lines if ln.ending == "\r\n")
    lf = sum(1 for ln in lines if ln.ending == "\n")
    cr = sum(1 for ln in lines if ln.ending == "\r")
    if crlf > lf and crlf >= cr:
        return "\r\n"
    return "\r" if cr > lf and cr > crlf else "\n"


def _where(lines: list[_Logical]) -> str:
    return " and ".join(str(lg.first + 1) for lg in lines)


def edit(text: str, req: Requirement) -> Edit:
    """Add `req` to a requirements file, or update the one line listing it; nothing else moves."""
    lines = _physical(text)
    logical = [lg for lg in _logical(lines) if lg.req is not None]
    name, marker = _key(req)
    same = [lg for lg in logical if lg.req is not None and _key(lg.req) == (name, marker)]
    named = [lg for lg in logical if lg.req is not None and _key(lg.req)[0] == name]
    presence_only = not req.specifier and not req.url and not req.marker
    if presence_only and named and not same:
        same = [lg for lg in named if lg.req is not None and set(req.extras) <= set(lg.req.extras)]
        if same:
            assert same[0].req is not None
            return Edit(text, Change.UNCHANGED, str(same[0].req))
    if len(same) > 1:
        merges = [_merge(lg.req, req) for lg in same if lg.req is not None]
        if all(m == lg.req for m, lg in zip(merges, same, strict=True)):
            return Edit(text, Change.UNCHANGED, str(same[0].req))
        raise RequirementError(
            f"{req.name} is listed on lines {_where(same)}; jlcompose won't guess which to change.",
            hint="merge them into one line by hand, then run pipreq again.",
        )
    if not same and named and not req.marker:
        raise RequirementError(
            f"{req.name} is listed only under an environment marker (line {_where(named)}); "
            "an unconditional line next to it could conflict.",
            hint="edit that line by hand.",
        )
    if not same:
        return Edit(_append(text, lines, str(req)), Change.ADDED, str(req))
    target = same[0]
    assert target.req is not None
    merged = _merge(target.req, req)
    if merged == target.req:
        return Edit(text, Change.UNCHANGED, str(target.req))
    return Edit(_replace(lines, target, str(merged)), Change.UPDATED, str(merged), str(target.req))


def add_or_update(text: str, req: Requirement) -> tuple[str, Change]:
    result = edit(text, req)
    return result.text, result.change


def _append(text: str, lines: list[_Line], requirement: str) -> str:
    ending = _ending(lines)
    if not lines:
        return requirement + ending
    prefix = "" if lines[-1].ending else ending
    last = lines[-1].content
    if last.endswith("\\") and not _is_comment(last):
        prefix += ending  # an empty line ends the dangling continuation before ours
    return text + prefix + requirement + ending


def _replace(lines: list[_Line], target: _Logical, requirement: str) -> str:
    first = lines[target.first].content
    lead = len(first) - len(first.lstrip("\ufeff \t"))
    body = first[lead:]
    if body.startswith(target.text):
        # the requirement sits on its first physical line: rewrite exactly that span
        new = first[:lead] + requirement + body[len(target.text) :]
        out = [
            *lines[: target.first],
            _Line(new, lines[target.first].ending),
            *lines[target.first + 1 :],
        ]
    else:
        # split across continuation lines: one line replaces them, keeping the last one's comment
        last = lines[target.last]
        m = _COMMENT.search(last.content)
        comment = m.group(0) if m else ""
        new = first[:lead] + requirement + comment
        out = [*lines[: target.first], _Line(new, last.ending), *lines[target.last + 1 :]]
    return "".join(ln.content + ln.ending for ln in out)


def _groups(text: str) -> tuple[dict[str, list[str]], list[str]]:
    reqs: dict[str, list[str]] = {}
    other: list[str] = []
    for lg in _logical(_physical(text)):
        if lg.req is not None:
            reqs.setdefault(canonicalize_name(lg.req.name), []).append(normalize(lg.req))
        elif lg.text:
            other.append(lg.text)
    return reqs, other


def requirement_lines(text: str) -> dict[str, str]:
    """Canonical name -> normalized requirement (a name on several lines: joined by newlines)."""
    return {name: "\n".join(found) for name, found in _groups(text)[0].items()}


def diff(old_text: str, new_text: str) -> Diff:
    """What changed between two versions of a file, for hot installs and staleness."""
    old, old_other = _groups(old_text)
    new, new_other = _groups(new_text)
    added = [r for name, found in new.items() if old.get(name) != found for r in found]
    removed = [name for name in old if name not in new]
    return Diff(added=added, removed=removed, other_changed=old_other != new_other)
