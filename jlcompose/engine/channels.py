"""Long-lived docker and ssh processes: a piped `exec -i` / `compose run -T`, and an `ssh -L` tunnel.

python-on-whales runs a command to its end (or streams its output); a sync session needs a
process it can write to and read from for as long as the lab runs, and the port forward needs
one that simply stays. Both are plain child processes started with the argv python-on-whales
builds (the docker ones) or the OpenSSH client the docker CLI itself uses for ssh:// (the
tunnel), logged at -v like every other command, and stopped by their PID.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Mapping, Sequence

from jlcompose.core.endpoint import Endpoint
from jlcompose.engine import translate
from jlcompose.engine.runner import docker_missing, log, shown
from jlcompose.errors import EngineError

STOP_WAIT_S = 5.0
# the tunnel gets its own connection (never a ControlMaster's: a forward added to a master
# outlives the process that asked for it) and fails rather than prompts or half-works
SSH_OPTIONS = (
    "-N",
    "-T",
    "-o",
    "BatchMode=yes",
    "-o",
    "ExitOnForwardFailure=yes",
    "-o",
    "ServerAliveInterval=15",
    "-o",
    "ServerAliveCountMax=3",
    "-o",
    "ControlMaster=no",
    "-o",
    "ControlPath=none",
)


class _Stderr:
    """The last lines a child wrote to stderr, read by a thread so it never blocks on a full pipe."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        for raw in proc.stderr:
            self.lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
            del self.lines[:-20]

    def text(self) -> str:
        self._thread.join(timeout=1.0)
        return "\n".join(self.lines)


def _ssh_missing() -> EngineError:
    return EngineError(
        "the `ssh` command (the OpenSSH client) was not found on PATH.",
        hint="install it (Debian and Ubuntu: `sudo apt-get install openssh-client`).",
    )


def _start(cmd: Sequence[str], env: Mapping[str, str] | None, *, stdin: bool) -> subprocess.Popen[bytes]:
    log.debug("Running command: %s", shown(list(cmd)))
    try:
        return subprocess.Popen(  # noqa: S603 - argv built by python-on-whales / fixed ssh options
            list(cmd),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            start_new_session=True,  # Ctrl-C in the terminal reaches jlcompose, which stops these itself
        )
    except FileNotFoundError:
        raise (_ssh_missing() if cmd[0] == "ssh" else docker_missing()) from None


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)


class ProcessChannel:
    """A Channel over a child process's stdin and stdout."""

    def __init__(self, cmd: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self._proc = _start(cmd, env, stdin=True)
        self._stderr = _Stderr(self._proc)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def send(self, data: bytes) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._gone() from None

    def receive(self) -> bytes:
        assert self._proc.stdout is not None
        try:
            return self._proc.stdout.readline()
        except ValueError:  # closed
            return b""

    def close(self) -> int:
        with contextlib.suppress(OSError, ValueError):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            pass
        rc = _stop(self._proc)
        with contextlib.suppress(OSError, ValueError):
            assert self._proc.stdout is not None
            self._proc.stdout.close()
        return rc

    def reason(self) -> str:
        return self._stderr.text()

    def _gone(self) -> EngineError:
        text = self.reason()
        return translate.engine_gone(text) or EngineError(
            "the lab's sync process ended.", detail=translate.tail(text, 5) or None
        )


class SshTunnel:
    """`ssh -N -L bind:port:127.0.0.1:remote_port` to the engine's host: a Tunnel."""

    def __init__(self, endpoint: Endpoint, bind: str, port: int, remote_port: int) -> None:
        self.endpoint = endpoint
        spec = f"{bind}:{port}:127.0.0.1:{remote_port}"
        self._proc = _start(["ssh", *SSH_OPTIONS, "-L", spec, *endpoint.ssh_args()], None, stdin=False)
        self._stderr = _Stderr(self._proc)
        self.pid: int | None = self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        _stop(self._proc)

    def reason(self) -> str:
        text = self._stderr.text()
        failed = translate.ssh_failure(text, host=self.endpoint.host)
        return failed.message if failed is not None else translate.tail(text, 3)
