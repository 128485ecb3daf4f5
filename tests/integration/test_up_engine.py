"""`jlcompose up` against a real Docker engine and a real JupyterLab."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import container_id, project_name, run_cli

pytestmark = pytest.mark.docker


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _status(root: Path) -> dict[str, Any]:
    res = run_cli("status", "--json", cwd=root)
    assert res.returncode == 0, res.stderr
    return {row["service"]: row for row in json.loads(res.stdout)["services"]}


def _container_id(root: Path, name: str) -> str:
    assert name == project_name(root)
    return container_id(root, "torch")


def _project_name(root: Path) -> str:
    return project_name(root)


def _exec(cid: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "exec", cid, *argv], capture_output=True, text=True)


def test_lab_lifecycle(lab_project: Path) -> None:
    root, name = lab_project, _project_name(lab_project)
    req = root / "docker_files/torch/requirements.txt"
    original = req.read_bytes()

    first = run_cli("up", "torch", cwd=root)
    assert first.returncode == 0, first.stderr
    assert "building image" in first.stderr
    assert "starting on CPU" in first.stderr  # this engine has no NVIDIA runtime
    url = first.stdout.strip().splitlines()[-1]
    assert url.startswith("http://127.0.0.1:") and "/lab?token=" in url
    base, token = url.split("/lab?token=")
    assert len(token) >= 32
    assert _get(f"{base}/api/status?token={token}") == 200
    assert _get(f"{base}/api/status") == 403
    assert _get(f"{base}/api/status?token=wrong{token}") == 403
    token_file = root / ".jlcompose/token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    logs = run_cli("logs", "torch", cwd=root)
    assert token not in logs.stdout + logs.stderr
    cid1 = _container_id(root, name)

    # unchanged -> no build, same container
    # -v names every docker command run; the import log shows whether the Docker client was loaded
    again = run_cli("-v", "up", "torch", cwd=root, env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert again.returncode == 0, again.stderr
    # nothing changed and the lab answers: no Docker call at all, not even the client's import
    assert "running, nothing changed" in again.stderr and "building image" not in again.stderr
    assert not [line for line in again.stderr.splitlines() if line.startswith("$ ")], again.stderr
    assert "python_on_whales" not in again.stderr
    assert _container_id(root, name) == cid1
    assert again.stdout.strip() == url

    # a requirement edit -> new hash, build, container replaced, package importable
    req.write_bytes(original + b"six==1.16.0\n")
    edited = run_cli("up", "torch", cwd=root)
    assert edited.returncode == 0, edited.stderr
    assert "quick build" in edited.stderr  # only a line was added
    cid2 = _container_id(root, name)
    assert cid2 != cid1
    assert _exec(cid2, "python3", "-c", "import six; print(six.__version__)").stdout.strip() == "1.16.0"
    assert _status(root)["torch"]["image"] == "current"

    # a comment-only edit changes nothing that shapes the image
    req.write_bytes(original + b"six==1.16.0   # pinned for a test\n")
    comment = run_cli("up", "torch", cwd=root)
    assert "no build needed" in comment.stderr and _container_id(root, name) == cid2

    # revert -> the old image is reused without a build
    req.write_bytes(original)
    reverted = run_cli("up", "torch", cwd=root)
    assert reverted.returncode == 0, reverted.stderr
    assert "no build needed" in reverted.stderr and "building image" not in reverted.stderr
    cid3 = _container_id(root, name)
    assert cid3 != cid2
    assert _exec(cid3, "python3", "-c", "import jupyterlab").returncode == 0

    # a failing build leaves the running lab exactly as it was
    req.write_bytes(original + b"jlcompose-no-such-package-xyz==0.0.1\n")
    failed = run_cli("up", "torch", cwd=root)
    assert failed.returncode == 4, failed.stderr
    assert "left as it was" in failed.stderr
    assert _container_id(root, name) == cid3
    assert _get(f"{base}/api/status?token={token}") == 200
    assert _status(root)["torch"]["image"] == "stale"
    req.write_bytes(original)

    # files written from inside the lab belong to the host user
    made = _exec(cid3, "python3", "-c", "open('/workspace/made-in-lab.txt','w').write('x')")
    assert made.returncode == 0, made.stderr
    st = (root / "made-in-lab.txt").stat()
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())

    # prune keeps the current image and drops the others
    pruned = run_cli("prune", cwd=root)
    assert pruned.returncode == 0, pruned.stderr
    assert "removed" in pruned.stderr

    down = run_cli("down", cwd=root)
    assert down.returncode == 0, down.stderr
    assert _status(root)["torch"]["state"] == "not created"


def test_runs_as_another_uid(lab_project: Path) -> None:
    """The lab runs as JLC_UID:JLC_GID, so notebook files are never root's."""
    root, name = lab_project, _project_name(lab_project)
    # as root (CI) we can play a real non-root user; otherwise we are one already
    uid, gid = (4321, 4322) if os.getuid() == 0 else (os.getuid(), os.getgid())
    os.chown(root, uid, gid)
    res = run_cli("up", "torch", "--cpu", cwd=root, env={"JLC_UID": str(uid), "JLC_GID": str(gid)})
    assert res.returncode == 0, res.stderr
    cid = _container_id(root, name)
    # JupyterLab itself runs as you (the container starts as root for the install agent only)
    top = subprocess.run(["docker", "top", cid, "-o", "pid,uid,args"], capture_output=True, text=True).stdout
    assert any(line.split()[1] == str(uid) and "jupyter-lab" in line for line in top.splitlines()[1:]), top
    # a file saved from the lab, the way a user saves one (JupyterLab's contents API)
    url = res.stdout.strip().split("/lab?token=")
    request = urllib.request.Request(
        f"{url[0]}/api/contents/owned.txt",
        data=json.dumps({"type": "file", "format": "text", "content": "mine"}).encode(),
        method="PUT",
        headers={"Authorization": f"token {url[1]}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status in (200, 201)
    st = (root / "owned.txt").stat()
    assert (st.st_uid, st.st_gid) == (uid, gid)


def test_port_in_use_changes_nothing(lab_project: Path) -> None:
    root, name = lab_project, _project_name(lab_project)
    port = int(
        next(l for l in (root / ".env").read_text().splitlines() if l.startswith("JLC_TORCH_PORT=")).split(
            "="
        )[1]
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        res = run_cli("up", "torch", "--cpu", cwd=root)
    assert res.returncode == 5, res.stderr
    assert f"port {port} on 127.0.0.1 is used by another program" in res.stderr  # you chose it: kept
    ps = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={name}"],
        capture_output=True,
        text=True,
    )
    assert ps.stdout.strip() == ""


def test_stale_container_with_our_name_is_replaced(lab_project: Path) -> None:
    root, name = lab_project, _project_name(lab_project)
    squatter = subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            f"{name}-torch-1",
            "jlcompose-test/python:3.11",
            "sleep",
            "300",
        ],
        capture_output=True,
        text=True,
    )
    assert squatter.returncode == 0, squatter.stderr
    res = run_cli("up", "torch", "--cpu", cwd=root)
    assert res.returncode == 0, res.stderr
    assert "stale container" in res.stderr
    assert _container_id(root, name) != squatter.stdout.strip()[:12]


def test_plain_compose_fallback_without_jlcompose(lab_project: Path) -> None:
    """The shipped files work with docker compose alone (README "Without jlcompose")."""
    root = lab_project
    env_file = root / ".env"
    port = next(l for l in env_file.read_text().splitlines() if l.startswith("JLC_TORCH_PORT="))
    env_file.write_text(env_file.read_text() + f"JLC_UID={os.getuid()}\nJLC_GID={os.getgid()}\n")
    files = ["-f", "compose/compose.yaml", "-f", "compose/compose.cpu.yaml"]
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("JLC_", "JUPYTER_"))}
    up = subprocess.run(
        [
            "docker",
            "compose",
            "--env-file",
            ".env",
            *files,
            "up",
            "-d",
            "--build",
            "--wait",
            "torch",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=600,
    )
    assert up.returncode == 0, up.stderr
    base = f"http://127.0.0.1:{port.split('=')[1]}"
    assert _get(f"{base}/api") == 200
    assert _get(f"{base}/api/status") == 403  # JupyterLab made its own token
    logs = subprocess.run(
        ["docker", "compose", "--env-file", ".env", *files, "logs", "torch"],
        cwd=root,
        capture_output=True,
        text=True,
        env=clean_env,
    )
    assert "token=" in logs.stdout


def test_bad_inputs_exit_codes(lab_project: Path, tmp_path: Path) -> None:
    root = lab_project
    unknown = run_cli("up", "pytorch", cwd=root)
    assert unknown.returncode == 2 and "unknown service 'pytorch'" in unknown.stderr

    (root / "jlcompose.toml").write_text('gpu = "maybe"\n')
    bad = run_cli("up", "torch", cwd=root)
    assert bad.returncode == 2 and "jlcompose.toml" in bad.stderr and "`gpu`" in bad.stderr
    (root / "jlcompose.toml").unlink()

    nodocker = run_cli("up", "torch", cwd=root, env={"PATH": str(tmp_path)})
    assert nodocker.returncode == 3 and "`docker` command was not found" in nodocker.stderr

    down = run_cli("up", "torch", cwd=root, env={"DOCKER_HOST": f"unix://{tmp_path}/no.sock"})
    assert down.returncode == 3 and f"does not answer at unix://{tmp_path}/no.sock." in down.stderr

    # a Compose plugin that is too old, found first in the user's own plugin folder
    config = tmp_path / "docker-config"
    (config / "cli-plugins").mkdir(parents=True)
    plugin = config / "cli-plugins/docker-compose"
    plugin.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = docker-cli-plugin-metadata ]; then\n'
        '  echo \'{"SchemaVersion":"0.1.0","Vendor":"test","Version":"v2.17.3"}\'; exit 0; fi\n'
        "echo 'old compose' >&2; exit 1\n"
    )
    plugin.chmod(0o755)
    old = run_cli("up", "torch", cwd=root, env={"DOCKER_CONFIG": str(config)})
    assert old.returncode == 3 and "too old" in old.stderr and "2.24.4" in old.stderr, old.stderr
    assert not (root / ".jlcompose/state.json").exists() or "services" not in json.loads(
        (root / ".jlcompose/state.json").read_text()
    )


def test_extra_ca_certificates_reach_the_image(lab_project: Path, tmp_path: Path) -> None:
    root, name = lab_project, _project_name(lab_project)
    certs = tmp_path / "corp-ca"
    certs.mkdir()
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=jlcompose test proxy CA",
            "-keyout",
            str(certs / "key.pem"),
            "-out",
            str(certs / "corp.crt"),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    (root / "jlcompose.toml").write_text(f'ca_certs = "{certs}"\n')
    res = run_cli("up", "torch", "--cpu", cwd=root)
    assert res.returncode == 0, res.stderr
    assert (root / "docker_files/certs/host-corp.crt").read_bytes() == (certs / "corp.crt").read_bytes()
    cid = _container_id(root, name)
    pem = (certs / "corp.crt").read_text().strip().splitlines()[1]
    bundle = _exec(cid, "cat", "/etc/ssl/certs/ca-certificates.crt").stdout
    assert pem in bundle


def test_added_requirement_builds_quickly_on_the_previous_image(lab_project: Path) -> None:
    root, name = lab_project, _project_name(lab_project)
    req = root / "docker_files/torch/requirements.txt"
    req.write_text("six==1.16.0\n")
    first = run_cli("up", "torch", "--cpu", cwd=root)
    assert first.returncode == 0, first.stderr
    req.write_text("six==1.16.0\nidna==3.7  # added later\n")
    quick = run_cli("up", "torch", "--cpu", cwd=root)
    assert quick.returncode == 0, quick.stderr
    assert "quick build" in quick.stderr and "adding idna==3.7" in quick.stderr
    cid = _container_id(root, name)
    probe = "import six, idna; print(six.__version__, idna.__version__)"
    assert _exec(cid, "python3", "-c", probe).stdout.split() == ["1.16.0", "3.7"]
    image = subprocess.run(
        ["docker", "inspect", "-f", "{{.Config.Image}}", cid], capture_output=True, text=True, check=True
    ).stdout.strip()

    def label(key: str) -> str:
        return subprocess.run(
            ["docker", "image", "inspect", "-f", f'{{{{index .Config.Labels "{key}"}}}}', image],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert label("org.jlcompose.quick-depth") == "1" and label("org.jlcompose.quick-from")

    full = run_cli("up", "torch", "--cpu", "--rebuild", cwd=root)
    assert full.returncode == 0, full.stderr
    assert "building image" in full.stderr and "quick build" not in full.stderr
    assert label("org.jlcompose.quick-depth") == "0"
    cid = _container_id(root, name)
    assert _exec(cid, "python3", "-c", probe).stdout.split() == ["1.16.0", "3.7"]


def test_compose_file_is_valid_with_no_environment() -> None:
    """`docker compose -f compose/compose.yaml config` passes with nothing set (plain-Compose users)."""
    repo = Path(__file__).resolve().parents[2]
    env = {"PATH": os.environ["PATH"]}
    for extra in ([], ["-f", "compose/compose.cpu.yaml"], ["-f", "compose/compose.ulimits.yaml"]):
        res = subprocess.run(
            ["docker", "compose", "-f", "compose/compose.yaml", *extra, "config", "-q"],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        assert res.returncode == 0, res.stderr


def test_a_taken_default_port_moves_and_is_remembered(lab_project: Path) -> None:
    root = lab_project
    env = root / ".env"
    env.write_text(
        "".join(l + "\n" for l in env.read_text().splitlines() if not l.startswith("JLC_TORCH_PORT="))
    )
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 8888))
            s.listen()
        except OSError:
            pass  # someone else holds 8888 already: the same situation
        res = run_cli("up", "torch", "--cpu", cwd=root)
    assert res.returncode == 0, res.stderr
    assert "port 8888 is used by" in res.stderr and "instead (remembered for this project" in res.stderr
    url = res.stdout.strip()
    assert not url.startswith("http://127.0.0.1:8888/")
    with urllib.request.urlopen(url.replace("/lab?", "/api/status?"), timeout=30) as answer:
        assert answer.status == 200
    again = run_cli("up", "torch", "--cpu", cwd=root)  # 8888 is free now: the lab stays where it is
    assert again.returncode == 0 and again.stdout.strip() == url


def test_caches_survive_down_and_rebuilds_until_down_volumes(lab_project: Path) -> None:
    root, name = lab_project, _project_name(lab_project)
    uid = os.getuid()

    def lab(cmd: str) -> subprocess.CompletedProcess[str]:
        cid = _container_id(root, name)
        return subprocess.run(
            ["docker", "exec", "-u", str(uid), cid, "sh", "-c", cmd], capture_output=True, text=True
        )

    assert run_cli("up", "torch", "--cpu", cwd=root).returncode == 0
    made = lab(
        "mkdir -p $HF_HOME/hub && head -c 300000 /dev/urandom > $HF_HOME/hub/model.bin && echo $HF_HOME"
    )
    assert made.returncode == 0 and made.stdout.strip() == "/home/lab/.cache/huggingface", made
    assert run_cli("down", cwd=root).returncode == 0
    (root / "docker_files/torch/requirements.txt").write_text("six\n")  # a rebuild, a new container
    assert run_cli("up", "torch", "--cpu", cwd=root).returncode == 0
    assert lab("wc -c < $HF_HOME/hub/model.bin").stdout.strip() == "300000"
    status = json.loads(run_cli("status", "--json", cwd=root).stdout)
    assert status["caches"]["volume"] == f"{name}_cache" and status["caches"]["bytes"] >= 300000
    assert run_cli("down", "--volumes", cwd=root).returncode == 0
    volumes = subprocess.run(["docker", "volume", "ls", "-q"], capture_output=True, text=True).stdout.split()
    assert f"{name}_cache" not in volumes and f"{name}_uv-cache" not in volumes
    assert run_cli("up", "torch", "--cpu", cwd=root).returncode == 0
    assert lab("test -e $HF_HOME/hub/model.bin; echo $?").stdout.strip() == "1"
