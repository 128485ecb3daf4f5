"""A laptop and a GPU server on one machine: an sshd on 127.0.0.1 and a client that cannot share files.

The server side is this machine's Docker engine, reached over SSH (scripts/sshd.sh, which
scripts/test starts and stops; started here when pytest runs on its own). The client side
runs in a mount namespace of its own, with the project on a tmpfs only it sees: the daemon
finds an empty folder at that path, exactly as a real server would, so a bind mount of the
project shows the lab nothing and a test that relied on one fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO


@dataclass(frozen=True)
class SshHost:
    url: str  # DOCKER_HOST=ssh://root@127.0.0.1:PORT
    path: str  # PATH entry whose `ssh` uses the test's keys and known_hosts


def _parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


@pytest.fixture(scope="session")
def ssh_host() -> Iterator[SshHost]:
    if os.environ.get("JLC_TEST_SSH_HOST") and os.environ.get("JLC_TEST_SSH_PATH"):
        yield SshHost(os.environ["JLC_TEST_SSH_HOST"], os.environ["JLC_TEST_SSH_PATH"])
        return
    if os.geteuid() != 0:
        pytest.skip("the sshd of the remote-engine tests needs root (CI runs the suite as root)")
    started = subprocess.run(
        ["bash", str(REPO / "scripts/sshd.sh"), "up"], capture_output=True, text=True, timeout=300
    )
    assert started.returncode == 0, started.stderr
    found = _parse(started.stdout)
    try:
        yield SshHost(found["JLC_TEST_SSH_HOST"], found["JLC_TEST_SSH_PATH"])
    finally:
        subprocess.run(["bash", str(REPO / "scripts/sshd.sh"), "stop"], capture_output=True, timeout=60)


class Client:
    """Commands and files on the client side: its own mount namespace, the project on a tmpfs."""

    def __init__(self, folder: Path, host: SshHost) -> None:
        self.folder = folder
        self.host = host
        folder.mkdir(parents=True)
        # the namespace lives as long as this process; every client command joins it
        self._holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sleep", "3600"], stdin=subprocess.DEVNULL
        )
        self.run_here("mount", "-t", "tmpfs", "-o", "mode=0755", "jlcompose-client", str(folder))

    @property
    def pid(self) -> int:
        return self._holder.pid

    def view(self, path: Path) -> Path:
        """The client's file at `path`, as seen from here (through its namespace's root)."""
        return Path(f"/proc/{self.pid}/root") / path.relative_to("/")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_CONTEXT", "JLCOMPOSE_PROJECT_NAME")}
        return {**env, "DOCKER_HOST": self.host.url, "PATH": f"{self.host.path}:{env['PATH']}"}

    def run_here(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-m", "--", *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
        )
        assert done.returncode == 0, done.stderr
        return done

    def jlcompose(self, *args: str, project: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """`jlcompose -C project ARGS` on the client, with DOCKER_HOST=ssh://... set."""
        return subprocess.run(
            [
                "nsenter",
                "-t",
                str(self.pid),
                "-m",
                "--",
                sys.executable,
                "-m",
                "jlcompose",
                "-C",
                str(project),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=self.env(),
        )

    def close(self) -> None:
        self._holder.terminate()
        self._holder.wait(10)


@pytest.fixture
def client(tmp_path: Path, ssh_host: SshHost) -> Iterator[Client]:
    made = Client(tmp_path / "laptop", ssh_host)
    try:
        yield made
    finally:
        made.close()
