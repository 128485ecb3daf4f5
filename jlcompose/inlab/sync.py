"""The lab's side of a sync: `python3 -m jlcompose.inlab.sync` serves one laptop over stdin/stdout.

Started by jlcompose on a remote engine through `docker exec -i` (the running lab) or `docker
compose run -T` (before the lab starts), as root: it gives a fresh volume's root to the lab user
(JLC_UID:JLC_GID) and then runs as that user, so everything it writes is the lab user's.
One JSON object per line each way; file contents travel base64-encoded:

    {"op": "hello", "patterns": [...]}     -> {"ok": 1, "volume": ID}
    {"op": "scan"}                         -> {"changed": {path: version}, "gone": [...],
                                               "unknown": [...], "recent": [...]}
    {"op": "get", "path": P}               -> {"data": B64, "version": V} | {"missing": true}
    {"op": "put", "path": P, "data": B64, "version": V, "expect": V0 | null}
                                           -> {"ok": true} | {"conflict": V1}
    {"op": "rm", "path": P, "expect": V0}  -> {"ok": true} | {"conflict": V1}

`scan` answers with what changed since the last answer (the first one: everything), so a
round over a quiet project costs one short line each way.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from jlcompose.inlab.synctree import Tree

PROTOCOL = 1
VOLUME_ID = ".jlcompose/sync-volume"  # names this volume: a new volume is never taken for an old one


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tree = Tree(root)
        self.reported: dict[str, str] = {}

    def volume_id(self) -> str:
        path = self.root / VOLUME_ID
        try:
            return path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)
            made = uuid.uuid4().hex
            path.write_text(made + "\n", encoding="utf-8")
            return made

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "hello":
            self.tree = Tree(self.root, [str(p) for p in request.get("patterns") or []])
            self.reported = {}
            return {"ok": PROTOCOL, "volume": self.volume_id()}
        if op == "scan":
            now = self.tree.scan()
            changed = {p: v for p, v in now.items() if self.reported.get(p) != v}
            gone = sorted(set(self.reported) - set(now) - self.tree.unknown)
            self.reported = now
            unknown, recent = sorted(self.tree.unknown), sorted(self.tree.recent)
            return {"changed": changed, "gone": gone, "unknown": unknown, "recent": recent}
        path = str(request.get("path", ""))
        if op == "get":
            found = self.tree.read(path)
            if found is None:
                return {"missing": True}
            data, ver = found
            return {"data": base64.b64encode(data).decode(), "version": ver}
        expect = request.get("expect")
        if op == "put":
            ver = str(request["version"])
            data = base64.b64decode(str(request["data"]))
            other = self.tree.write(path, data, ver, expect=expect)
            if other is None:
                self.reported[path] = ver
            return {"ok": True} if other is None else {"conflict": other}
        if op == "rm":
            other = self.tree.remove(path, expect=expect)
            if other is None:
                self.reported.pop(path, None)
            return {"ok": True} if other is None else {"conflict": other}
        return {"error": f"unknown request {op!r}"}


def serve(root: Path, read: Callable[[], bytes], out: IO[bytes]) -> None:
    """Answer requests until the other side closes its end."""
    server = Server(root)
    while raw := read():
        try:
            request = json.loads(raw)
            answer = server.handle(request) if isinstance(request, dict) else {"error": "not an object"}
        except (ValueError, KeyError, OSError) as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(answer, separators=(",", ":")).encode() + b"\n")
        out.flush()


def become_lab_user(root: Path) -> None:
    """As root: hand a fresh volume's root to the lab user, then be that user."""
    if os.geteuid() != 0:
        return
    uid = int(os.environ.get("JLC_UID", "1000") or 1000)
    gid = int(os.environ.get("JLC_GID", "1000") or 1000)
    if root.stat().st_uid == 0 and uid != 0:
        os.chown(root, uid, gid)
    if uid != 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "/workspace")
    root.mkdir(parents=True, exist_ok=True)
    become_lab_user(root)
    os.umask(0o022)
    serve(root, sys.stdin.buffer.readline, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
