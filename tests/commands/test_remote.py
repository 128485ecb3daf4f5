"""A remote engine (ssh://) against FakeEngine: the volume instead of the bind, the link, pipreq by exec.

The fake's "volume" is a folder, and the sync server in it is the lab's real one
(inlab/sync.py) on a pipe; the link (lab/link.py) runs in a thread instead of a background
process, with the fake's forwards.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jlcompose import cli
from jlcompose.lab import down as down_module
from jlcompose.lab import link, remote
from jlcompose.lab import start as start_module
from jlcompose.lab.status import collect
from jlcompose.lab.up import up
from jlcompose.project import Project
from tests.commands.conftest import compose_config
from tests.fakes import FakeEngine

HOST = "ssh://me@gpu-box"


def _until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


class ThreadLink:
    """remote.start_link / stop_link, with link.follow in a thread of this process."""

    def __init__(self, project: Project, engine: FakeEngine) -> None:
        self.project, self.engine = project, engine
        self.stop_event = threading.Event()
        self.thread: threading.Thread | None = None
        self.starts = 0

    def start(self, project: Project) -> int:
        project.state.link_status.unlink(missing_ok=True)  # as link.spawn does: only the new one's report
        self.stop_event = threading.Event()
        self.thread = threading.Thread(
            target=link.follow,
            args=(project, self.engine),
            kwargs={"stop": self.stop_event, "interval": 0.02},
        )
        self.thread.start()
        self.starts += 1
        assert _until(lambda: (link.status(project) or {}).get("state") == "ready")
        return 4242

    def stop(self, project: Project) -> bool:
        if self.thread is None or not self.thread.is_alive():
            return False
        self.stop_event.set()
        self.thread.join(10)
        return True


@pytest.fixture
def engine(tmp_path: Path, project: Project) -> FakeEngine:
    config = compose_config()
    for svc in config["services"].values():  # the shipped stack's bind of the project folder
        svc["volumes"] = [{"type": "bind", "source": str(project.root), "target": "/workspace"}]
    return FakeEngine(compose_config=config, host=HOST, volume_root=tmp_path / "volumes")


@pytest.fixture
def linked(project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> Iterator[ThreadLink]:
    monkeypatch.setattr(start_module, "wait_ready", lambda *a, **k: True)
    monkeypatch.setattr(start_module, "port_in_use", lambda bind, port: False)
    monkeypatch.setattr(link, "port_in_use", lambda bind, port: True)  # the fake forwards "listen"
    monkeypatch.setattr(remote, "_announced", set())
    runner = ThreadLink(project, engine)
    monkeypatch.setattr(remote, "start_link", runner.start)
    monkeypatch.setattr(remote, "stop_link", runner.stop)
    yield runner
    runner.stop(project)


def _volume(engine: FakeEngine) -> Path:
    return engine.volume()


def test_up_fills_the_volume_before_the_start_and_prints_the_forwarded_url(
    project: Project, engine: FakeEngine, linked: ThreadLink, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.root / "analysis.py").write_text("print(1)\n")
    assert up(project, engine, ["torch"]) == 0
    out, err = capsys.readouterr()
    assert f"remote Docker engine {HOST}" in err
    names = [c[0] for c in engine.calls]
    # one round in a one-off container of the lab, before Compose starts it
    assert names.index("run_attached") < names.index("up")
    volume = _volume(engine)
    assert (volume / "analysis.py").read_text() == "print(1)\n"
    assert (volume / "docker_files/torch/requirements.txt").is_file()
    # jlcompose's own state and its copy of itself stay on each side
    assert not (volume / ".jlcompose/token").exists() and not (volume / "docker_files/lab/lib").exists()
    # Compose was given the override: the volume replaces the bind, the engine picks the port
    up_stack = next(s for s in engine.stacks[::-1] if project.state.remote_override in s.files)
    assert up_stack.files[-1] == project.state.remote_override
    text = project.state.remote_override.read_text()
    assert '"source": "workspace", "target": "/workspace", "volume": {"nocopy": true}' in text
    assert 'ports: !override\n      - {"target": 8888, "host_ip": "127.0.0.1", "protocol": "tcp"}' in text
    # the URL is this machine's end of the forward to the port the server published
    token = project.state.read_token()
    assert out.strip() == f"http://127.0.0.1:18888/lab?token={token}"
    server_port = engine.running["torch"].host_port(8888)
    assert server_port is not None and server_port != 18888
    assert [c for c in engine.calls if c[0] == "forward"] == [("forward", "127.0.0.1", 18888, server_port)]
    assert project.state.read().peek("torch").remote_port == server_port


def test_the_link_keeps_both_sides_in_step(project: Project, engine: FakeEngine, linked: ThreadLink) -> None:
    up(project, engine, ["torch"])
    volume = _volume(engine)
    (volume / "made-in-lab.ipynb").write_text('{"cells": []}')
    assert _until((project.root / "made-in-lab.ipynb").is_file)
    assert (project.root / "made-in-lab.ipynb").read_text() == '{"cells": []}'
    req = project.services["torch"].requirements
    req.write_text(req.read_text() + "six\n")
    assert _until(lambda: (volume / "docker_files/torch/requirements.txt").read_text() == req.read_text())
    (volume / "made-in-lab.ipynb").unlink()
    assert _until(lambda: not (project.root / "made-in-lab.ipynb").exists())
    # the session is the running lab's own (`docker exec -i` as root; the server drops to the lab user)
    assert ("attach", "torch", "0") in engine.calls


def test_down_brings_home_what_the_lab_wrote_then_stops_and_names_the_volume(
    project: Project, engine: FakeEngine, linked: ThreadLink, capsys: pytest.CaptureFixture[str]
) -> None:
    up(project, engine, ["torch"])
    linked.stop(project)  # the link gone (say, killed): down's own round must still run
    (_volume(engine) / "late.txt").write_text("written just before down\n")
    time.sleep(0.3)  # older than a file still being written
    assert down_module.down(project, engine, [], volumes=True) == 0
    assert (project.root / "late.txt").read_text() == "written just before down\n"
    [down_call] = [c for c in engine.calls if c[0] == "down"]
    assert down_call == ("down", None, True)
    assert project.state.remote_override in engine.last_stack.files  # so `--volumes` removes it too
    assert "lab's copy of the project" in capsys.readouterr().err


def test_status_names_the_engine_and_the_link(
    project: Project, engine: FakeEngine, linked: ThreadLink
) -> None:
    up(project, engine, ["torch"])
    report = collect(project, engine, [])
    where = report["engine"]
    assert (where["url"], where["remote"], where["workspace_volume"]) == (HOST, True, "demo_workspace")
    assert where["link"]["state"] == "ready"
    assert where["link"]["forwards"] == [
        ["torch", "127.0.0.1", 18888, engine.running["torch"].host_port(8888)]
    ]


def test_a_recreated_lab_gets_a_new_forward(project: Project, engine: FakeEngine, linked: ThreadLink) -> None:
    up(project, engine, ["torch"])
    first = engine.running["torch"].host_port(8888)
    up(project, engine, ["torch"], rebuild=True)
    second = engine.running["torch"].host_port(8888)
    assert second != first and linked.starts == 2
    assert [c[3] for c in engine.calls if c[0] == "forward"] == [first, second]


class AgentSocket:
    """A listener on the lab agent's socket path that only counts who connects."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.connections = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.done.set()
        self.thread.join(2)
        self.sock.close()


def test_pipreq_on_a_remote_engine_installs_by_docker_exec_and_never_asks_a_local_socket(
    project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # a stale agent socket of a lab that once ran here answers; the remote lab is not that one
    agent = AgentSocket(project.state.path / "agent" / "torch.sock")
    engine.start("torch")
    monkeypatch.setenv("DOCKER_HOST", HOST)
    monkeypatch.chdir(project.root)
    try:
        rc = cli.main(["pipreq", "six==1.16.0"], open_engine=lambda: engine)
    finally:
        agent.close()
    assert rc == 0
    assert agent.connections == 0
    [exec_call] = [c for c in engine.calls if c[0] == "exec"]
    assert exec_call[1] == "torch" and exec_call[3] == "0" and "six==1.16.0" in exec_call[2]
    assert project.services["torch"].requirements.read_text().endswith("six==1.16.0\n")


def test_a_local_engine_gets_no_override_no_sync_and_no_forward(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(start_module, "wait_ready", lambda *a, **k: True)
    monkeypatch.setattr(start_module, "port_in_use", lambda bind, port: False)
    engine = FakeEngine(compose_config=compose_config())
    assert up(project, engine, ["torch"]) == 0
    assert not project.state.remote_override.exists()
    assert all(project.state.remote_override not in s.files for s in engine.stacks)
    assert not {c[0] for c in engine.calls} & {"attach", "run_attached", "forward"}
    assert "remote Docker engine" not in capsys.readouterr().err
    monkeypatch.chdir(project.root)
    assert cli.main(["sync"], open_engine=lambda: engine) == 0
    assert "nothing to sync: the Docker engine is local" in capsys.readouterr().err


def test_sync_now_says_what_moved(
    project: Project, engine: FakeEngine, linked: ThreadLink, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    up(project, engine, ["torch"])
    linked.stop(project)
    (_volume(engine) / "out.csv").write_text("a,b\n")
    time.sleep(0.3)
    capsys.readouterr()
    remote._announced.clear()  # once per process: this is the `sync` command's own
    monkeypatch.chdir(project.root)
    assert cli.main(["sync"], open_engine=lambda: engine) == 0
    err = capsys.readouterr().err
    assert f"remote Docker engine {HOST}" in err
    assert "synced with the lab's volume: 1 from the lab (out.csv)" in err
    assert json.loads((project.state.path / "state.json").read_text())["services"]["torch"]["remote_port"]
