"""A lab on a remote engine over SSH, for real: the client's folder is invisible to the daemon.

The client (jlcompose, the docker CLI, ssh) runs in its own mount namespace with the project
on a tmpfs; the engine is this machine's, reached through a real sshd (tests/integration/
conftest.py). The lab must get the project through its volume and the sync, the URL must
answer on the client's loopback through the SSH forward, and what the lab writes must come
back to the client's folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import LAB_BASE, copy_template, ensure_lab_base, free_port
from tests.integration.conftest import Client

pytestmark = pytest.mark.docker

NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _status(url: str, token: str | None) -> int | None:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (urllib.error.URLError, OSError):
        return None


def _until(check: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until check() held, or None if it never did within timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def _docker(*argv: str) -> subprocess.CompletedProcess[str]:
    """The engine seen from the server's side (this machine's own mount namespace)."""
    return subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=120)


def _lab(name: str) -> str:
    ids = _docker("ps", "-q", "--filter", f"label=com.docker.compose.project={name}").stdout.split()
    assert len(ids) == 1, ids
    return ids[0]


def _six(cid: str) -> str:
    return _docker("exec", cid, "python3", "-c", "import six; print(six.__version__)").stdout.strip()


def _in_lab(cid: str, path: str) -> str | None:
    done = _docker("exec", cid, "cat", path)
    return done.stdout if done.returncode == 0 else None


@pytest.fixture
def remote_project(client: Client, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    ensure_lab_base()
    name = f"jlcr{uuid.uuid4().hex[:8]}"
    staging = copy_template(tmp_path / "staging")
    (staging / ".env").write_text(
        f"JLC_PROJECT={name}\nJLC_TORCH_BASE={LAB_BASE}\nJLC_TF_BASE={LAB_BASE}\n"
        f"JLC_TORCH_PORT={free_port()}\nJLC_TF_PORT={free_port()}\nJLC_SHM_SIZE=256m\n"
    )
    (staging / "notes.md").write_text("written on the laptop\n")
    root = client.folder / "proj"
    client.run_here("cp", "-a", str(staging), str(root))
    shutil.rmtree(staging)
    try:
        yield root, name
    finally:
        client.jlcompose("down", project=root, timeout=300)
        for c in _docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={name}").stdout.split():
            _docker("rm", "-f", c)
        for volume in ("workspace", "cache", "uv-cache"):
            _docker("volume", "rm", "-f", f"{name}_{volume}")
        images = _docker(
            "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"jlcompose/{name}-*"
        ).stdout.split()
        if images:
            _docker("image", "rm", "-f", *images)


def test_a_lab_over_ssh_gets_the_project_through_its_volume_and_gives_back_what_it_writes(
    client: Client, remote_project: tuple[Path, str]
) -> None:
    root, name = remote_project
    here = client.view(root)
    # the set-up itself: the daemon's side of the client's folder is empty, so a bind mount
    # of the project would show the lab nothing
    assert (here / "notes.md").is_file()
    seen = _docker("run", "--rm", "-v", f"{root}:/w", LAB_BASE, "ls", "-A", "/w")
    assert seen.returncode == 0 and seen.stdout.strip() == "", seen

    up = client.jlcompose("up", "torch", project=root)
    assert up.returncode == 0, up.stderr
    assert f"remote Docker engine {client.host.url}" in up.stderr
    url = up.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:") and "/lab?token=" in url
    base, token = url.split("/lab?token=")
    local_port = int(base.rsplit(":", 1)[1])
    cid = _lab(name)
    published = json.loads(_docker("inspect", cid).stdout)[0]["NetworkSettings"]["Ports"]["8888/tcp"]
    server_port = int(published[0]["HostPort"])
    # the URL is the forward's local end, not the port Docker published on the server
    assert server_port != local_port and published[0]["HostIp"] == "127.0.0.1"
    assert _status(f"{base}/api/status", token) == 200
    assert _status(f"{base}/api/status", None) == 403
    # the lab works on the project: the volume was filled before it started
    assert _in_lab(cid, "/workspace/notes.md") == "written on the laptop\n"
    mounts = json.loads(_docker("inspect", cid).stdout)[0]["Mounts"]
    workspace = next(m for m in mounts if m["Destination"] == "/workspace")
    assert (workspace["Type"], workspace["Name"]) == ("volume", f"{name}_workspace")

    # a notebook saved in the lab (through JupyterLab's own API, over the forward) comes back
    body = json.dumps({"type": "notebook", "content": NOTEBOOK}).encode()
    request = urllib.request.Request(f"{base}/api/contents/made-in-lab.ipynb", data=body, method="PUT")
    request.add_header("Authorization", f"token {token}")
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 201
    back = _until((here / "made-in-lab.ipynb").is_file, 30)
    assert back is not None, (here / ".jlcompose/link.log").read_text()
    assert json.loads((here / "made-in-lab.ipynb").read_text())["nbformat"] == 4
    # and a file edited on the laptop reaches the lab
    (here / "from-laptop.py").write_text("print('hi')\n")
    there = _until(lambda: _in_lab(cid, "/workspace/from-laptop.py") == "print('hi')\n", 30)
    assert there is not None, (here / ".jlcompose/link.log").read_text()
    print(f"sync latency: lab -> laptop {back:.2f} s, laptop -> lab {there:.2f} s")

    # pipreq reaches the remote lab: through `docker exec` there (no agent socket crosses)
    added = client.jlcompose("-v", "pipreq", "six==1.16.0", project=root)
    assert added.returncode == 0, added.stderr
    assert "installed six==1.16.0 in the torch lab" in added.stderr
    assert f"exec --user 0 {cid}" in added.stderr
    assert (
        _docker("exec", cid, "python3", "-c", "import six; print(six.__version__)").stdout.strip() == "1.16.0"
    )
    assert (here / "docker_files/torch/requirements.txt").read_text().splitlines()[-1] == "six==1.16.0"
    assert _until(
        lambda: "six==1.16.0" in (_in_lab(cid, "/workspace/docker_files/torch/requirements.txt") or ""), 30
    )

    status = client.jlcompose("status", "--json", project=root)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["engine"]["remote"] is True and report["engine"]["url"] == client.host.url
    assert report["engine"]["link"]["state"] == "ready"
    torch = next(s for s in report["services"] if s["service"] == "torch")
    assert torch["url"] == url and torch["hot_installed"] == ["six==1.16.0"]
    logs = client.jlcompose("logs", "torch", project=root)
    assert logs.returncode == 0 and "ServerApp" in logs.stdout

    # watch: a requirement saved on the laptop is installed in the remote lab
    started = client.jlcompose("watch", "torch", "--detach", project=root, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        req = here / "docker_files/torch/requirements.txt"
        req.write_text(req.read_text().replace("six==1.16.0", "six==1.17.0"))
        assert _until(lambda: _six(cid) == "1.17.0", 90), (here / ".jlcompose/watch.log").read_text()
    finally:
        stopped = client.jlcompose("watch", "--stop", project=root, timeout=120)
    assert stopped.returncode == 0, stopped.stderr

    # a rebuild over SSH: a quick build (a line was added), a new container on a new server
    # port, the link follows it, and the lab's volume (the notebook) is still there
    again = client.jlcompose("up", "torch", "--recreate", project=root)
    assert again.returncode == 0, again.stderr
    assert "quick build" in again.stderr and again.stdout.strip().splitlines()[-1] == url
    new = _lab(name)
    assert new != cid and _six(new) == "1.17.0"
    assert _status(f"{base}/api/status", token) == 200
    assert _in_lab(new, "/workspace/made-in-lab.ipynb") is not None
    cid = new

    # down: the link's last round, then the lab goes; the forward with it
    down = client.jlcompose("down", project=root)
    assert down.returncode == 0, down.stderr
    assert "stopped torch" in down.stderr
    assert _docker("ps", "-q", "--filter", f"label=com.docker.compose.project={name}").stdout.strip() == ""
    assert _status(f"{base}/api/status", token) is None
    assert not (here / ".jlcompose/link.pid").exists()
    assert (here / "made-in-lab.ipynb").is_file()  # the laptop keeps what the lab wrote
