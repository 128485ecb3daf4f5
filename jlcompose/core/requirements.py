"""Pure: reading and editing pip requirements files without disturbing anything else.

Lines are read exactly as pip reads them (core/reqlines.py), and a package counts as listed
when pip would install it from the file, PEP 508 line or not (core/reqnames.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from jlcompose.core.reqlines import Line, Logical, args_span, continues, logical, parse_options, physical
from jlcompose.core.reqnames import KINDS, Named, classify
from jlcompose.errors import RequirementError


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
class Listed:
    """A line pip installs a package from."""

    line: int  # pip's line number (its first physical line)
    requirement: str  # the normalized PEP 508 requirement, or the name a fixed line installs
    rewritable: bool  # False for URL, VCS, archive, -e and ${VAR} lines


@dataclass(frozen=True)
class _Entry:
    lg: Logical
    req: Requirement | None  # a PEP 508 requirement
    named: Named | None  # what a line jlcompose can't rewrite installs

    @property
    def name(self) -> str | None:
        found = self.req.name if self.req else self.named.name if self.named else None
        return canonicalize_name(found) if found else None


def _entries(lines: list[Line]) -> list[_Entry]:
    """Every non-blank logical line, with what pip installs from it."""
    return [_Entry(lg, *classify(lg.text)) for lg in logical(lines) if lg.text]


def _sig(e: _Entry) -> tuple[str, str]:
    """What pip reads from a line, for checking that an edit changed only what it meant to."""
    return (normalize(e.req), e.lg.options) if e.req else (e.lg.text, "")


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
    for lg in logical(physical(text)):
        if lg.options:
            opts = parse_options(lg.options)
            if opts.hashes if opts else "--hash" in lg.options or "--require-hashes" in lg.options:
                return True
    return False


def _ending(lines: list[Line]) -> str:
    crlf = sum(1 for ln in lines if ln.ending == "\r\n")
    lf = sum(1 for ln in lines if ln.ending == "\n")
    cr = sum(1 for ln in lines if ln.ending == "\r")
    if crlf > lf and crlf >= cr:
        return "\r\n"
    return "\r" if cr > lf and cr > crlf else "\n"


def _where(entries: list[_Entry]) -> str:
    return " and ".join(str(e.lg.number) for e in entries)


def listed(text: str) -> dict[str, list[Listed]]:
    """Canonical name -> the lines pip installs it from, PEP 508 or not."""
    out: dict[str, list[Listed]] = {}
    for e in _entries(physical(text)):
        if e.name is not None:
            shown = normalize(e.req) if e.req else e.named.name if e.named else ""
            out.setdefault(e.name, []).append(Listed(e.lg.number, shown, e.req is not None))
    return out


def edit(text: str, req: Requirement) -> Edit:
    """Add `req` to a requirements file, or update the one line listing it; nothing else moves."""
    lines = physical(text)
    entries = _entries(lines)
    name, marker = _key(req)
    fixed = [e for e in entries if e.named is not None and e.name == name]
    if fixed:
        return _on_fixed_line(text, req, fixed)
    logical_reqs = [e for e in entries if e.req is not None]
    same = [e for e in logical_reqs if e.req is not None and _key(e.req) == (name, marker)]
    named = [e for e in logical_reqs if e.name == name]
    presence_only = not req.specifier and not req.url and not req.marker
    if presence_only and named and not same:
        same = [e for e in named if e.req is not None and set(req.extras) <= set(e.req.extras)]
        if same:
            return Edit(text, Change.UNCHANGED, str(same[0].req))
    if len(same) > 1:
        merges = [_merge(e.req, req) for e in same if e.req is not None]
        if all(m == e.req for m, e in zip(merges, same, strict=True)):
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
    before = [_sig(e) for e in entries]
    if not same:
        new = _append(text, lines, str(req))
        _check(new, [*before, (normalize(req), "")], len(lines) + 1)
        return Edit(new, Change.ADDED, str(req))
    target = same[0]
    assert target.req is not None
    merged = _merge(target.req, req)
    if merged == target.req:
        return Edit(text, Change.UNCHANGED, str(target.req))
    new = _replace(lines, target.lg, str(merged))
    expected = [(normalize(merged), e.lg.options) if e is target else _sig(e) for e in entries]
    _check(new, expected, target.lg.number)
    return Edit(new, Change.UPDATED, str(merged), str(target.req))


def _on_fixed_line(text: str, req: Requirement, fixed: list[_Entry]) -> Edit:
    """A package from a URL, VCS, archive, -e or ${VAR} line: there already, but never rewritten."""
    first = fixed[0].named
    assert first is not None
    extras = {canonicalize_name(x) for x in req.extras}
    if not req.specifier and not req.url and not req.marker:
        if extras <= {canonicalize_name(x) for x in first.extras}:
            return Edit(text, Change.UNCHANGED, f"{first.name} (line {fixed[0].lg.number})")
    raise RequirementError(
        f"{req.name} is installed from {KINDS[first.kind]} on line {_where(fixed)}, "
        "which jlcompose can't rewrite.",
        hint="change that line by hand.",
    )


def _check(new: str, expected: list[tuple[str, str]], line: int) -> None:
    """The edit must change nothing else that pip reads; refuse rather than write a surprise."""
    if [_sig(e) for e in _entries(physical(new))] != expected:
        raise RequirementError(
            f"jlcompose can't edit line {line} without changing how pip reads the lines around it.",
            hint="make the change by hand.",
        )


def _append(text: str, lines: list[Line], requirement: str) -> str:
    ending = _ending(lines)
    if not lines:
        return requirement + ending
    prefix = "" if lines[-1].ending else ending
    if continues(lines, len(lines) - 1):
        # an empty line ends the dangling continuation (pip's join_lines); after a lone "\r"
        # a "\n" would only make it "\r\n", one break, so the empty line ends in "\r" too
        prefix += "\r" if text.endswith("\r") and ending.startswith("\n") else ending
    return text + prefix + requirement + ending


def _replace(lines: list[Line], lg: Logical, requirement: str) -> str:
    """The requirement's own characters give way to `requirement`; the rest stays as it was.

    A requirement split over continuation lines becomes one line, keeping what followed it
    (options, a comment, further continuation lines) byte for byte.
    """
    start, end = args_span(lg)
    first, head = lg.locate(start)
    last, tail = lg.locate(end - 1)
    new = lines[first].content[:head] + requirement + lines[last].content[tail + 1 :]
    out = [*lines[:first], Line(new, lines[last].ending), *lines[last + 1 :]]
    return "".join(ln.content + ln.ending for ln in out)


def _groups(text: str) -> tuple[dict[str, list[str]], list[str]]:
    reqs: dict[str, list[str]] = {}
    other: list[str] = []
    for e in _entries(physical(text)):
        if e.req is not None:
            reqs.setdefault(canonicalize_name(e.req.name), []).append(normalize(e.req))
        else:
            other.append(e.lg.text)
    return reqs, other


def requirement_lines(text: str) -> dict[str, str]:
    """Canonical name -> normalized PEP 508 requirement (on several lines: joined by newlines)."""
    return {name: "\n".join(found) for name, found in _groups(text)[0].items()}


def diff(old_text: str, new_text: str) -> Diff:
    """What changed between two versions of a file, for hot installs and staleness."""
    old, old_other = _groups(old_text)
    new, new_other = _groups(new_text)
    added = [r for name, found in new.items() if old.get(name) != found for r in found]
    removed = [name for name in old if name not in new]
    return Diff(added=added, removed=removed, other_changed=old_other != new_other)
