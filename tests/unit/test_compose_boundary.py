"""PowEngine turns Docker's and Compose's failures into one clear sentence each.

The docker binary is never run: python-on-whales' subprocess call is replaced with canned
answers, recorded from the real tools.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jlcompose.compose import PowEngine
from jlcompose.errors import ConfigError, EngineError, StartFailed


class Canned:
    def __init__(self, rc: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.answers: list[tuple[int, str, str]] = [(rc, stdout, stderr)]
        self.argv: list[list[str]] = []

    def __call__(self, args: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
        self.argv.append(list(args))
        rc, out, err = self.answers[min(len(self.argv), len(self.answers)) - 1]
        return subprocess.CompletedProcess(args, rc, out.encode(), err.encode())


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PowEngine:
    import python_on_whales.client_config as cc

    monkeypatch.setattr(cc.shutil, "which", lambda name: "/usr/bin/docker")
    monkeypatch.setattr("jlcompose.compose.shutil.which", lambda name: "/usr/bin/docker")
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose/compose.yaml").write_text("services: {}\n")
    return PowEngine(tmp_path, [tmp_path / "compose/compose.yaml"], project_name="demo")


def use(monkeypatch: pytest.MonkeyPatch, canned: Canned) -> Canned:
    from python_on_whales import utils

    monkeypatch.setattr(utils.subprocess, "run", canned)
    return canned


def info_json(compose: str | None) -> str:
    plugins = [{"Name": "buildx", "Version": "v0.1"}]
    if compose:
        plugins.append({"Name": "compose", "Version": compose, "SchemaVersion": "0.1.0"})
    return json.dumps(
        {
            "ServerVersion": "20.10.24",
            "ID": "ABC",
            "NCPU": 2,
            "ClientInfo": {"Plugins": plugins},
            "Runtimes": {"runc": {}},
        }
    )


def test_info_reads_compose_from_the_plugin_list(engine: PowEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    canned = use(monkeypatch, Canned(stdout=info_json("v2.40.3")))
    info = engine.info()
    assert (info.server_version, info.compose_version, info.engine_id) == (
        "20.10.24",
        "2.40.3",
        "ABC",
    )
    assert len(canned.argv) == 1  # no second process to ask Compose its version


@pytest.mark.parametrize(
    ("compose", "words"), [(None, "not installed"), ("v2.17.3", "too old"), ("v1.29.2", "too old")]
)
def test_info_refuses_missing_or_old_compose(
    engine: PowEngine, monkeypatch: pytest.MonkeyPatch, compose: str | None, words: str
) -> None:
    use(monkeypatch, Canned(stdout=info_json(compose)))
    with pytest.raises(EngineError) as exc:
        engine.info()
    assert words in exc.value.message


def test_future_compose_major_is_accepted(engine: PowEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, Canned(stdout=info_json("v5.0.1")))
    assert engine.info().compose_version == "5.0.1"


def test_daemon_down(engine: PowEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    use(
        monkeypatch,
        Canned(
            rc=1,
            stderr="Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
            "Is the docker daemon running?\n",
        ),
    )
    with pytest.raises(EngineError) as exc:
        engine.info()
    assert "daemon is not running" in exc.value.message


def test_socket_permission(engine: PowEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    use(
        monkeypatch,
        Canned(
            rc=1,
            stderr="permission denied while trying to connect to the Docker daemon "
            "socket at unix:///var/run/docker.sock\n",
        ),
    )
    with pytest.raises(EngineError) as exc:
        engine.info()
    assert "docker` group" in (exc.value.hint or "")


def test_compose_refusal_is_a_config_error(engine: PowEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, Canned(rc=15, stderr="invalid hostPort: eighty\n"))
    with pytest.raises(ConfigError) as exc:
        engine.config()
    assert exc.value.message == "Docker Compose refused the configuration: invalid hostPort: eighty."


@pytest.mark.parametrize(
    ("stderr", "words"),
    [
        (
            'Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu]]',
            "cannot give this container a GPU",
        ),
        (
            "Error response from daemon: driver failed programming external connectivity on endpoint x: "
            "Bind for 127.0.0.1:8888 failed: port is already allocated",
            "already in use",
        ),
        ("Error response from daemon: something else", "starting torch failed"),
    ],
)
def test_up_failures(engine: PowEngine, monkeypatch: pytest.MonkeyPatch, stderr: str, words: str) -> None:
    use(monkeypatch, Canned(rc=1, stderr=stderr + "\n"))
    with pytest.raises(StartFailed) as exc:
        engine.up(["torch"])
    assert words in exc.value.message
    assert stderr in (exc.value.detail or "")


def test_compose_calls_name_files_and_project_directory(
    engine: PowEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    canned = use(monkeypatch, Canned(stdout="{}"))
    engine.config()
    argv = canned.argv[0]
    assert (
        argv[1] == "compose" and "--file" in argv and argv[argv.index("--file") + 1].endswith("compose.yaml")
    )
    assert argv[-3:] == ["config", "--format", "json"]
