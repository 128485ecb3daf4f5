"""doctor: each pure check on recorded values, then the gatherer against a fake engine and host."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jlcompose.engine.api import ContainerInfo, EngineInfo, RemoteImage
from jlcompose.errors import ComposeFailed, ComposeTooOld, DaemonDown, EngineError, RegistryError
from jlcompose.gpu import checks
from jlcompose.gpu import doctor as doctor_module
from jlcompose.gpu import driver as driver_checks
from jlcompose.gpu.doctor import Host, doctor
from jlcompose.gpu.nvml import GpuInfo
from jlcompose.project import Project
from tests.commands.conftest import compose_config
from tests.fakes import FakeEngine

H200 = [GpuInfo(0, "NVIDIA H200", "580.159.04", 143771.0)]
WSL = "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@1c602f52c2e4) #1 SMP"
LINUX = "Linux version 6.1.0-27-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian"
NGC_ENV = {"CUDA_VERSION": "13.0.2", "CUDA_DRIVER_VERSION": "580.95.05"}


@pytest.fixture
def engine() -> FakeEngine:
    """No image on this machine yet (the commands' conftest has the base image pulled)."""
    return FakeEngine(compose_config=compose_config())


# -- pure checks ------------------------------------------------------------------------
def test_engine_ok_and_compose_version() -> None:
    info = EngineInfo(server_version="27.3.1", compose_version="2.40.3", engine_id="x")
    docker, compose = checks.check_engine(info, None)
    assert (docker.status, compose.status) == ("ok", "ok")
    assert compose.detail == "Docker Compose 2.40.3"
    old = checks.check_compose_version("2.20.2")
    assert old.status == "fail" and "older than 2.24.4" in old.detail and old.fix


def test_engine_errors_become_rows() -> None:
    down = DaemonDown("unix:///var/run/docker.sock")
    docker, compose = checks.check_engine(None, down)
    assert docker.status == "fail"
    assert docker.detail == "the Docker daemon does not answer at unix:///var/run/docker.sock"
    assert docker.fix.startswith("start Docker")
    assert compose.status == "warn" and "not checked" in compose.detail
    old = ComposeTooOld(
        "Docker Compose 2.20.0 is too old; jlcompose needs 2.24.4 or newer.",
        hint="upgrade the docker-compose-plugin package.",
    )
    docker, compose = checks.check_engine(None, old)
    assert docker.status == "ok" and compose.status == "fail"
    assert compose.fix == "upgrade the docker-compose-plugin package."


def test_host_gpus() -> None:
    none = checks.check_host_gpus([], "")
    assert none.status == "warn" and "no NVIDIA driver" in none.detail and "--cpu" in none.fix
    two = checks.check_host_gpus(H200 * 2, "NVML")
    assert two.status == "ok" and two.detail == "2 x NVIDIA H200, driver 580.159.04 (via NVML)"


def test_engine_gpu_probe() -> None:
    assert checks.check_engine_gpu(None, None, True).detail == "no local image to probe with"
    assert checks.check_engine_gpu(None, None, True).status == "warn"
    assert checks.check_engine_gpu("img:1", True, True).status == "ok"
    broken = checks.check_engine_gpu("img:1", False, True)
    assert broken.status == "fail" and "NVIDIA Container Toolkit" in broken.fix
    assert checks.check_engine_gpu("img:1", False, False).status == "warn"
    assert checks.check_engine_gpu("img:1", None, True, "probe failed").status == "warn"


@pytest.mark.parametrize(
    ("driver", "gpu", "status"),
    [
        ("580.159.04", "NVIDIA H200", "ok"),
        ("590.10", "NVIDIA GeForce RTX 5090", "ok"),
        ("570.86.15", "NVIDIA GeForce RTX 4090", "fail"),
        ("570.86.15", "NVIDIA H100 80GB HBM3", "warn"),  # CUDA forward compatibility
    ],
)
def test_driver_against_the_image(driver: str, gpu: str, status: str) -> None:
    result = driver_checks.check_driver_for_image(
        "nvcr.io/nvidia/pytorch:25.10-py3", NGC_ENV, [GpuInfo(0, gpu, driver, None)]
    )
    assert result.status == status
    assert "CUDA 13.0.2 needs driver 580+" in result.detail and driver in result.detail
    if status != "ok":
        assert "580 or newer" in result.fix


def test_driver_check_without_what_it_needs() -> None:
    assert driver_checks.check_driver_for_image("b", None, H200).status == "warn"  # not pulled yet
    plain = driver_checks.check_driver_for_image("python:3.11", {"PATH": "/usr/bin"}, H200)
    assert plain.status == "ok" and "no driver need" in plain.detail
    assert driver_checks.check_driver_for_image("b", NGC_ENV, []).status == "warn"


def test_wsl() -> None:
    assert checks.check_wsl(LINUX, "/home/me/p") == checks.CheckResult("WSL2", "ok", "not WSL")
    assert checks.check_wsl(None, "/home/me/p").status == "ok"
    home = checks.check_wsl(WSL, "/home/me/p")
    assert home.status == "ok" and "Windows NVIDIA driver" in home.detail
    drive = checks.check_wsl(WSL, "/mnt/c/Users/me/p")
    assert drive.status == "warn" and "--poll" in drive.fix


def test_disk_ports_inotify() -> None:
    assert checks.check_disk(10 * 10**9, "/var/lib/docker").status == "warn"
    roomy = checks.check_disk(100 * 10**9, "/var/lib/docker")
    assert roomy.detail == "100 GB free on /var/lib/docker"
    assert checks.check_disk(None, "/x").status == "warn"
    assert checks.check_port("torch", "127.0.0.1", 8888, False, False).status == "ok"
    assert "running torch lab" in checks.check_port("torch", "", 8888, True, True).detail
    taken = checks.check_port("tf", "127.0.0.1", 8889, True, False)
    # `up` moves a lab off a taken default port by itself: worth a warning, not a failure
    assert taken.status == "warn" and "JLC_TF_PORT" in taken.fix and "another program" in taken.detail
    assert checks.check_inotify("524288\n", "128\n").status == "ok"
    low = checks.check_inotify("4096\n", "64\n")
    assert low.status == "warn"
    assert "max_user_watches" in low.fix and "max_user_instances" in low.fix
    assert checks.check_inotify(None, None).status == "ok"


# -- the gatherer, with a fake engine and a fake host -------------------------------------
def fake_host(
    *,
    gpus: list[GpuInfo] | None = None,
    busy: set[int] | None = None,
    files: dict[str, str] | None = None,
    free: int = 200 * 10**9,
    environ: dict[str, str] | None = None,
) -> Host:
    found = list(gpus or [])
    texts = {
        "/proc/version": LINUX,
        "/proc/sys/fs/inotify/max_user_watches": "524288\n",
        "/proc/sys/fs/inotify/max_user_instances": "128\n",
        **(files or {}),
    }
    return Host(
        read=texts.get,
        gpus=lambda: (found, "NVML" if found else ""),
        disk_free=lambda path: free,
        port_in_use=lambda ip, port: port in (busy or set()),
        environ=environ or {},
    )


def _run(
    project: Project | None, engine: FakeEngine, host: Host, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = doctor(project, engine, as_json=True, host=host)
    doc = json.loads(capsys.readouterr().out)
    return code, {c["name"]: c for c in doc["checks"]} | {"ok": doc["ok"]}


def test_healthy_gpu_machine(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.gpu = True
    engine.image_store["jlcompose/demo-torch:abc123"] = {"org.jlcompose.hash": "abc123"}
    engine.image_envs["base:1"] = NGC_ENV
    code, rows = _run(project, engine, fake_host(gpus=H200), capsys)
    assert code == 0 and rows["ok"] is True
    assert rows["GPU in Docker"]["status"] == "ok"
    assert ("gpu_probe", "jlcompose/demo-torch:abc123") in engine.calls
    assert rows["driver for base:1"]["status"] == "ok"
    assert rows["port 18888"]["status"] == "ok" and rows["port 18889"]["status"] == "ok"
    assert {r["status"] for n, r in rows.items() if n != "ok"} == {"ok"}


def test_engine_down_is_a_failed_row_not_a_crash(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.fail_info = EngineError(
        "the `docker` command was not found on PATH.", hint="install Docker Engine"
    )
    code, rows = _run(project, engine, fake_host(), capsys)
    assert code == 1 and rows["ok"] is False
    assert rows["docker"]["status"] == "fail" and rows["docker"]["fix"] == "install Docker Engine"
    assert "GPU in Docker" not in rows  # nothing to probe with
    assert not any(c[0] == "gpu_probe" for c in engine.calls)
    assert rows["host GPUs"]["status"] == "warn" and rows["inotify"]["status"] == "ok"


def test_cpu_machine_without_images_only_warns(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = _run(project, engine, fake_host(free=5 * 10**9), capsys)
    assert code == 0
    assert rows["GPU in Docker"] == {
        "name": "GPU in Docker",
        "status": "warn",
        "detail": "no local image to probe with",
        "fix": "run `jlcompose up` once, then `jlcompose doctor` again",
    }
    assert rows["driver for base:1"]["status"] == "warn"
    assert rows["disk"]["status"] == "warn"


def test_a_port_taken_by_another_program_warns(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, rows = _run(project, engine, fake_host(busy={18889}), capsys)
    assert code == 0 and rows["port 18889"]["status"] == "warn"
    # the same port held by this project's own running lab is fine
    engine.running["tf"] = ContainerInfo(
        id="c1",
        name="demo-tf-1",
        service="tf",
        project="demo",
        state="running",
        health="healthy",
        image="x",
    )
    code, rows = _run(project, engine, fake_host(busy={18889}), capsys)
    assert code == 0 and "running tf lab" in rows["port 18889"]["detail"]


def test_ports_from_dotenv_when_compose_says_nothing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    (project.root / ".env").write_text("JLC_TORCH_PORT=9999\n")
    engine = FakeEngine(compose_config={})
    _code, rows = _run(project, engine, fake_host(environ={"JLC_TF_PORT": "7777"}), capsys)
    assert "port 9999" in rows and "port 7777" in rows


def test_probe_with_the_base_image_and_probe_errors(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine.image_envs["base:1"] = NGC_ENV  # pulled, but no lab image built yet
    _code, rows = _run(project, engine, fake_host(gpus=H200), capsys)
    assert ("gpu_probe", "base:1") in engine.calls
    assert rows["GPU in Docker"]["status"] == "fail"  # FakeEngine.gpu is False: no toolkit

    def fail(image: str) -> bool:
        raise ComposeFailed(
            "probing the engine for GPU support failed.", cmd=[], returncode=1, stderr_tail=""
        )

    monkeypatch.setattr(engine, "gpu_probe", fail)
    code, rows = _run(project, engine, fake_host(gpus=H200), capsys)
    assert code == 0 and rows["GPU in Docker"]["status"] == "warn"
    assert "probing the engine for GPU support failed" in rows["GPU in Docker"]["detail"]


def test_outside_a_project(engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    code, rows = _run(None, engine, fake_host(files={"/proc/version": WSL}), capsys)
    assert code == 0
    assert rows["GPU in Docker"]["detail"] == "no local image to probe with"
    assert not any(name.startswith(("port", "driver for")) for name in rows)
    assert "WSL2" in rows["WSL2"]["detail"]


def test_table_output(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    engine.fail_info = EngineError("the Docker daemon is not running.", hint="start Docker")
    assert doctor(project, engine, as_json=False, host=fake_host()) == 1
    out, err = capsys.readouterr()
    assert "docker" in out and "fail" in out and "start Docker" in out
    assert "1 check(s) failed" in err
    assert doctor_module.DEFAULT_PORTS == {"torch": 8888, "tf": 8889}


def test_a_port_held_by_another_project_names_it(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    theirs = ContainerInfo(
        "o1", "theirs-torch-1", "torch", "theirs", "running", None, "img", {"org.jlcompose.hash": "h"}
    )
    engine.published[18888] = theirs
    code, rows = _run(project, engine, fake_host(busy={18888, 18889}), capsys)
    assert (
        rows["port 18888"]["detail"]
        == "127.0.0.1:18888 (the torch lab's port) is used by the torch lab of jlcompose project theirs"
    )
    assert rows["port 18889"]["detail"].endswith("is used by another program")
    assert code == 0  # warnings: `up` moves the labs by itself


# -- doctor before the pull: the image config from the registry -------------------------
REQUIRE = "cuda>=13.0 brand=tesla,driver>=535,driver<536 brand=nvidia,driver>=570,driver<571"


@pytest.mark.parametrize(
    ("env", "need", "compat"),
    [
        ({"CUDA_DRIVER_VERSION": "580.95.05", "NVIDIA_REQUIRE_CUDA": REQUIRE}, 580, (535, 570)),
        ({"NVIDIA_REQUIRE_CUDA": "cuda>=12.8"}, 570, ()),
        ({"NVIDIA_REQUIRE_CUDA": "cuda>=12.7 brand=tesla,driver>=470,driver<471"}, 560, (470,)),
        ({"NVIDIA_REQUIRE_CUDA": "cuda>=14.1"}, 580, ()),  # newer than the table: its last row
        ({"NVIDIA_REQUIRE_CUDA": "cuda>=10.2"}, None, ()),
        ({"PATH": "/usr/bin"}, None, ()),
    ],
)
def test_what_an_image_env_needs(env: dict[str, str], need: int | None, compat: tuple[int, ...]) -> None:
    found = driver_checks.driver_need(env)
    assert (found.need, found.compat if need else ()) == (need, compat)


def test_forward_compatibility_only_on_the_branches_the_image_lists() -> None:
    env = {"CUDA_VERSION": "13.0.2", "CUDA_DRIVER_VERSION": "580.95.05", "NVIDIA_REQUIRE_CUDA": REQUIRE}
    h100 = [GpuInfo(0, "NVIDIA H100 80GB HBM3", "570.124.06", None)]
    listed = driver_checks.check_driver_for_image("img", env, h100, source="the registry")
    assert listed.status == "warn"
    assert listed.detail == (
        "CUDA 13.0.2 needs driver 580+ (580.95.05); host has 570.124.06 (read from the registry, not pulled): "
        "runs only through CUDA forward compatibility (the image accepts branch 570)"
    )
    unlisted = driver_checks.check_driver_for_image(
        "img", env, [GpuInfo(0, "NVIDIA H100", "550.54.15", None)]
    )
    assert unlisted.status == "fail" and "not one of the branches it accepts (535, 570)" in unlisted.detail


def test_doctor_reads_a_base_image_that_is_not_here_from_its_registry(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.remote["base:1"] = RemoteImage("base:1", "docker.io", (("sha256:" + "a" * 64, 10),), NGC_ENV)
    rtx = [GpuInfo(0, "NVIDIA GeForce RTX 4090", "570.86.15", None)]
    code, rows = _run(project, engine, fake_host(gpus=rtx), capsys)
    assert rows["driver for base:1"] == {
        "name": "driver for base:1",
        "status": "fail",
        "detail": "CUDA 13.0.2 needs driver 580+ (580.95.05); host has 570.86.15 (read from the registry, not pulled)",
        "fix": "upgrade the NVIDIA driver to 580 or newer, or pick an older base image in .env",
    }
    assert code == 1 and ("remote_image", "base:1") in engine.calls
    assert not any(c[0] == "pull" for c in engine.calls)
    engine.calls.clear()
    engine.image_envs["base:1"] = NGC_ENV  # once pulled, the local image answers
    _run(project, engine, fake_host(gpus=rtx), capsys)
    assert ("remote_image", "base:1") not in engine.calls


@pytest.mark.parametrize(
    ("kind", "message", "fix"),
    [
        (
            "denied",
            "nvcr.io wants a login for nvcr.io/nvidia/pytorch:25.10-py3.",
            "`docker login nvcr.io`, then doctor again",
        ),
        (
            "unknown",
            "nvcr.io has no image nvcr.io/nvidia/pytorch:25.10-py3.",
            "check the base image's name and tag in .env",
        ),
        (
            "unreachable",
            "nvcr.io could not be reached.",
            "check the network, or run `jlcompose up` (it pulls), then doctor again",
        ),
        (
            "tls",
            "the TLS certificate of nvcr.io is not trusted here.",
            "trust the proxy's CA (/etc/docker/certs.d/nvcr.io/ca.crt, the system's store)",
        ),
    ],
)
def test_a_registry_that_does_not_say_is_a_warning_with_its_fix(
    project: Project,
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    message: str,
    fix: str,
) -> None:
    engine.remote["base:1"] = RegistryError(message, kind=kind, registry="nvcr.io")
    code, rows = _run(project, engine, fake_host(gpus=H200), capsys)
    row = rows["driver for base:1"]
    assert (row["status"], row["fix"]) == ("warn", fix)
    assert row["detail"] == f"not checked: not pulled, and {message.rstrip('.')}"
    assert code == 0
