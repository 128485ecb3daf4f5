"""pipreq through a lab's install agent: the real agent on a real socket, only the installer faked.

The agent runs here in a thread, as it runs in the lab (there its root is /workspace, the same
folder); `jlcompose pipreq` reaches it through .jlcompose/agent/torch.sock and must not open
a Docker engine at all.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from jlcompose import cli
from jlcompose.engine.api import Engine
from jlcompose.inlab import agent as agent_module
from jlcompose.inlab import install
from jlcompose.lab import agentclient, hotinstall
from jlcompose.project import Project
from tests.fakes import FakeEngine


class Installer:
    """Stands in for inlab/install.py's uv run: records each call, answers with `result`."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str]]] = []
        self.result: tuple[int, list[str]] = (0, ["Installed 1 package in 3ms"])

    def __call__(
        self, requirements: Sequence[str], on_line: Callable[[str], None], unpin: Sequence[str]
    ) -> tuple[int, str]:
        self.calls.append((list(requirements), list(unpin)))
        rc, lines = self.result
        for line in lines:
            on_line(line)
        return rc, "uv"


@pytest.fixture
def installer(monkeypatch: pytest.MonkeyPatch) -> Installer:
    fake = Installer()
    monkeypatch.setattr(install, "install_and_unpin", fake)
    return fake


@pytest.fixture
def lab_agent(project: Project, installer: Installer) -> Iterator[Path]:
    import os

    agent = agent_module.Agent(project.root, "torch", os.getuid(), os.getgid())
    ready, stop = threading.Event(), threading.Event()
    thread = threading.Thread(target=agent.serve, kwargs={"ready": ready, "stop": stop}, daemon=True)
    thread.start()
    assert ready.wait(5)
    yield agentclient.socket_for(project.state.path, "torch")
    stop.set()
    thread.join(5)


def no_engine() -> Engine:
    raise AssertionError("the hot path must not open a Docker engine")


def req(project: Project) -> Path:
    return project.services["torch"].requirements


def test_pipreq_goes_through_the_agent_with_no_engine(
    project: Project, lab_agent: Path, installer: Installer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = req(project).read_text()
    assert cli.main(["-C", str(project.root), "pipreq", "six==1.16.0"], open_engine=no_engine) == 0
    assert installer.calls == [(["six==1.16.0"], [])]
    assert req(project).read_text() == before + "six==1.16.0\n"
    state = json.loads((project.state.path / "state.json").read_text())
    assert state["services"]["torch"]["hot_installed"] == ["six==1.16.0"]
    err = capsys.readouterr().err
    assert "Installed 1 package" in err and "added six==1.16.0" in err
    # asked again: already there, nothing installed
    assert cli.main(["-C", str(project.root), "pipreq", "six==1.16.0"], open_engine=no_engine) == 0
    assert len(installer.calls) == 1 and "already in" in capsys.readouterr().err


def test_a_refused_argument_is_exit_2_from_the_agent_and_nothing_changes(
    project: Project, lab_agent: Path, installer: Installer, capsys: pytest.CaptureFixture[str]
) -> None:
    before = req(project).read_bytes()
    assert cli.main(["-C", str(project.root), "pipreq", "six", "numpy|sh"], open_engine=no_engine) == 2
    assert "shell metacharacters" in capsys.readouterr().err
    assert installer.calls == [] and req(project).read_bytes() == before


def test_a_failed_install_is_explained_and_leaves_the_file(
    project: Project, lab_agent: Path, installer: Installer, capsys: pytest.CaptureFixture[str]
) -> None:
    installer.result = (
        1,
        [
            "error: No solution found when resolving dependencies",
            "  cause: Because you require six==1.16.0 and six==1.17.0, we can conclude that ...",
            "The user requested (constraint) six==1.17.0",
        ],
    )
    before = req(project).read_bytes()
    assert cli.main(["-C", str(project.root), "pipreq", "six==1.16.0"], open_engine=no_engine) == 6
    err = capsys.readouterr().err
    assert "the image pins six==1.17.0" in err and "--unpin six" in err
    assert err.count("No solution found") == 1  # the report once, as detail
    assert req(project).read_bytes() == before
    assert not (project.state.path / "state.json").exists()


def test_unpin_is_passed_on_and_kept_in_the_config(
    project: Project, lab_agent: Path, installer: Installer
) -> None:
    rc = cli.main(["-C", str(project.root), "pipreq", "--unpin", "six", "six==1.16.0"], open_engine=no_engine)
    assert rc == 0 and installer.calls == [(["six==1.16.0"], ["six"])]
    assert (project.root / "jlcompose.toml").read_text() == 'unpin = ["six"]\n'


def test_without_an_agent_the_engine_is_asked(project: Project, installer: Installer) -> None:
    stale = agentclient.socket_for(project.state.path, "torch")
    stale.parent.mkdir(parents=True)
    import socket

    with socket.socket(socket.AF_UNIX) as s:  # a socket file nobody listens on: a stopped lab
        s.bind(str(stale))
    engine = FakeEngine().start("torch")
    assert cli.main(["-C", str(project.root), "pipreq", "six"], open_engine=lambda: engine) == 0
    assert [c[0] for c in engine.calls if c[0] == "exec"] == ["exec"] and installer.calls == []


def test_the_watcher_installs_through_the_agent(
    project: Project, lab_agent: Path, installer: Installer
) -> None:
    engine = FakeEngine().start("torch")
    svc = project.service("torch")
    hotinstall.install(project, engine, project.stack(cpu=False), svc, ["rich"], on_line=lambda line: None)
    assert installer.calls == [(["rich"], [])] and [c for c in engine.calls if c[0] == "exec"] == []


def test_ping(project: Project, lab_agent: Path) -> None:
    answer = agentclient.ask(lab_agent, {"op": "ping"}, on_line=lambda line: None)
    assert answer is not None and answer["done"] == 0 and answer["service"] == "torch"


def test_pipreq_json_through_the_agent(
    project: Project, lab_agent: Path, installer: Installer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["pipreq", "--json", "six==1.16.0", "-C", str(project.root)], open_engine=no_engine) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "services": [
            {
                "service": "torch",
                "requirements": "docker_files/torch/requirements.txt",
                "added": ["six==1.16.0"],
                "updated": [],
                "already_present": [],
                "installed": True,
                "lab_running": True,
            }
        ]
    }
    assert "installed six==1.16.0 in the torch lab" in err  # the human lines stay on stderr
