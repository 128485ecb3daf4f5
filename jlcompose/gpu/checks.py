"""Pure doctor checks: values in (file text, command output), one CheckResult out."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from jlcompose.core.composemodel import service_variable
from jlcompose.engine.api import MIN_COMPOSE, EngineInfo
from jlcompose.errors import ComposeMissing, ComposeTooOld, JlcomposeError
from jlcompose.gpu.nvml import GpuInfo

Status = Literal["ok", "warn", "fail"]
NGC_IMAGE_GB = 20  # an NGC PyTorch/TensorFlow image unpacked (techref: 20-23 GB)
MIN_FREE_GB = 25  # the image plus room for its compressed layers while they extract
MIN_INOTIFY_WATCHES = 8192
MIN_INOTIFY_INSTANCES = 128
_WSL = re.compile(r"microsoft|wsl", re.IGNORECASE)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _version(parts: Sequence[int]) -> str:
    return ".".join(map(str, parts))


def check_compose_version(version: str) -> CheckResult:
    found = tuple(int(x) for x in re.findall(r"\d+", version)[:3])
    if len(found) == 3 and found >= MIN_COMPOSE:
        return CheckResult("compose", "ok", f"Docker Compose {_version(found)}")
    return CheckResult(
        "compose",
        "fail",
        f"Docker Compose {version or '(unknown)'} is older than {_version(MIN_COMPOSE)}",
        "upgrade the docker-compose-plugin package",
    )


def check_engine(info: EngineInfo | None, error: JlcomposeError | None) -> list[CheckResult]:
    """The docker and compose rows from engine.info()'s result or the error it raised."""
    if info is not None:
        docker = CheckResult("docker", "ok", f"Docker Engine {info.server_version} answers")
        return [docker, check_compose_version(info.compose_version)]
    message = error.message if error else "the Docker engine did not answer"
    fix = (error.hint if error else None) or "see https://docs.docker.com/engine/install/"
    # info() checks the daemon before Compose: a Compose error means the daemon answered
    if isinstance(error, ComposeMissing | ComposeTooOld):
        return [
            CheckResult("docker", "ok", "Docker Engine answers"),
            CheckResult("compose", "fail", message.rstrip("."), fix),
        ]
    return [
        CheckResult("docker", "fail", message.rstrip("."), fix),
        CheckResult("compose", "warn", "not checked: Docker does not answer", "fix Docker first"),
    ]


def check_host_gpus(gpus: Sequence[GpuInfo], source: str) -> CheckResult:
    if not gpus:
        return CheckResult(
            "host GPUs",
            "warn",
            "no NVIDIA driver (neither NVML nor nvidia-smi answered): labs run on CPU",
            "install the NVIDIA driver to use a GPU; meanwhile `jlcompose up --cpu`",
        )
    names: dict[str, int] = {}
    for g in gpus:
        names[g.name] = names.get(g.name, 0) + 1
    listed = ", ".join(f"{n} x {name}" for name, n in names.items())
    return CheckResult("host GPUs", "ok", f"{listed}, driver {gpus[0].driver} (via {source})")


def check_engine_gpu(
    image: str | None, probe: bool | None, host_has_gpu: bool, error: str | None = None
) -> CheckResult:
    """Can the engine hand GPUs to containers (probe = engine.gpu_probe(image))?"""
    name = "GPU in Docker"
    if image is None:
        return CheckResult(
            name,
            "warn",
            "no local image to probe with",
            "run `jlcompose up` once, then `jlcompose doctor` again",
        )
    if error is not None:
        return CheckResult(name, "warn", f"the probe with {image} failed: {error}", "")
    if probe:
        return CheckResult(name, "ok", f"a container of {image} gets the GPUs")
    toolkit = (
        "install the NVIDIA Container Toolkit, run `sudo nvidia-ctk runtime configure "
        "--runtime=docker` and restart Docker"
    )
    if host_has_gpu:
        detail = "the host has GPUs but containers cannot get them"
        return CheckResult(name, "fail", detail, toolkit)
    return CheckResult(
        name,
        "warn",
        "containers get no GPU (none on this host): labs run on CPU",
        "`jlcompose up --cpu`; for a GPU: a driver and the NVIDIA Container Toolkit",
    )


def check_wsl(proc_version: str | None, project_dir: str) -> CheckResult:
    if not proc_version or not _WSL.search(proc_version):
        return CheckResult("WSL2", "ok", "not WSL")
    on_drive = re.match(r"^/mnt/[a-zA-Z](/|$)", project_dir) is not None
    caveat = "GPUs come through the Windows NVIDIA driver (install no Linux driver in WSL)"
    if on_drive:
        return CheckResult(
            "WSL2",
            "warn",
            f"the project is on a Windows drive ({project_dir}): Windows editors' saves send no "
            f"file events, and file access is slow; {caveat}",
            "move the project under ~ in WSL, or use `jlcompose watch --poll`",
        )
    return CheckResult("WSL2", "ok", f"WSL2, project on the Linux file system; {caveat}")


def check_disk(free_bytes: int | None, path: str) -> CheckResult:
    if free_bytes is None:
        return CheckResult("disk", "warn", f"could not read free space of {path}", "")
    free_gb = free_bytes / 1e9
    detail = f"{free_gb:.0f} GB free on {path}"
    if free_gb < MIN_FREE_GB:
        return CheckResult(
            "disk",
            "warn",
            f"{detail}; an NGC image takes ~{NGC_IMAGE_GB} GB (more while it unpacks)",
            "free space (`docker system df`, `jlcompose prune`) or move Docker's data-root",
        )
    return CheckResult("disk", "ok", detail)


def check_port(
    service: str, host_ip: str, port: int, in_use: bool, own: bool, *, holder: str = "another program"
) -> CheckResult:
    name = f"port {port}"
    where = f"{host_ip}:{port}" if host_ip else str(port)
    if not in_use:
        return CheckResult(name, "ok", f"{where} is free for the {service} lab")
    if own:
        return CheckResult(name, "ok", f"{where} is held by this project's running {service} lab")
    return CheckResult(
        name,
        "warn",
        f"{where} (the {service} lab's port) is used by {holder}",
        f"`jlcompose up` moves the lab to a free port by itself; to choose one, set "
        f"{service_variable(service, 'PORT')} in .env",
    )


def _int(text: str | None) -> int | None:
    try:
        return int((text or "").strip())
    except ValueError:
        return None


def check_inotify(max_watches: str | None, max_instances: str | None) -> CheckResult:
    watches, instances = _int(max_watches), _int(max_instances)
    if watches is None and instances is None:
        return CheckResult("inotify", "ok", "no inotify here: `watch` uses the native watcher")
    detail = f"max_user_watches={watches}, max_user_instances={instances}"
    low = []
    if watches is not None and watches < MIN_INOTIFY_WATCHES:
        low.append(f"fs.inotify.max_user_watches={MIN_INOTIFY_WATCHES * 64}")
    if instances is not None and instances < MIN_INOTIFY_INSTANCES:
        low.append(f"fs.inotify.max_user_instances={MIN_INOTIFY_INSTANCES * 4}")
    if low:
        return CheckResult(
            "inotify",
            "warn",
            f"{detail}: low; `watch` may fall back to polling",
            f"sudo sysctl {' '.join(low)} (persist in /etc/sysctl.d/)",
        )
    return CheckResult("inotify", "ok", detail)


def failed(results: Iterable[CheckResult]) -> bool:
    return any(r.status == "fail" for r in results)
