"""One side of a sync: the project's files under a root, their versions, and safe changes to them.

Used on both sides: by `jlcompose sync` on the laptop and by the sync server in the lab
(inlab/sync.py). A file's version is its sha256 (and its executable bit), computed once per
(size, mtime, inode, mode) so a scan of an unchanged tree only stats. Every change checks that
the file is still the version the caller saw, so an edit made meanwhile is never overwritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

from jlcompose.core.syncplan import MAX_BYTES, SETTLE_S, included, version
from jlcompose.files import atomic_write, ensure_dir

_StatKey = tuple[int, int, int, int]


def _key(st: os.stat_result) -> _StatKey:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode)


def checked(rel: str) -> str:
    """A relative path from the other side, refused unless it stays inside the root."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in rel:
        raise ValueError(f"not a path inside the project: {rel!r}")
    return rel


class Tree:
    def __init__(self, root: Path, patterns: Iterable[str] = ()) -> None:
        self.root = root
        self.patterns = tuple(patterns)
        self._cache: dict[str, tuple[_StatKey, str]] = {}
        self.unknown: set[str] = set()  # too big, unreadable or just written at the last scan: left alone
        self.recent: set[str] = set()  # of those, the ones just written
        self._settled = 0.0

    def scan(self) -> dict[str, str]:
        """Every synced file: relative path -> version."""
        found: dict[str, str] = {}
        self.unknown = set()
        self.recent = set()
        self._settled = time.time() - SETTLE_S
        self._walk(self.root, "", found)
        for gone in set(self._cache) - set(found) - self.unknown:
            del self._cache[gone]
        return found

    def _walk(self, folder: Path, prefix: str, found: dict[str, str]) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            if prefix:
                self.unknown.add(prefix.rstrip("/"))
            return
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_symlink():
                    continue  # links are not followed: they may point anywhere on this machine
                if entry.is_dir():
                    if included(rel, is_dir=True, patterns=self.patterns):
                        self._walk(Path(entry.path), rel + "/", found)
                    continue
                if not entry.is_file() or not included(rel, patterns=self.patterns):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_size > MAX_BYTES:
                self.unknown.add(rel)
                continue
            if st.st_mtime > self._settled:  # maybe still being written: the next round takes it
                self.unknown.add(rel)
                self.recent.add(rel)
                continue
            ver = self._version(rel, Path(entry.path), st)
            if ver is None:
                self.unknown.add(rel)
            else:
                found[rel] = ver

    def _version(self, rel: str, path: Path, st: os.stat_result) -> str | None:
        key = _key(st)
        cached = self._cache.get(rel)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return None
        ver = version(digest, bool(st.st_mode & 0o100))
        self._cache[rel] = (key, ver)
        return ver

    def current(self, rel: str) -> str | None:
        """The file's version now (None when it does not exist)."""
        path = self.root / checked(rel)
        try:
            st = path.stat(follow_symlinks=False)
        except FileNotFoundError:
            return None
        return self._version(rel, path, st)

    def read(self, rel: str) -> tuple[bytes, str] | None:
        """(content, version), or None when the file is gone."""
        path = self.root / checked(rel)
        try:
            data = path.read_bytes()
            st = path.stat()
        except (FileNotFoundError, IsADirectoryError):
            return None
        return data, version(hashlib.sha256(data).hexdigest(), bool(st.st_mode & 0o100))

    def _inside(self, rel: str) -> Path | None:
        """root/rel; None when a folder on the way is a link that leads out of the root."""
        path = self.root / checked(rel)
        base, folder = self.root.resolve(), path.parent.resolve()
        return path if folder == base or base in folder.parents else None

    def _still(self, rel: str, expect: str | None) -> tuple[Path | None, str]:
        """The path to change if it is inside the project and still `expect`; else None and why not."""
        path = self._inside(rel)
        if path is None:
            return None, "refused: a symbolic link on the way leads out of the project"
        now = self.current(rel)
        if now != expect:
            return None, now or "absent"
        return path, ""

    def write(self, rel: str, data: bytes, ver: str, *, expect: str | None) -> str | None:
        """Write the file if it still is `expect` (None: absent); None on success, else what it is."""
        path, refused = self._still(rel, expect)
        if path is None:
            return refused
        ensure_dir(path.parent)
        atomic_write(path, data, mode=0o755 if ver.endswith("+x") else 0o644)
        with contextlib.suppress(OSError):
            self._cache[rel] = (_key(path.stat()), ver)
        return None

    def remove(self, rel: str, *, expect: str | None) -> str | None:
        """Delete the file if it still is `expect`; None on success, else what it is."""
        path, refused = self._still(rel, expect)
        if path is None:
            return refused
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._cache.pop(rel, None)
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()  # only empty folders: the last file of a deleted folder went
            except OSError:
                break
            parent = parent.parent
        return None
