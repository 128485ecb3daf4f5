"""The first `up` meets a base image that is not here: a real pull through a local registry.

The registries come from `scripts/engine.sh registry-up` (the `registries` fixture): the bases
jlcompose-test/ngc-like:pull-a and :pull-b are ngc-like:1 plus 10 layers of random bytes
(100 MB) made for this run, so the pull downloads them; the other layers "Already exist". One
base per test: once a build used them, BuildKit's cache keeps the layers on this machine. Off a
terminal `up` prints a line every 10 %; on one (a pty here), bytes, rate and time left.
Registries that cannot serve the image each get one sentence naming image, registry and fix.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import (
    Registries,
    copy_template,
    docker_config,
    free_port,
    image_present,
    run_cli,
)

pytestmark = pytest.mark.docker

SIZE = r"[\d.]+ [kMG]?B"
PERCENT_LINE = re.compile(
    rf"^  torch: base image ({SIZE}) of ({SIZE}) \((\d+)%\), ({SIZE})/s, about (.+?) left, (\d+)/(\d+) layers$"
)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


def _rmi(ref: str) -> None:
    subprocess.run(["docker", "image", "rm", "-f", ref], capture_output=True, timeout=120)


def _project(root: Path, base: str) -> str:
    copy_template(root)
    name = f"jlcp{uuid.uuid4().hex[:8]}"
    (root / ".env").write_text(
        f"JLC_PROJECT={name}\nJLC_TORCH_BASE={base}\nJLC_TF_BASE={base}\n"
        f"JLC_TORCH_PORT={free_port()}\nJLC_TF_PORT={free_port()}\nJLC_SHM_SIZE=256m\n"
    )
    return name


def _cleanup(root: Path, name: str) -> None:
    run_cli("down", "--volumes", cwd=root, timeout=120)  # the caches too
    images = subprocess.run(
        ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"jlcompose/{name}-*"],
        capture_output=True,
        text=True,
    ).stdout.split()
    for ref in images:
        _rmi(ref)


@pytest.fixture
def pull_project(
    tmp_path: Path, registries: Registries, request: pytest.FixtureRequest
) -> Iterator[tuple[Path, str]]:
    """A project whose base image (the tag the test names) is in the registry and not here."""
    base = registries.ref(request.param)
    assert not image_present(base), f"{base} is here already: run scripts/engine.sh registry-up again"
    root = tmp_path / "proj"
    name = _project(root, base)
    yield root, base
    _cleanup(root, name)
    _rmi(base)  # its layers may stay in BuildKit's cache: no second test pulls this tag


@pytest.mark.parametrize("pull_project", ["pull-a"], indirect=True)
def test_first_up_pulls_through_the_registry_with_a_line_every_ten_percent(
    pull_project: tuple[Path, str],
) -> None:
    root, base = pull_project
    res = run_cli("up", "torch", cwd=root, timeout=900)  # off a terminal: pipes, as in CI
    assert res.returncode == 0, res.stderr
    err = res.stderr.splitlines()
    head = next(line for line in err if "pulling base image" in line)
    # 14 layers in the registry's manifest; 10 of them (100 MiB of random bytes) are new here
    assert re.fullmatch(rf"> torch: pulling base image {re.escape(base)} \(\d+ MB in 14 layers\); .*", head)
    steps = [m for line in err if (m := PERCENT_LINE.match(line))]
    percents = [int(m.group(3)) for m in steps]
    assert len(steps) >= 4, res.stderr
    # one line per 10 % step reached, in order, never 100 % (that line says "downloaded")
    assert [p // 10 for p in percents] == sorted({p // 10 for p in percents}) and percents[-1] < 100
    assert {m.group(2) for m in steps} == {"105 MB"}  # the 10 new layers, compressed
    assert all(int(m.group(7)) == 10 for m in steps)  # the 4 layers already here are not counted
    done = next(line for line in err if "downloaded in" in line)
    assert re.fullmatch(rf"  torch: base image 105 MB downloaded in \d+ s, {SIZE}/s; unpacking", done)
    assert any(re.fullmatch(r"  torch: base image unpacking: 10 of 10 layers \(100%\)", line) for line in err)
    pulled = rf"✓ torch: pulled {re.escape(base)} in \d+ s \(105 MB downloaded in \d+ s, {SIZE}/s\)"
    assert any(re.fullmatch(pulled, line) for line in err), res.stderr
    # the probe and the wait say what they wait for, and afterwards how long it took
    assert any(
        re.fullmatch(r"checking whether this Docker engine can give containers a GPU .* \.\.\.", ln)
        for ln in err
    )
    assert any(re.fullmatch(r"GPU probe: (no GPU|GPUs given), after \d+\.\d s", line) for line in err)
    port = re.search(r"JLC_TORCH_PORT=(\d+)", (root / ".env").read_text())
    assert port is not None
    waited = (
        f"torch: waiting for JupyterLab to answer on http://127.0.0.1:{port.group(1)} (at most 180 s) ..."
    )
    # JupyterLab takes seconds to start: longer than the one second `up` waits before it says so
    assert waited in err, res.stderr
    assert any(re.fullmatch(r"✓ torch: JupyterLab answered after \d+\.\d s", line) for line in err)
    assert image_present(base)
    # the pulled base counts in the hash from now on: the next `up` changes nothing
    again = run_cli("up", "torch", cwd=root, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "torch: running, nothing changed" in again.stderr
    assert "pulling" not in again.stderr and "building" not in again.stderr


def _run_on_a_pty(argv: list[str], cwd: Path, timeout: float) -> tuple[int, str, str]:
    """Run argv with stderr on a pseudo-terminal (160 columns): (exit code, stdout, terminal text)."""
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "JLCOMPOSE_PROJECT_NAME")}
    env.update(TERM="xterm-256color", COLUMNS="160")
    proc = subprocess.Popen(
        argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env
    )
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the last writer closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
        rc = proc.wait(timeout=60)
    finally:
        os.close(master)
    assert proc.stdout is not None
    with proc.stdout:
        out = proc.stdout.read().decode()
    return rc, out, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.parametrize("pull_project", ["pull-b"], indirect=True)
def test_on_a_terminal_the_pull_shows_bytes_rate_and_time_left(pull_project: tuple[Path, str]) -> None:
    root, base = pull_project
    rc, out, screen = _run_on_a_pty([sys.executable, "-m", "jlcompose", "up", "torch", "--cpu"], root, 900)
    text = ANSI.sub("\n", screen)
    assert rc == 0, text[-3000:]
    assert "/lab?token=" in out
    live = re.findall(rf"torch: base image ({SIZE}) of 105 MB \((\d+)%\), ({SIZE})/s, about (.+?) left", text)
    assert live, text[-3000:]
    assert all(0 < int(p) < 100 for _, p, _, _ in live)
    assert re.search(
        r"torch: waiting for JupyterLab to answer on http://127\.0\.0\.1:\d+ \(\d+ s of at most 180 s\)", text
    )
    assert f"torch: pulled {base} in " in text and "(105 MB downloaded in " in text


def _error_and_hint(stderr: str) -> tuple[str, str]:
    lines = stderr.splitlines()
    error = next(line for line in lines if line.startswith("error: "))
    hint = next(line for line in lines if line.startswith("hint: "))
    return error.removeprefix("error: "), hint.removeprefix("hint: ")


@pytest.mark.parametrize(
    ("case", "why", "fix"),
    [
        pytest.param(
            "unreachable",
            "{registry} could not be reached",
            "set JLC_TORCH_BASE in .env to an image already on this machine",
            id="unreachable",
        ),
        pytest.param(
            "unknown image",
            "no such image there",
            "check the name and tag, or set JLC_TORCH_BASE in .env",
            id="unknown-image",
        ),
        pytest.param(
            "no login",
            "the registry refused it (not logged in?)",
            "`docker login {registry}`, then try again",
            id="no-login",
        ),
        pytest.param(
            "refused login",
            "the registry refused it (not logged in?)",
            "`docker login {registry}`, then try again",
            id="refused-login",
        ),
        pytest.param(
            "untrusted proxy CA",
            "its TLS certificate is not trusted (a TLS-inspecting proxy?)",
            "/etc/docker/certs.d/{registry}/ca.crt for Docker's pull and in docker_files/certs/ for the build",
            id="untrusted-ca",
        ),
    ],
)
def test_a_base_image_that_cannot_be_pulled_is_one_sentence_with_its_fix(
    tmp_path: Path, registries: Registries, case: str, why: str, fix: str
) -> None:
    logins: dict[str, str] = {}
    if case == "unreachable":
        registry = f"127.0.0.1:{free_port()}"  # nothing listens there
        base = registries.ref("pull-a", registry)
    elif case == "unknown image":
        registry, base = registries.open, registries.ref("no-such-tag")
    elif case in ("no login", "refused login"):
        registry, base = registries.auth, registries.ref("pull-a", registries.auth)
        if case == "refused login":
            logins[registry] = "jlc:not-the-password"
    else:
        if not registries.tls:
            pytest.skip("no docker0 address here for a TLS registry that dockerd verifies")
        registry, base = registries.tls, registries.ref("pull-a", registries.tls)
    root = tmp_path / "proj"
    name = _project(root, base)
    env = {"DOCKER_CONFIG": str(docker_config(tmp_path / "docker", logins))}
    try:
        res = run_cli("up", "torch", "--cpu", cwd=root, env=env, timeout=300)
        assert res.returncode == 4, res.stderr
        error, hint = _error_and_hint(res.stderr)
        assert (
            error
            == f"the base image {base} of torch could not be fetched from {registry}: {why.format(registry=registry)}."
        )
        assert fix.format(registry=registry) in hint and "left as it was" in hint
        assert "building image" not in res.stderr and "#1 " not in res.stderr  # no BuildKit log
        assert not image_present(base)
    finally:
        _cleanup(root, name)
