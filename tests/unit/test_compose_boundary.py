"""PowEngine: Compose gets the Stack's variables per call, and every failure becomes one sentence.

The docker binary is never run: python-on-whales' subprocess calls are replaced with canned
answers, recorded from the real tools.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from jlcompose.engine.api import Stack
from jlcompose.engine.pow import PowEngine
from jlcompose.errors import (
    ComposeMissing,
    ComposeTooOld,
    ConfigError,
    DaemonDenied,
    DaemonDown,
    DockerMissing,
    GpuUnavailable,
    JlcomposeError,
    PortTaken,
    StartFailed,
)


class Canned:
    """Stands in for subprocess.run inside python-on-whales: records argv and env, answers."""

    def __init__(self, rc: int = 0, stdout: str = "", stderr: str = "") -> None:
        self.answers: list[tuple[int, str, str]] = [(rc, stdout, stderr)]
        self.argv: list[list[str]] = []
        self.envs: list[dict[str, str]] = []

    def __call__(self, args: list[str], **kw: Any) -> subprocess.CompletedProcess[bytes]:
        self.argv.append(list(args))
        self.envs.append(dict(kw.get("env") or {}))
        rc, out, err = self.answers[min(len(self.argv), len(self.answers)) - 1]
        return subprocess.CompletedProcess(args, rc, out.encode(), err.encode())


class Streamed:
    """Stands in for Popen inside python-on-whales' streaming runner: a real `sh` prints the lines."""

    def __init__(self, rc: int, stdout: Sequence[str] = (), stderr: Sequence[str] = ()) -> None:
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        self.argv: list[list[str]] = []

    def __call__(self, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        self.argv.append(list(args))
        script = "".join(f"echo '{line}'; " for line in self.stdout)
        script += "".join(f"echo '{line}' >&2; " for line in self.stderr)
        return subprocess.Popen(
            ["sh", "-c", f"{script}exit {self.rc}"], stdout=kw["stdout"], stderr=kw["stderr"]
        )


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> PowEngine:
    monkeypatch.setattr("python_on_whales.client_config.shutil.which", lambda name: "/usr/bin/docker")
    monkeypatch.setattr("jlcompose.engine.pow.shutil.which", lambda name: "/usr/bin/docker")
    return PowEngine()


@pytest.fixture
def stack(tmp_path: Path) -> Stack:
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose/compose.yaml").write_text("services: {}\n")
    return Stack(
        project_name="demo",
        files=(tmp_path / "compose/compose.yaml",),
        env_files=(tmp_path / ".env",),
        variables=(("JLC_TORCH_TAG", "abc123"), ("JUPYTER_TOKEN", "s3cret")),
    )


def use(monkeypatch: pytest.MonkeyPatch, canned: Canned) -> Canned:
    monkeypatch.setattr("python_on_whales.utils.subprocess.run", canned)
    return canned


def stream(monkeypatch: pytest.MonkeyPatch, streamed: Streamed) -> Streamed:
    from python_on_whales import utils

    monkeypatch.setattr(utils, "Popen", streamed)
    return streamed


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
    assert (info.server_version, info.compose_version, info.engine_id) == ("20.10.24", "2.40.3", "ABC")
    assert len(canned.argv) == 1  # no second process to ask Compose its version


@pytest.mark.parametrize(
    ("compose", "kind", "words"),
    [
        (None, ComposeMissing, "not installed"),
        ("v2.17.3", ComposeTooOld, "too old"),
        ("v1.29.2", ComposeTooOld, "too old"),
    ],
)
def test_info_refuses_missing_or_old_compose(
    engine: PowEngine,
    monkeypatch: pytest.MonkeyPatch,
    compose: str | None,
    kind: type[JlcomposeError],
    words: str,
) -> None:
    use(monkeypatch, Canned(stdout=info_json(compose)))
    with pytest.raises(kind) as exc:
        engine.info()
    assert words in exc.value.message


def test_future_compose_major_is_accepted(engine: PowEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    use(monkeypatch, Canned(stdout=info_json("v5.0.1")))
    assert engine.info().compose_version == "5.0.1"


@pytest.mark.parametrize(
    "stderr",
    [
        "Cannot connect to the Docker daemon at unix:///nonexistent/jlc.sock. Is the docker daemon running?\n",
        "failed to connect to the docker API at unix:///nonexistent/jlc.sock; check if the path is correct "
        "and if the daemon is running: dial unix /nonexistent/jlc.sock: connect: no such file or directory\n",
    ],
)
def test_daemon_down_names_the_socket(
    engine: PowEngine, stack: Stack, monkeypatch: pytest.MonkeyPatch, stderr: str
) -> None:
    use(monkeypatch, Canned(rc=1, stderr=stderr))
    for call in (
        engine.info,
        lambda: engine.containers(stack),
        lambda: engine.image("x:1"),
        lambda: engine.up(stack, ["torch"]),
    ):
        with pytest.raises(DaemonDown) as exc:
            call()
        assert exc.value.message == "the Docker daemon does not answer at unix:///nonexistent/jlc.sock."


def test_streamed_calls_notice_the_daemon_is_down(
    engine: PowEngine, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream(
        monkeypatch,
        Streamed(
            1,
            stderr=[
                "Cannot connect to the Docker daemon at tcp://gpu-box:2375. Is the docker daemon running?"
            ],
        ),
    )
    with pytest.raises(DaemonDown, match="tcp://gpu-box:2375"):
        engine.build(stack, "torch", {}, lambda line: None)
    with pytest.raises(DaemonDown, match="tcp://gpu-box:2375"):
        engine.logs(stack, "torch", follow=False, tail=5, on_line=lambda line: None)


def test_socket_permission(engine: PowEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    use(
        monkeypatch,
        Canned(
            rc=1,
            stderr="permission denied while trying to connect to the Docker daemon "
            "socket at unix:///var/run/docker.sock: Get ...\n",
        ),
    )
    with pytest.raises(DaemonDenied) as exc:
        engine.info()
    assert "unix:///var/run/docker.sock" in exc.value.message
    assert "docker` group" in (exc.value.hint or "")


def test_no_docker_command(monkeypatch: pytest.MonkeyPatch, stack: Stack) -> None:
    monkeypatch.setattr("python_on_whales.client_config.shutil.which", lambda name: None)
    monkeypatch.setattr("jlcompose.engine.pow.shutil.which", lambda name: None)
    engine = PowEngine()
    with pytest.raises(DockerMissing):
        engine.info()
    with pytest.raises(DockerMissing):
        engine.config(stack)


def test_compose_refusal_is_a_config_error(
    engine: PowEngine, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    use(monkeypatch, Canned(rc=15, stderr="invalid hostPort: eighty\n"))
    with pytest.raises(ConfigError) as exc:
        engine.config(stack)
    assert exc.value.message == "Docker Compose refused the configuration: invalid hostPort: eighty."


@pytest.mark.parametrize(
    ("stderr", "kind", "words"),
    [
        (
            'Error response from daemon: could not select device driver "nvidia" with capabilities: [[gpu]]',
            GpuUnavailable,
            "cannot give this container a GPU",
        ),
        (
            "Error response from daemon: driver failed programming external connectivity on endpoint x: "
            "Bind for 127.0.0.1:8888 failed: port is already allocated",
            PortTaken,
            "already in use",
        ),
        ("Error response from daemon: something else", StartFailed, "starting torch failed"),
    ],
)
def test_up_failures(
    engine: PowEngine,
    stack: Stack,
    monkeypatch: pytest.MonkeyPatch,
    stderr: str,
    kind: type[JlcomposeError],
    words: str,
) -> None:
    use(monkeypatch, Canned(rc=1, stderr=stderr + "\n"))
    with pytest.raises(kind) as exc:
        engine.up(stack, ["torch"])
    assert words in exc.value.message
    assert stderr in (exc.value.detail or "")


def test_compose_gets_the_stack_and_its_variables_per_call(
    engine: PowEngine, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JLC_TORCH_TAG", raising=False)
    canned = use(monkeypatch, Canned(stdout="{}"))
    engine.config(stack)
    argv, env = canned.argv[0], canned.envs[0]
    assert argv[1] == "compose" and argv[argv.index("--file") + 1].endswith("compose.yaml")
    assert argv[argv.index("--project-name") + 1] == "demo"
    assert argv[argv.index("--env-file") + 1].endswith(".env")
    assert argv[argv.index("--project-directory") + 1] == str(stack.directory)
    assert argv[-3:] == ["config", "--format", "json"]
    assert env["JLC_TORCH_TAG"] == "abc123" and env["JUPYTER_TOKEN"] == "s3cret"
    assert "JLC_TORCH_TAG" not in os.environ  # the process's own environment is left alone
    assert "s3cret" not in " ".join(argv)  # the token never shows in the process list


def test_streamed_build_logs_its_argv_and_masks_the_token(
    engine: PowEngine, stack: Stack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    streamed = stream(monkeypatch, Streamed(0, stdout=["#1 DONE 0.1s"]))
    lines: list[str] = []
    with caplog.at_level(logging.DEBUG, logger="jlcompose"):
        engine.build(stack, "torch", {"JLC_HASH": "h"}, lines.append)
    assert lines == ["#1 DONE 0.1s"]
    argv = streamed.argv[0]
    assert argv[-3:] == ["--build-arg", "JLC_HASH=h", "torch"] and "build" in argv
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"Running command: {' '.join(argv)}" in logged
    assert "JLC_TORCH_TAG=abc123" in logged and "JUPYTER_TOKEN=***" in logged and "s3cret" not in logged


def test_a_failed_build_says_which_service_and_keeps_the_error_lines(
    engine: PowEngine, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream(monkeypatch, Streamed(1, stderr=["#7 ERROR: process did not complete", "failed to solve: exit 1"]))
    from jlcompose.errors import BuildFailed

    with pytest.raises(BuildFailed) as exc:
        engine.build(stack, "torch", {}, lambda line: None)
    assert "building the torch image failed" in exc.value.message
    assert "failed to solve" in (exc.value.detail or "")


def test_exec_streams_lines_and_returns_the_exit_code(
    engine: PowEngine, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jlcompose.engine.api import ContainerInfo

    running = ContainerInfo("cid1", "demo-torch-1", "torch", "demo", "running", None, "img")
    monkeypatch.setattr(engine, "containers", lambda stack, services=None: [running])
    streamed = stream(monkeypatch, Streamed(3, stdout=["Collecting six"], stderr=["ERROR: nope"]))
    lines: list[str] = []
    assert engine.exec(stack, "torch", ["pip", "install", "six"], user="0", on_line=lines.append) == 3
    assert sorted(lines) == ["Collecting six", "ERROR: nope"]
    assert streamed.argv[0][-6:] == ["--user", "0", "cid1", "pip", "install", "six"]
