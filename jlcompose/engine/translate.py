"""Pure: what the docker CLI's and Compose's error text means, as one typed JlcomposeError.

python-on-whales picks its exception class by searching stderr too (utils.get_docker_exception_type);
these rules are jlcompose's own, so the boundary can say one sentence with a fix.
"""

from __future__ import annotations

import re

from jlcompose.core.composemodel import service_variable
from jlcompose.core.imageref import registry_of
from jlcompose.core.pipfailure import explain_failure
from jlcompose.errors import (
    BuildFailed,
    DaemonDenied,
    DaemonDown,
    EngineError,
    GpuUnavailable,
    ImageMissing,
    PortTaken,
    SshFailed,
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
# "#3 [torch internal] load metadata for docker.io/nosuch/image:1" then "#3 ERROR: ..."
_METADATA = re.compile(r"^#(\d+) \[[^\]]*\] load metadata for (\S+)", re.MULTILINE)


# the docker CLI's ssh transport: "command [ssh -o ConnectTimeout=30 -T -l me -p 22 -- gpu-box docker
# system dial-stdio] has exited with exit status 255, make sure ...: stderr=ssh: connect to host ..."
_SSH_COMMAND = re.compile(
    r"command \[ssh (?P<args>[^\]]*)\] has exited with exit status \d+.*?stderr=(?P<why>.*)", re.S
)
_SSH_REASONS = (
    (
        "Connection refused",
        "nothing listens for SSH there",
        "check the host and port in DOCKER_HOST (or the context), and that sshd runs",
    ),
    (
        "Permission denied",
        "the server refused the login",
        "docker and jlcompose log in with a key: `ssh-copy-id USER@HOST`, or load the key into ssh-agent",
    ),
    (
        "Host key verification failed",
        "the server's host key is not known (or changed)",
        "run `ssh USER@HOST` once and accept its key",
    ),
    (
        "Could not resolve hostname",
        "the host name is unknown",
        "check the name in DOCKER_HOST (or the context)",
    ),
    ("timed out", "the server did not answer in time", "check the network or VPN"),
    ("No route to host", "the network cannot reach it", "check the network or VPN"),
    (
        "command not found",
        "the server has no `docker` command on the PATH of SSH sessions",
        "install Docker there, or put docker on the PATH of non-interactive shells",
    ),
)


def ssh_failure(text: str, host: str | None = None) -> SshFailed | None:
    """SshFailed when `text` is the docker CLI's (or ssh's own) report of a failed SSH connection."""
    m = _SSH_COMMAND.search(text)
    if m is not None:
        args = m.group("args").split()
        target = args[args.index("--") + 1] if "--" in args[:-1] else (host or "the Docker host")
        if "-l" in args[:-1]:
            target = f"{args[args.index('-l') + 1]}@{target}"
        why = m.group("why").strip().splitlines()[0].strip() if m.group("why").strip() else ""
    elif host is not None and (line := _ssh_line(text)) is not None:
        target, why = host, line
    else:
        return None
    for needle, reason, fix in _SSH_REASONS:
        if needle.lower() in why.lower():
            return SshFailed(target, f"{reason}.", hint=fix.replace("USER@HOST", target) + ".", detail=why)
    return SshFailed(
        target,
        f"{why.rstrip('.') or 'ssh gave no reason'}.",
        hint=f"check that `ssh {target} docker version` works from this shell.",
        detail=tail(text, 3),
    )


def _ssh_line(text: str) -> str | None:
    for line in text.splitlines():
        low = line.lower()
        if line.startswith(("ssh: ", "channel_setup_fwd_listener", "bind [")) or any(
            n.lower() in low for n, _r, _f in _SSH_REASONS[:5]
        ):
            return line.strip()
    return None


def engine_gone(text: str) -> EngineError | None:
    """DaemonDown, DaemonDenied or SshFailed when `text` says the daemon is out of reach, else None."""
    if (ssh := ssh_failure(text)) is not None:
        return ssh
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


def base_image_failure(service: str, text: str) -> ImageMissing | None:
    """The build could not fetch its FROM image: which one, from where, and what to do."""
    for m in _METADATA.finditer(text):
        failed = re.search(rf"^#{m.group(1)} ERROR:\s*(.*)$", text, re.MULTILINE)
        if failed is not None:
            return _base_image_missing(service, m.group(2), failed.group(1).strip() or "no reason given")
    return None


def pull_failure(service: str, ref: str, stderr: str) -> ImageMissing:
    """A failed `docker pull` of a service's base image, as one sentence with its fix."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    reason = lines[-1].removeprefix("Error response from daemon: ") if lines else "no reason given"
    return _base_image_missing(service, ref, reason)


_DENIED = ("unauthorized", "authentication required", "no basic auth credentials", "denied", " 401 ")
_TLS = ("x509", "certificate")
_UNKNOWN = ("not found", "manifest unknown", "does not exist", "name unknown", "not known to registry")


def _base_image_missing(service: str, full_ref: str, reason: str) -> ImageMissing:
    ref = full_ref.removeprefix("docker.io/library/").removeprefix("docker.io/")
    registry = registry_of(full_ref)
    variable = service_variable(service, "BASE")
    low = f" {reason.lower()} "
    local = f"set {variable} in .env to an image already on this machine (`docker images`)"
    if "pull access denied" in low:  # Docker Hub says this for a private and a missing repository
        why = "no such image there, or it needs a login"
        fix = f"check the name, or `docker login {registry}`; or {local}"
    elif any(w in low for w in _DENIED):
        why = "the registry refused it (not logged in?)"
        fix = f"`docker login {registry}`"
        if registry == "nvcr.io":
            fix += " (user `$oauthtoken`, password: your NGC API key)"
        fix += ", then try again"
    elif any(w in low for w in _TLS):
        why = "its TLS certificate is not trusted (a TLS-inspecting proxy?)"
        fix = (
            f"put the proxy's CA certificate in /etc/docker/certs.d/{registry}/ca.crt for Docker's pull "
            "and in docker_files/certs/ for the build"
        )
    elif any(w in low for w in _UNKNOWN):
        why = "no such image there"
        fix = f"check the name and tag, or {local}"
    else:
        why = f"{registry} could not be reached"
        fix = f"check the network or Docker's proxy settings, or {local}"
    return ImageMissing(
        f"the base image {ref} of {service} could not be fetched from {registry}: {why}.",
        hint=fix + "; the running lab (if any) was left as it was.",
        detail=reason,
    )


_STEP_LINE = re.compile(r"^#(\d+) (?:\d+\.\d+ )?(.*)$")


def _failed_step(text: str) -> list[str]:
    """The output lines of the build step that failed, without BuildKit's `#N 0.317 ` prefixes."""
    failed = re.search(r"^#(\d+) ERROR:", text, re.MULTILINE)
    if failed is None:
        return []
    out = []
    for line in text.splitlines():
        m = _STEP_LINE.match(line)
        if m and m.group(1) == failed.group(1) and not m.group(2).startswith(("ERROR:", "[", "DONE")):
            out.append(m.group(2))
    return out


def install_failure(service: str, text: str) -> BuildFailed | None:
    """A requirements step that failed: the same explanation as a failed hot install."""
    lines = _failed_step(text)
    if not lines:
        return None
    explained = explain_failure(service, [], lines, 1)
    if "exited with code" in explained.message:
        return None  # nothing recognised: BuildKit's own tail says more
    return BuildFailed(
        f"building the {service} image failed: {explained.message}",
        hint=f"{explained.hint} The running lab (if any) was left as it was."
        if explained.hint
        else "the running lab (if any) was left as it was.",
        detail=explained.detail,
    )


def build_failure(service: str, text: str) -> BuildFailed:
    if (missing := base_image_failure(service, text)) is not None:
        return missing
    if (failed := install_failure(service, text)) is not None:
        return failed
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
