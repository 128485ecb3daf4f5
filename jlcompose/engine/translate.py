"""Pure: what the docker CLI's and Compose's error text means, as one typed JlcomposeError.

python-on-whales picks its exception class by searching stderr too (utils.get_docker_exception_type);
these rules are jlcompose's own, so the boundary can say one sentence with a fix.
"""

from __future__ import annotations

import re

from jlcompose.errors import (
    BuildFailed,
    DaemonDenied,
    DaemonDown,
    EngineError,
    GpuUnavailable,
    PortTaken,
    StartFailed,
)

# "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?" (CLI ≤ 28)
# "failed to connect to the docker API at unix:///x.sock; check if the path is correct ..." (CLI 29)
_DAEMON_AT = re.compile(
    r"(?:Cannot connect to the Docker daemon at|failed to connect to the docker API at)"
    r"\s+(\S+?)[.;]?(?:\s|$)",
    re.IGNORECASE,
)
_DENIED_AT = re.compile(
    r"permission denied while trying to connect to the Docker daemon socket at (\S+?):?\s"
)
GPU_DRIVER_ERROR = re.compile(r"could not select device driver .* with capabilities: \[\[gpu\]\]")
_PORT_TAKEN = ("port is already allocated", "address already in use")


def engine_gone(text: str) -> EngineError | None:
    """DaemonDown or DaemonDenied when `text` says the daemon is out of reach, else None."""
    if m := _DAEMON_AT.search(text):
        return DaemonDown(m.group(1))
    if m := _DENIED_AT.search(text):
        return DaemonDenied(
            f"this user may not use the Docker daemon at {m.group(1)} (permission denied).",
            hint="add yourself to the `docker` group (`sudo usermod -aG docker $USER`) and log in again.",
        )
    if "error during connect" in text:  # Docker Desktop on Windows, and the ssh:// transport
        return DaemonDown("the configured Docker host", detail=tail(text, 3))
    return None


def start_failure(services: str, stderr: str) -> StartFailed:
    """What a failed `compose up` means."""
    if GPU_DRIVER_ERROR.search(stderr):
        return GpuUnavailable(
            "the Docker engine cannot give this container a GPU (no NVIDIA runtime).",
            hint="install the NVIDIA Container Toolkit, or run with --cpu.",
            detail=tail(stderr),
        )
    if any(s in stderr for s in _PORT_TAKEN):
        return PortTaken(
            "the lab's host port is already in use by another program.",
            hint="stop that program, or pick another port in .env (JLC_TORCH_PORT / JLC_TF_PORT).",
            detail=tail(stderr),
        )
    return StartFailed(
        f"starting {services} failed.",
        hint="see the Docker message above; `jlcompose logs` shows the lab's output.",
        detail=tail(stderr),
    )


def build_failure(service: str, text: str) -> BuildFailed:
    return BuildFailed(
        f"building the {service} image failed; the running lab (if any) was left as it was.",
        hint="fix the error above (often a package name or version in requirements), "
        "then run `jlcompose up` again.",
        detail=build_error_tail(text),
    )


def compose_reason(stderr: str) -> str:
    """The last line of Compose's complaint, as a sentence."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and "level=warning" not in ln]
    reason = lines[-1] if lines else "no reason given"
    return reason if reason.endswith(".") else reason + "."


def build_error_tail(text: str) -> str:
    """The lines of a BuildKit log that explain a failure, not the whole log."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if " ERROR" in line or line.startswith("ERROR") or "failed to solve" in line:
            return "\n".join(lines[max(0, i - 12) : i + 6])
    return "\n".join(lines[-15:])


def parse_version(text: str) -> tuple[int, ...]:
    m = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(x) for x in m.groups()) if m else ()


def tail(text: str | None, lines: int = 15) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])
