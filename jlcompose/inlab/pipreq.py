"""What `pipreq` does to one service, wherever it runs: the CLI on the host, or the lab's agent.

Under the requirements lock: plan the edit, install the changed lines (when a lab runs),
write the file only if that worked, and remember the hot install in state.json. Status lines
go to `say(kind, text)`, so the CLI prints them and the agent streams them to its client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from jlcompose.core.configedit import unpin_target, with_unpin
from jlcompose.core.lockfile import LOCK_NAME
from jlcompose.core.reqfile import EditPlan, plan_edit
from jlcompose.errors import InstallFailed
from jlcompose.files import atomic_write, locked
from jlcompose.state import State, StateDir

Say = Callable[[str, str], None]  # (kind: step | ok | info | warn, text)
Install = Callable[[list[str]], None]  # installs these lines in the running lab, or InstallFailed


def lock_file(state: StateDir, service: str) -> Path:
    """Held around every read-modify-write of a service's requirements file (pipreq, watch, agent)."""
    return state.lock_file(f"requirements-{service}")


def apply(
    requirements: Path,
    reqs: Sequence[Requirement],
    *,
    state: StateDir,
    service: str,
    shown_as: str,
    install: Install | None,
    say: Say,
    unpin: Sequence[str] = (),
    relock: Callable[[], None] | None = None,
) -> EditPlan:
    """Edit one requirements file (installing first when `install` is given); the plan carried out.

    `unpin`: pins of the image's constraint file that `install` must ignore; once the
    install worked they are kept in the project's config, so builds drop them too.
    `relock`: after an install and the write, lock the service again (when it has a lock).
    """
    with locked(lock_file(state, service), what=shown_as):
        # planned again under the lock: another pipreq may have written since
        plan = plan_edit(requirements, reqs)
        for line in plan.present:
            say("ok", f"{line} is already in {shown_as}")
        if not plan.changed:
            if unpin:
                keep_unpinned(state.path.parent, unpin, say)
            return plan
        if install is not None:
            say("step", f"installing {', '.join(plan.changed)} in the running {service} lab")
            try:
                install(plan.changed)
            except InstallFailed:
                say("info", f"{shown_as} was left unchanged.")
                raise
        atomic_write(requirements.resolve(), plan.new.encode("utf-8"))
        if unpin:
            keep_unpinned(state.path.parent, unpin, say)
        if install is not None:
            remember_installed(state, service, plan.changed, applied=plan.new)
            if relock is not None and (requirements.parent / LOCK_NAME).is_file():
                relock()
    return plan


def keep_unpinned(root: Path, names: Sequence[str], say: Say) -> None:
    """Add `names` to `unpin` in the project's config (jlcompose.toml or [tool.jlcompose])."""
    path, table = unpin_target(root)
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    new = with_unpin(old, names, table=table)
    if new != old:
        atomic_write(path, new.encode("utf-8"))
        where = f"[{table}]" if table else path.name
        say("ok", f"{path.name}: unpin {', '.join(names)} (the next build drops the pin; {where})")


def remember_installed(state: StateDir, service: str, requirements: Sequence[str], *, applied: str) -> None:
    """Record packages installed live, and the requirements text the running lab now answers to."""
    new = {_name(r): r for r in requirements}

    def change(s: State) -> None:
        entry = s.service(service)
        kept = [r for r in entry.hot_installed if _name(r) not in new]
        entry.hot_installed = kept + list(new.values())
        entry.removed = [n for n in entry.removed if n not in new]  # removed once, listed again
        entry.applied = applied

    state.update(change)


def remember_needs_build(state: StateDir, service: str, removed: Sequence[str], *, applied: str) -> None:
    """Record that the running lab differs from its file in ways only a build fixes."""
    gone = set(removed)

    def change(s: State) -> None:
        entry = s.service(service)
        entry.removed = sorted(set(entry.removed) | gone)
        entry.hot_installed = [r for r in entry.hot_installed if _name(r) not in gone]
        entry.applied = applied

    state.update(change)


def _name(requirement: str) -> str:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return requirement
