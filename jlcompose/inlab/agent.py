"""The lab's install agent: root, beside JupyterLab, serving installs on a Unix socket.

Started by docker_files/lab/launch.py when the container starts (as root, before JupyterLab
drops to your user). The CLI, the watcher and %pipreq in a notebook ask it through
/workspace/.jlcompose/agent/SERVICE.sock (protocol.py): installs run one at a time with the
image's own Python, uv from a warm cache, and the same requirement editing as the CLI.
It accepts PEP 508 requirements only (core/pkgargs.py), never installer options.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from jlcompose.core import lockfile
from jlcompose.core.config import load_config
from jlcompose.core.pipfailure import explain_failure
from jlcompose.core.pkgargs import validate_argument
from jlcompose.core.reqfile import describe, facts
from jlcompose.errors import JlcomposeError, RequirementError
from jlcompose.files import ensure_dir
from jlcompose.inlab import install as installer
from jlcompose.inlab import lock, pipreq, protocol
from jlcompose.state import StateDir

Send = Callable[[dict[str, Any]], None]


class Agent:
    def __init__(self, root: Path, service: str, uid: int, gid: int) -> None:
        self.root = root
        self.service = service
        self.uid, self.gid = uid, gid
        self.state = StateDir(root / ".jlcompose")
        self.one_at_a_time = threading.Lock()  # two installers in one site-packages corrupt it
        self.installer = "uv" if installer.find_uv() else "pip"

    # -- requests -------------------------------------------------------------------------
    def handle(self, request: dict[str, Any], send: Send) -> None:
        op = request.get("op")
        try:
            if op == "ping":
                send({"done": 0, "service": self.service, "installer": self.installer, "pid": os.getpid()})
            elif op == "install":
                unpin = _names(request.get("unpin"))
                send({"done": self._install(_strings(request.get("requirements")), send, unpin)})
            elif op == "pipreq":
                result = self._pipreq(_strings(request.get("packages")), send, _names(request.get("unpin")))
                send({"done": 0, "result": result})
            else:
                raise JlcomposeError(f"the install agent does not know the request {op!r}.")
        except JlcomposeError as exc:
            send(exc.to_json())

    def _run(self, requirements: list[str], send: Send, unpin: list[str]) -> tuple[int, list[str]]:
        lines: list[str] = []

        def feed(line: str) -> None:
            lines.append(line)
            send({"line": line})

        with self.one_at_a_time:
            started = time.monotonic()
            rc, used = installer.install_and_unpin(requirements, feed, unpin)
            log(f"{used} install {' '.join(requirements)}: exit {rc} in {time.monotonic() - started:.2f} s")
        return rc, lines

    def _install(self, requirements: list[str], send: Send, unpin: list[str]) -> int:
        for arg in requirements:
            validate_argument(arg)  # RequirementError: refused, nothing run
        return self._run(requirements, send, unpin)[0]

    def _pipreq(self, packages: list[str], send: Send, unpin: list[str]) -> dict[str, Any]:
        """pipreq done in the lab; what it did, as `pipreq --json` prints it."""
        reqs = []
        errors: list[RequirementError] = []
        for arg in packages:
            try:
                reqs.append(validate_argument(arg))
            except RequirementError as exc:
                errors.append(exc)
        for earlier in errors[:-1]:
            send({"say": "error", "text": earlier.message})
        if errors:
            raise errors[-1]
        config = load_config(self.root, {})
        path = self.root / config.docker_files / self.service / "requirements.txt"
        shown = path.relative_to(self.root).as_posix()

        def install(lines: list[str]) -> None:
            rc, output = self._run(lines, send, unpin)
            if rc != 0:
                raise explain_failure(
                    self.service, lines, output, rc, dockerfile=str(config.docker_files / "Dockerfile")
                )

        def say(kind: str, text: str) -> None:
            send({"say": kind, "text": text})

        def relock() -> None:
            try:
                frozen = lock.write(path)  # the lab asks itself: no Docker call
            except (RuntimeError, OSError) as exc:  # installed and saved: only the lock lags
                say("warn", f"could not lock again ({exc}); the next `up` builds from requirements.txt")
                return
            if frozen is not None:
                where = (path.parent / lockfile.LOCK_NAME).relative_to(self.root).as_posix()
                say("ok", f"locked again: {where}: {len(frozen.kept)} packages at their exact versions")

        plan = pipreq.apply(
            path,
            reqs,
            state=self.state,
            service=self.service,
            shown_as=shown,
            install=install,
            say=say,
            unpin=unpin,
            relock=relock,
        )
        if plan.changed:
            say(
                "ok",
                f"installed {', '.join(plan.changed)} in the {self.service} lab; {shown}: {describe(plan)}",
            )
            say("info", f"The image gets it at the next `jlcompose up {self.service}`.")
        return {
            "service": self.service,
            "requirements": shown,
            **facts(plan),
            "installed": bool(plan.changed),
            "lab_running": True,
        }

    # -- the socket -----------------------------------------------------------------------
    def serve(self, *, ready: threading.Event | None = None, stop: threading.Event | None = None) -> None:
        """Answer requests until `stop` is set (tests) or the container stops."""
        path = protocol.socket_path(self.state.path, self.service)
        ensure_dir(path.parent)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a previous container's socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(path))
            if os.geteuid() == 0:
                os.chown(path, self.uid, self.gid)
            os.chmod(path, 0o600)  # you, and the lab's kernels (which run as you), may ask
            server.listen(16)
            server.settimeout(0.2 if stop is not None else None)
            log(f"serving {path} ({self.installer})")
            if ready is not None:
                ready.set()
            while stop is None or not stop.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                conn.settimeout(None)
                threading.Thread(target=self._connection, args=(conn,), daemon=True).start()
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def _connection(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            lock = threading.Lock()

            def send(message: dict[str, Any]) -> None:
                with lock, contextlib.suppress(OSError):  # the client may have gone (Ctrl-C)
                    conn.sendall(protocol.encode(message))

            raw = reader.readline(protocol.MAX_LINE)
            try:
                request = json.loads(raw)
            except ValueError:
                return
            if isinstance(request, dict):
                try:
                    self.handle(request, send)
                except Exception as exc:  # never take the agent down with one request
                    log(f"request failed: {type(exc).__name__}: {exc}")
                    send(
                        {"error": {"type": "JlcomposeError", "message": f"the install agent failed: {exc}."}}
                    )


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or not value:
        raise RequirementError("the request names no requirements.")
    return list(value)


def _names(value: Any) -> list[str]:
    """Package names to unpin: each checked like a requirement (a bare name passes)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RequirementError("`unpin` must be a list of package names.")
    for name in value:
        if validate_argument(name).specifier or "[" in name:
            raise RequirementError(f"{name!r} is not a package name (unpin takes names only).")
    return list(value)


def log(text: str) -> None:
    sys.stderr.write(f"jlcompose-agent: {text}\n")
    sys.stderr.flush()


def main() -> int:
    service = os.environ.get("JLC_SERVICE", "")
    if not service:
        log("JLC_SERVICE is not set; not starting")
        return 1
    root = Path(os.environ.get("JLC_PROJECT_DIR", "/workspace"))
    agent = Agent(
        root, service, int(os.environ.get("JLC_UID", "1000")), int(os.environ.get("JLC_GID", "1000"))
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):
            protocol.socket_path(agent.state.path, service).unlink()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        agent.serve()
    except OSError as exc:  # e.g. a read-only project folder: the lab works without the agent
        log(f"not serving: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
