"""`jlcompose lock`: write docker_files/SERVICE/requirements.lock from what the running lab has.

The lab itself is asked (inlab/lock.py through `docker exec`, so a remote lab answers the
same way): its `pip freeze`, less what the image's pip constraint file pins already. The
lock's header names the requirements it was made from; `up` builds from it while they match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from jlcompose import console
from jlcompose.core import lockfile
from jlcompose.engine.api import Engine, Stack
from jlcompose.errors import JlcomposeError
from jlcompose.files import atomic_write
from jlcompose.inlab.lock import PREFIX
from jlcompose.project import Project, Service

LIB = "/opt/jlcompose/lab/lib"
ARGV = ("env", f"PYTHONPATH={LIB}", "PYTHONDONTWRITEBYTECODE=1", "python3", "-m", "jlcompose.inlab.lock")


def lock_path(service: Service) -> Path:
    return service.folder / lockfile.LOCK_NAME


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _ask(
    engine: Engine, stack: Stack, service: Service, requirements_text: str, *, hashes: bool
) -> tuple[lockfile.Frozen, list[str]]:
    """What the lab has: (the pins a lock keeps, the same with hashes when asked)."""
    options = lockfile.index_options(requirements_text)
    argv = [*ARGV, *(["--hashes"] if hashes else []), *(a for o in options for a in ("--option", o))]
    lines: list[str] = []
    rc = engine.exec(stack, service.name, argv, user="0", on_line=lines.append)
    found = next((ln[len(PREFIX) :] for ln in reversed(lines) if ln.startswith(PREFIX)), None)
    answer = json.loads(found) if found else {}
    if rc != 0 or not isinstance(answer, dict) or "kept" not in answer:
        if any("No module named jlcompose.inlab.lock" in ln for ln in lines):
            raise JlcomposeError(
                f"the {service.name} lab's image is older than `jlcompose lock`.",
                hint=f"rebuild it: jlcompose up --recreate {service.name}",
            )
        why = answer.get("error") if isinstance(answer, dict) else None
        raise JlcomposeError(
            f"reading what the {service.name} lab has installed failed: {why or f'exit {rc}'}.",
            detail="\n".join(lines[-10:]) or None,
        )
    pinned = answer.get("pinned_by_image", 0)
    frozen = lockfile.Frozen(
        kept=_strings(answer["kept"]),
        pinned_by_image=pinned if isinstance(pinned, int) else 0,
        skipped=_strings(answer.get("skipped")),
    )
    return frozen, list(_strings(answer.get("hashed")))


def write_lock(project: Project, engine: Engine, stack: Stack, service: Service, *, hashes: bool) -> str:
    """Lock one running lab; what was written, in words."""
    text = service.requirements.read_text(encoding="utf-8")
    frozen, hashed = _ask(engine, stack, service, text, hashes=hashes)
    atomic_write(lock_path(service), lockfile.render(frozen, text, hashed=hashed).encode())
    how = " with hashes" if hashed else ""
    left = (
        f"; the image's constraint file pins {frozen.pinned_by_image} more" if frozen.pinned_by_image else ""
    )
    where = project.relative(lock_path(service))
    return f"{where}: {len(frozen.kept)} packages at their exact versions{how}{left}"


def relock(project: Project, engine: Engine, stack: Stack, service: Service) -> None:
    """After pipreq changed a locked service's requirements: lock it again (hashes if it had them)."""
    path = lock_path(service)
    if path.is_file():
        done = write_lock(
            project, engine, stack, service, hashes="--hash=" in path.read_text(encoding="utf-8")
        )
        console.ok(f"locked again: {done}")


def lock(project: Project, engine: Engine, names: Sequence[str], *, hashes: bool) -> int:
    stack = project.stack(cpu=False)
    for service in project.pick(names):
        console.step(f"reading what the running {service.name} lab has installed ...")
        console.ok(write_lock(project, engine, stack, service, hashes=hashes))
        console.info(f"`jlcompose up {service.name}` builds from it while requirements.txt stays as it is.")
    return 0
