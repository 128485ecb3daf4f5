"""Pure: what adding packages to a requirements file changes, decided before anything is written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from jlcompose.core.includes import include_paths, includes
from jlcompose.core.requirements import Change, edit, has_hashes, listed
from jlcompose.errors import RequirementError


@dataclass(frozen=True)
class EditPlan:
    new: str  # the whole new requirements text
    changed: list[str]  # requirement lines written (added or updated), to install
    present: list[str]  # requirements already satisfied by the file, as listed there
    updated: dict[str, str] = field(default_factory=dict)  # changed line -> what it said before


def describe(plan: EditPlan) -> str:
    """ "added six, updated numpy==1.26.4 → numpy==1.26.3": what the edit did, in words."""
    added = [r for r in plan.changed if r not in plan.updated]
    parts = [f"added {', '.join(added)}"] if added else []
    parts += [f"updated {plan.updated[r]} → {r}" for r in plan.changed if r in plan.updated]
    return ", ".join(parts)


def facts(plan: EditPlan) -> dict[str, Any]:
    """The same facts as `describe`, for `pipreq --json`."""
    return {
        "added": [r for r in plan.changed if r not in plan.updated],
        "updated": [{"from": plan.updated[r], "to": r} for r in plan.changed if r in plan.updated],
        "already_present": list(plan.present),
    }


def _read(requirements: Path) -> str:
    try:
        return requirements.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return ""
    except UnicodeDecodeError:
        raise RequirementError(f"{requirements} is not UTF-8 text; jlcompose won't edit it.") from None


def plan_edit(requirements: Path, reqs: Sequence[Requirement]) -> EditPlan:
    """The new text, what to install, and what is already there; RequirementError to refuse."""
    old = _read(requirements)
    for path in [requirements, *include_paths(requirements)]:
        text = old if path == requirements else _text(path)
        if has_hashes(text):
            raise RequirementError(
                f"{path} uses pip's hash-checking mode (--hash), where every requirement needs "
                "its hashes, so an added line without them would break the image build.",
                hint="add it with its hashes by hand (e.g. pip-compile --generate-hashes).",
            )
    text = old
    changed: dict[str, str] = {}
    present: list[str] = []
    updated: dict[str, str] = {}
    for req in reqs:
        elsewhere = _listed_elsewhere(requirements, req)
        if elsewhere:
            present.append(elsewhere)
            continue
        result = edit(text, req)
        text = result.text
        key = canonicalize_name(req.name)
        if result.change is Change.UNCHANGED:
            if key not in changed:
                present.append(result.requirement)
        else:
            changed[key] = result.requirement
            if result.previous is not None:
                updated[result.requirement] = updated.pop(result.previous, result.previous)
    return EditPlan(new=text, changed=list(changed.values()), present=present, updated=updated)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return ""


def _listed_elsewhere(requirements: Path, req: Requirement) -> str | None:
    """A package an included -r file lists is changed there, never duplicated here.

    A -c constraints file installs nothing (it only limits versions of what is installed
    for other reasons), so a package found only there is still added here, as asked: pip
    applies the constraint's pin to the new line anyway.
    """
    name = canonicalize_name(req.name)
    for path, constraint in includes(requirements):
        if constraint or path == requirements.resolve():  # a file including itself: edit() decides
            continue
        found = listed(_text(path)).get(name)
        if not found:
            continue
        if req.specifier or req.url:
            raise RequirementError(
                f"{req.name} is listed in {path} (included from {requirements}); change its version there.",
            )
        first = found[0]
        if not first.rewritable:
            return f"{first.requirement} (line {first.line} of {path.name})"
        lines = "\n".join(f.requirement for f in found)
        return f"{lines} (in {path.name})"
    return None
