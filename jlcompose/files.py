"""Safe file writes: temporary file + fsync + rename, under an inter-process lock."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from jlcompose.errors import JlcomposeError


def atomic_write(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def locked(lock_path: Path, *, timeout: float = 120.0, what: str = "this project") -> Iterator[None]:
    """Serialize read-modify-write cycles between jlcompose processes (pipreq, watch, up)."""
    from filelock import FileLock, Timeout  # here, not at the top: `up` with nothing to do never locks

    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=timeout):
            yield
    except Timeout:
        raise JlcomposeError(
            f"another jlcompose process has held the lock on {what} for {timeout:.0f} s.",
            hint=f"wait for it to finish, or remove {lock_path} if no jlcompose runs.",
        ) from None
