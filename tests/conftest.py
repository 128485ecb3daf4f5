"""Test tiers: unit and command tests never reach Docker; `docker`-marked tests need a real engine."""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAB_BASE = os.environ.get("JLC_TEST_LAB_BASE", "jlcompose-test/lab-base:1")
PYTHON_BASE = os.environ.get("JLC_TEST_PYTHON_IMAGE", "jlcompose-test/python:3.11")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-docker-skip",
        action="store_true",
        help="fail, not skip, docker-marked tests when no engine answers (CI sets this)",
    )
    parser.addoption(
        "--gpu-engine",
        action="store_true",
        help="the engine registers the NVIDIA device driver: run gpu_engine tests, fail if it does not",
    )


@functools.cache
def _docker_unavailable_reason() -> str | None:
    if shutil.which("docker") is None:
        return "docker CLI not on PATH"
    try:
        subprocess.run(["docker", "info"], capture_output=True, check=True, timeout=20)
        subprocess.run(["docker", "compose", "version"], capture_output=True, check=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"docker engine or compose unreachable: {exc}"
    return None


@pytest.fixture(autouse=True)
def _docker_gate(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    # autouse + marker check: a usefixtures added from a collection hook would be inert
    if request.node.get_closest_marker("gpu_engine") is not None and not request.config.getoption(
        "--gpu-engine"
    ):
        pytest.skip(
            "needs an engine with the NVIDIA device driver; scripts/test runs these in a "
            "second phase (CI=true or JLC_TEST_FAKE_GPU=1)"
        )
    if request.node.get_closest_marker("docker") is not None:
        if (reason := _docker_unavailable_reason()) is not None:
            if request.config.getoption("--no-docker-skip"):
                pytest.fail(reason)
            pytest.skip(reason)
        return
    real_popen = subprocess.Popen

    class GuardedPopen(real_popen):  # type: ignore[misc,valid-type]
        def __init__(self, args, *a, **kw):  # type: ignore[no-untyped-def]
            argv0 = args[0] if isinstance(args, list | tuple) else str(args).split()[0]
            if os.path.basename(os.fspath(argv0)) == "docker":
                raise AssertionError("a unit test reached real docker; use FakeEngine or @pytest.mark.docker")
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", GuardedPopen)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def copy_template(dest: Path) -> Path:
    """A fresh project folder holding the repository's own compose/ and docker_files/."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO / "compose", dest / "compose")
    shutil.copytree(
        REPO / "docker_files",
        dest / "docker_files",
        # lab/lib/ is jlcompose's output (lab/labfiles.py): a new project starts without it
        ignore=lambda folder, names: [
            n for n in names if n == "__pycache__" or (n == "lib" and folder.endswith("lab"))
        ],
    )
    shutil.copy(REPO / ".env.example", dest / ".env.example")
    return dest


@pytest.fixture
def template_project(tmp_path: Path) -> Path:
    return copy_template(tmp_path / "proj")


@functools.cache
def ensure_lab_base() -> str:
    """A small stand-in for an NGC image: Debian's Python with JupyterLab from PyPI."""
    probe = subprocess.run(["docker", "image", "inspect", LAB_BASE], capture_output=True)
    if probe.returncode != 0:
        dockerfile = f"FROM {PYTHON_BASE}\nRUN pip3 install --no-cache-dir jupyterlab\n"
        subprocess.run(
            ["docker", "build", "-t", LAB_BASE, "-"],
            input=dockerfile.encode(),
            check=True,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
    return LAB_BASE


@pytest.fixture
def lab_project(tmp_path: Path) -> Iterator[Path]:
    """A real project wired to the local lab base, with its own compose project name and ports."""
    ensure_lab_base()
    root = copy_template(tmp_path / "proj")
    name = f"jlct{uuid.uuid4().hex[:8]}"
    (root / ".env").write_text(
        f"JLC_PROJECT={name}\n"
        f"JLC_TORCH_BASE={LAB_BASE}\nJLC_TF_BASE={LAB_BASE}\n"
        f"JLC_TORCH_PORT={free_port()}\nJLC_TF_PORT={free_port()}\n"
        "JLC_SHM_SIZE=256m\n"
    )
    yield root
    files = ["-f", str(root / "compose/compose.yaml"), "-f", str(root / "compose/compose.cpu.yaml")]
    subprocess.run(
        [
            "docker",
            "compose",
            *files,
            "--env-file",
            str(root / ".env"),
            "down",
            "-t",
            "1",
            "-v",
            "--remove-orphans",
        ],
        capture_output=True,
        timeout=120,
    )
    drop_images(name)


def drop_images(name: str) -> None:
    """The images jlcompose built for the test project `name`."""
    images = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"jlcompose/{name}-*"],
        capture_output=True,
        text=True,
    ).stdout.split()
    if images:
        subprocess.run(["docker", "image", "rm", "-f", *images], capture_output=True)


def drop_project(root: Path, name: str) -> None:
    """A test project gone from the engine: its labs, its volumes (caches too), its images."""
    run_cli("down", "--volumes", cwd=root, timeout=120)
    drop_images(name)


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run the real `jlcompose` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("JLCOMPOSE_PROJECT_NAME", None)
    return subprocess.run(
        [sys.executable, "-m", "jlcompose", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def project_name(root: Path) -> str:
    """The Compose project name the `lab_project` fixture wrote into .env."""
    for line in (root / ".env").read_text().splitlines():
        if line.startswith("JLC_PROJECT="):
            return line.split("=", 1)[1]
    raise AssertionError(f"no JLC_PROJECT in {root / '.env'}")


def container_id(root: Path, service: str = "torch") -> str:
    """The one running container of a service of the project at root."""
    out = subprocess.run(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label=com.docker.compose.project={project_name(root)}",
            "--filter",
            f"label=com.docker.compose.service={service}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(out) == 1, out
    return out[0]


def module_version(cid: str, module: str) -> str:
    """`module.__version__` inside a running container, or why it could not be read."""
    done = subprocess.run(
        ["docker", "exec", cid, "python3", "-c", f"import {module}; print({module}.__version__)"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.stdout.strip() if done.returncode == 0 else f"failed: {done.stderr[-300:]}"


@dataclass(frozen=True)
class Registries:
    """The local registries of `scripts/engine.sh registry-up` (see docs/images.md)."""

    open: str  # 127.0.0.1:PORT, no auth
    auth: str  # 127.0.0.1:PORT, htpasswd auth
    login: str  # "user:password" the auth registry accepts
    tls: str  # BRIDGE_IP:PORT with a self-signed certificate, or "" without a docker0 address
    repo: str = "jlcompose-test/ngc-like"

    def ref(self, tag: str, registry: str | None = None) -> str:
        return f"{registry or self.open}/{self.repo}:{tag}"


def _registry_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k.startswith("JLC_TEST_") and "REGISTRY" in k}


@pytest.fixture(scope="session")
def registries(request: pytest.FixtureRequest) -> Iterator[Registries]:
    """scripts/test starts them (JLC_TEST_REGISTRY...); a bare pytest run starts its own, and stops them."""
    env = _registry_env()
    started = None
    if not env.get("JLC_TEST_REGISTRY"):
        done = subprocess.run(
            ["bash", str(REPO / "scripts/engine.sh"), "registry-up"],
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:  # e.g. docker-registry missing and no root to install it
            reason = f"scripts/engine.sh registry-up failed: {done.stderr.strip()[-500:]}"
            if request.config.getoption("--no-docker-skip"):
                pytest.fail(reason)
            pytest.skip(reason)
        env = {
            k.removeprefix("export "): v
            for k, _, v in (line.partition("=") for line in done.stdout.splitlines() if "=" in line)
        }
        started = env["JLC_TEST_REGISTRY_DIR"]
    yield Registries(
        open=env["JLC_TEST_REGISTRY"],
        auth=env["JLC_TEST_AUTH_REGISTRY"],
        login=env["JLC_TEST_REGISTRY_LOGIN"],
        tls=env.get("JLC_TEST_TLS_REGISTRY", ""),
    )
    if started is not None:
        subprocess.run(["bash", str(REPO / "scripts/engine.sh"), "registry-down", started], timeout=120)


def docker_config(folder: Path, logins: dict[str, str] | None = None) -> Path:
    """A DOCKER_CONFIG folder with these registry -> "user:password" logins (none: not logged in)."""
    folder.mkdir(parents=True, exist_ok=True)
    auths = {
        reg: {"auth": base64.b64encode(login.encode()).decode()} for reg, login in (logins or {}).items()
    }
    (folder / "config.json").write_text(json.dumps({"auths": auths}))
    return folder


def image_present(ref: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", ref], capture_output=True).returncode == 0
