"""Safe file writes (temporary file + fsync + rename) and an inter-process lock.

Both run on the host and inside the labs (the project folder is the same files there): the
lock is a plain flock(2), which holds across the bind mount because host and container share
one kernel, and a root process (the lab's install agent, or jlcompose under sudo) gives what
it writes to the owner of the folder, so nothing in the project becomes root's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from jlcompose.errors import JlcomposeError

LOCK_POLL_S = 0.02


def _owner_for(path: Path) -> tuple[int, int] | None:
    """Whom a file written by root should belong to: its old owner, else its folder's."""
    if os.geteuid() != 0:
        return None
    for candidate in (path, path.parent):
        try:
            st = candidate.stat()
        except FileNotFoundError:
            continue
        return (st.st_uid, st.st_gid)
    return None


def _give(fd_or_path: int | str, owner: tuple[int, int] | None) -> None:
    if owner is not None and owner != (0, 0):
        with contextlib.suppress(OSError):  # e.g. a file system that refuses chown (root-squash)
            os.chown(fd_or_path, *owner)


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never half of one."""
    ensure_dir(path.parent)
    owner = _owner_for(path)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        _give(tmp, owner)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def ensure_dir(path: Path) -> None:
    """mkdir -p that gives folders made by root to the owner of the folder above."""
    if path.is_dir():
        return
    ensure_dir(path.parent)
    owner = _owner_for(path)
    with contextlib.suppress(FileExistsError):  # two processes may make it at once
        path.mkdir()
        _give(str(path), owner)


def _open_lock(lock_path: Path) -> int:
    ensure_dir(lock_path.parent)
    owner = _owner_for(lock_path)
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:  # someone else's lock file: flock needs no write access
        return os.open(lock_path, os.O_RDONLY)
    _give(fd, owner)
    return fd


@contextlib.contextmanager
def locked(lock_path: Path, *, timeout: float = 120.0, what: str = "this project") -> Iterator[None]:
    """Serialize read-modify-write cycles between processes (pipreq, watch, up, the lab's agent)."""
    fd = _open_lock(lock_path)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise JlcomposeError(
                        f"another jlcompose process has held the lock on {what} for {timeout:.0f} s.",
                        hint=f"wait for it to finish, or remove {lock_path} if no jlcompose runs.",
                    ) from None
                time.sleep(LOCK_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
