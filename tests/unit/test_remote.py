"""The pure parts of remote engines: which engine a URL names, the override, the sync plan, ssh's errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from jlcompose.core import syncplan
from jlcompose.core.composemodel import parse
from jlcompose.core.endpoint import parse_host
from jlcompose.core.remotefile import override
from jlcompose.engine import contexts, translate
from jlcompose.errors import SshFailed


@pytest.mark.parametrize(
    ("url", "kind", "host", "user", "port"),
    [
        ("unix:///var/run/docker.sock", "local", "", None, None),
        ("", "local", "", None, None),
        ("npipe:////./pipe/docker_engine", "local", "", None, None),
        ("tcp://127.0.0.1:2375", "local", "127.0.0.1", None, 2375),
        ("tcp://localhost:2375", "local", "localhost", None, 2375),
        ("ssh://me@gpu-box", "ssh", "gpu-box", "me", None),
        ("ssh://me@gpu-box:2222", "ssh", "gpu-box", "me", 2222),
        ("ssh://root@127.0.0.1:2222", "ssh", "127.0.0.1", "root", 2222),  # ssh is never "local"
        ("ssh://gpu-box", "ssh", "gpu-box", None, None),
        ("tcp://10.0.0.5:2376", "tcp", "10.0.0.5", None, 2376),
        ("gpu-box:2375", "tcp", "gpu-box", None, 2375),
    ],
)
def test_which_engine_a_host_url_names(
    url: str, kind: str, host: str, user: str | None, port: int | None
) -> None:
    e = parse_host(url)
    assert (e.kind, e.host, e.user, e.port) == (kind, host, user, port)
    assert e.remote == (kind != "local")


def test_ssh_arguments_reach_the_same_machine_as_the_docker_cli() -> None:
    assert parse_host("ssh://me@gpu-box:2222").ssh_args() == ["-l", "me", "-p", "2222", "--", "gpu-box"]
    assert parse_host("ssh://gpu-box").ssh_args() == ["--", "gpu-box"]
    with pytest.raises(ValueError):
        parse_host("tcp://gpu-box:2375").ssh_args()


def _context(config: Path, name: str, host: str) -> None:
    meta = config / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))


def test_the_engine_is_read_as_the_docker_cli_reads_it(tmp_path: Path) -> None:
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert contexts.current(env) == parse_host("unix:///var/run/docker.sock")  # nothing configured
    _context(tmp_path, "gpu", "ssh://me@gpu-box")
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "gpu"}))  # `docker context use gpu`
    found = contexts.current(env)
    assert found is not None and (found.url, found.context, found.remote) == ("ssh://me@gpu-box", "gpu", True)
    assert found.shown == "ssh://me@gpu-box (Docker context gpu)"
    # DOCKER_CONTEXT beats config.json, DOCKER_HOST beats both
    _context(tmp_path, "other", "tcp://10.0.0.5:2376")
    assert contexts.current({**env, "DOCKER_CONTEXT": "other"}) == parse_host(
        "tcp://10.0.0.5:2376", context="other"
    )
    assert contexts.current({**env, "DOCKER_HOST": "unix:///run/d.sock"}) == parse_host("unix:///run/d.sock")
    # `default` is the CLI's own; a context the store does not describe: ask the CLI
    assert contexts.current({**env, "DOCKER_CONTEXT": "default"}) == parse_host("unix:///var/run/docker.sock")
    assert contexts.current({**env, "DOCKER_CONTEXT": "nowhere"}) is None


V1, V2, V3 = "a" * 64, "b" * 64, "c" * 64


@pytest.mark.parametrize(
    ("here", "there", "agreed", "action"),
    [
        (V1, V1, V1, None),  # in step
        (V2, V1, V1, "push"),  # edited on the laptop
        (V1, V2, V1, "pull"),  # edited in the lab
        (V1, None, None, "push"),  # new on the laptop
        (None, V1, None, "pull"),  # new in the lab
        (None, V1, V1, "delete_remote"),  # deleted on the laptop
        (V1, None, V1, "delete_local"),  # deleted in the lab
        (None, V2, V1, "pull"),  # deleted here, edited there: the edit wins
        (V2, None, V1, "push"),
        (V2, V3, V1, "conflicts"),  # edited on both sides
        (V2, V3, None, "conflicts"),  # never agreed, and different
        (V2, V2, V1, None),  # the same edit on both sides
    ],
)
def test_one_sync_round(here: str | None, there: str | None, agreed: str | None, action: str | None) -> None:
    pick = {k: v for k, v in {"f": here}.items() if v}, {k: v for k, v in {"f": there}.items() if v}
    plan = syncplan.plan(*pick, {"f": agreed} if agreed else {})
    done = {
        name: getattr(plan, name) for name in ("push", "pull", "delete_remote", "delete_local", "conflicts")
    }
    assert {name for name, paths in done.items() if paths} == ({action} if action else set())
    if action is None and here == there:
        assert plan.agreed == ({} if here == agreed else {"f": here})


def test_nothing_agreed_means_nothing_is_deleted() -> None:
    # a new volume (or a lost agreement file): every file on either side survives
    plan = syncplan.plan({"a": V1, "b": V2}, {"b": V3, "c": V1}, {})
    assert (plan.push, plan.pull, plan.conflicts) == (["a"], ["c"], ["b"])
    assert not plan.delete_local and not plan.delete_remote


def test_a_file_one_side_cannot_read_is_left_alone() -> None:
    # grown past the size limit on the laptop: it must not look deleted there
    plan = syncplan.plan({}, {"big.bin": V1}, {"big.bin": V1}, unknown={"big.bin"})
    assert plan.empty and not plan.agreed


@pytest.mark.parametrize(
    ("rel", "synced"),
    [
        ("analysis.ipynb", True),
        ("docker_files/torch/requirements.txt", True),
        ("docker_files/lab/launch.py", True),
        ("docker_files/lab/lib/jlcompose/files.py", False),
        (".jlcompose/token", False),
        (".jlcompose", False),
        ("src/.git/config", False),
        ("nb/.ipynb_checkpoints/a-checkpoint.ipynb", False),
        ("pkg/__pycache__/m.cpython-311.pyc", False),
        (".venv/bin/python", False),
        ("notes/.~analysis.ipynb", False),  # JupyterLab's copy during a save
        (".requirements.txt.x1y2.tmp", False),  # jlcompose's own atomic write
        (".env", True),
        ("data/raw/big.parquet", False),  # sync_exclude = ["data/"]
        ("weights.ckpt", False),  # sync_exclude = ["*.ckpt"]
    ],
)
def test_which_paths_are_synced(rel: str, synced: bool) -> None:
    assert syncplan.included(rel, patterns=["data/", "*.ckpt"]) is synced


def test_a_conflict_copy_keeps_the_extension() -> None:
    assert (
        syncplan.conflict_name("nb/analysis.ipynb", "20260101-120000")
        == "nb/analysis.lab-conflict-20260101-120000.ipynb"
    )
    assert syncplan.conflict_name("Makefile", "s") == "Makefile.lab-conflict-s"


def test_the_override_swaps_the_project_bind_for_the_volume_and_lets_the_server_pick_the_port() -> None:
    model = parse(
        {
            "name": "demo",
            "services": {
                "torch": {
                    "image": "jlcompose/demo-torch:jlc-pending",
                    "volumes": [
                        {"type": "bind", "source": "/home/me/proj", "target": "/workspace"},
                        {"type": "bind", "source": "/home/me/proj/data", "target": "/data"},
                        {"type": "bind", "source": "/srv/datasets", "target": "/datasets"},
                        {"type": "volume", "source": "cache", "target": "/home/lab/.cache"},
                    ],
                    "ports": [
                        {"target": 8888, "published": "8888", "host_ip": "127.0.0.1", "protocol": "tcp"},
                        {"target": 6006, "published": "6006", "host_ip": "127.0.0.1", "protocol": "tcp"},
                    ],
                }
            },
        }
    )
    made = override(model, "/home/me/proj/", forward=True)
    assert made.text.splitlines()[1:] == [
        "services:",
        "  torch:",
        "    volumes:",
        '      - {"type": "volume", "source": "workspace", "target": "/workspace", "volume": {"nocopy": true}}',
        "    ports: !override",
        '      - {"target": 8888, "host_ip": "127.0.0.1", "protocol": "tcp"}',
        '      - {"target": 6006, "published": "6006", "host_ip": "127.0.0.1", "protocol": "tcp"}',
        "volumes:",
        "  workspace: {}",
    ]
    # a bind inside the project would show the server's folder: named; one outside is the user's
    assert made.stray_binds == (("torch", "/home/me/proj/data"),)
    # over TCP there is no forward: the ports stay as configured
    assert "ports" not in override(model, "/home/me/proj", forward=False).text


@pytest.mark.parametrize(
    ("why", "words"),
    [
        ("ssh: connect to host gpu-box port 22: Connection refused", "nothing listens for SSH there"),
        ("me@gpu-box: Permission denied (publickey).", "the server refused the login"),
        ("Host key verification failed.", "host key is not known"),
        ("ssh: Could not resolve hostname gpu-box: Name or service not known", "the host name is unknown"),
        ("bash: line 1: docker: command not found", "no `docker` command"),
    ],
)
def test_a_failed_ssh_transport_is_one_sentence_with_its_fix(why: str, words: str) -> None:
    text = (
        'error during connect: Get "http://docker.example.com/v1.50/info": command [ssh -o '
        "ConnectTimeout=30 -T -l me -- gpu-box docker system dial-stdio] has exited with exit "
        f"status 255, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr={why}"
    )
    err = translate.engine_gone(text)
    assert isinstance(err, SshFailed) and err.exit_code == 3
    assert err.message.startswith("ssh to me@gpu-box failed: ") and words in err.message
    assert err.hint


def test_the_forwards_own_ssh_errors_are_read_too() -> None:
    err = translate.ssh_failure("bind [127.0.0.1]:8888: Address already in use", host="gpu-box")
    assert err is not None and "Address already in use" in err.message
    assert translate.ssh_failure("unrelated text", host="gpu-box") is None
