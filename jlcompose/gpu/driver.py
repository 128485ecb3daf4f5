"""Pure: the host driver against what an image's ENV says it needs (doctor's `driver for` rows)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from jlcompose.errors import RegistryError
from jlcompose.gpu.checks import CheckResult
from jlcompose.gpu.nvml import GpuInfo

# CUDA forward compatibility (a newer CUDA on an older driver) works on data-center GPUs only
_DATA_CENTER = re.compile(
    r"\b(A100|A800|A30|A40|A10G?|A16|A2|H100|H800|H200|H20|GH200|B100|B200|GB200|L4|L40S?|"
    r"T4|V100|Tesla)\b"
)


def _major(version: str) -> int | None:
    m = re.match(r"\s*(\d+)", version)
    return int(m.group(1)) if m else None


# The driver branch each CUDA release needs in full (CUDA's release notes, "CUDA Toolkit and
# Corresponding Driver Versions", Linux): for images that set only NVIDIA_REQUIRE_CUDA.
CUDA_DRIVER = {
    (11, 0): 450, (11, 1): 455, (11, 2): 460, (11, 3): 465, (11, 4): 470, (11, 5): 495,
    (11, 6): 510, (11, 7): 515, (11, 8): 520, (12, 0): 525, (12, 1): 530, (12, 2): 535,
    (12, 3): 545, (12, 4): 550, (12, 5): 555, (12, 6): 560, (12, 8): 570, (12, 9): 575,
    (13, 0): 580,
}  # fmt: skip


@dataclass(frozen=True)
class DriverNeed:
    """What an image's ENV says about the host driver it needs."""

    need: int | None  # the driver branch it needs in full
    said: str  # how the image says it, for the detail column
    compat: tuple[int, ...] = ()  # branches NVIDIA_REQUIRE_CUDA also accepts (forward compatibility)


def driver_need(env: Mapping[str, str]) -> DriverNeed:
    """NGC's CUDA_DRIVER_VERSION when set; else NVIDIA_REQUIRE_CUDA's `cuda>=X.Y` (via CUDA_DRIVER).

    NVIDIA_REQUIRE_CUDA is what the NVIDIA Container Toolkit checks at start:
    "cuda>=13.0 brand=tesla,driver>=535,driver<536 ...": the CUDA version, or one of the
    listed driver branches on those GPU brands (forward compatibility on data-center GPUs).
    """
    require = env.get("NVIDIA_REQUIRE_CUDA", "")
    compat = tuple(sorted({int(n) for n in re.findall(r"driver>=(\d+)", require)}))
    exact = env.get("CUDA_DRIVER_VERSION", "")
    if (need := _major(exact)) is not None:
        return DriverNeed(need, f"needs driver {need}+ ({exact})", compat)
    m = re.search(r"cuda>=(\d+)\.(\d+)", require)
    if m is None:
        return DriverNeed(None, "")
    cuda = (int(m.group(1)), int(m.group(2)))
    known = [v for v in CUDA_DRIVER if v <= cuda]
    if not known:
        return DriverNeed(None, "")
    need = CUDA_DRIVER[max(known)]
    return DriverNeed(need, f"needs driver {need}+ (NVIDIA_REQUIRE_CUDA: cuda>={cuda[0]}.{cuda[1]})", compat)


def check_driver_for_image(
    image: str, env: Mapping[str, str] | None, gpus: Sequence[GpuInfo], *, source: str = ""
) -> CheckResult:
    """The host driver's major branch against what the image's ENV needs (NGC images say it).

    `source` says where the ENV came from when not from a local image ("the registry").
    """
    name = f"driver for {image}"
    if env is None:
        return CheckResult(
            name,
            "warn",
            "not checked: the image is not on this machine yet",
            "run `jlcompose up` (it pulls and builds), then doctor again",
        )
    need = driver_need(env)
    where = f" (read from {source}, not pulled)" if source else ""
    if need.need is None:
        return CheckResult(name, "ok", f"the image states no driver need (not an NGC image){where}")
    if not gpus:
        return CheckResult(
            name,
            "warn",
            f"needs driver {need.need} or newer; no driver on this host{where}",
            "install the NVIDIA driver to use a GPU",
        )
    have = _major(gpus[0].driver)
    cuda = env.get("CUDA_VERSION", "")
    what = f"CUDA {cuda} {need.said}" if cuda else need.said
    host = f"host has {gpus[0].driver}{where}"
    if have is not None and have >= need.need:
        return CheckResult(name, "ok", f"{what}; {host}")
    fix = f"upgrade the NVIDIA driver to {need.need} or newer, or pick an older base image in .env"
    if all(_DATA_CENTER.search(g.name) for g in gpus):
        if not need.compat or have in need.compat:
            listed = f" (the image accepts branch {have})" if need.compat else ""
            return CheckResult(
                name,
                "warn",
                f"{what}; {host}: runs only through CUDA forward compatibility{listed}",
                fix,
            )
        branches = ", ".join(map(str, need.compat))
        return CheckResult(
            name, "fail", f"{what}; {host}, not one of the branches it accepts ({branches})", fix
        )
    return CheckResult(name, "fail", f"{what}; {host}", fix)


def check_driver_unread(image: str, error: RegistryError) -> CheckResult:
    """The image is not here and its registry did not say what it needs."""
    fixes = {
        "denied": f"`docker login {error.registry}`, then doctor again",
        "unknown": "check the base image's name and tag in .env",
        "tls": f"trust the proxy's CA (/etc/docker/certs.d/{error.registry}/ca.crt, the system's store)",
    }
    fix = fixes.get(error.kind, "check the network, or run `jlcompose up` (it pulls), then doctor again")
    return CheckResult(
        f"driver for {image}", "warn", f"not checked: not pulled, and {error.message.rstrip('.')}", fix
    )
