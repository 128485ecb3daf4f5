from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jlcompose.errors import JlcomposeError, UsageError
from jlcompose.lab import start as up_module
from jlcompose.lab.down import down
from jlcompose.lab.prune import prune
from jlcompose.lab.status import status, url
from jlcompose.lab.up import up
from jlcompose.project import Project
from jlcompose.scaffold import init
from tests.fakes import FakeEngine


@pytest.fixture
def started(project: Project, engine: FakeEngine, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setattr(up_module, "wait_ready", lambda *a, **k: True)
    monkeypatch.setattr(up_module, "port_in_use", lambda bind, port: False)
    up(project, engine, ["torch"])
    return project


def _status(project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    status(project, engine, [], as_json=True)
    return {r["service"]: r for r in json.loads(capsys.readouterr().out)["services"]}


def test_status_current_stale_and_hot_installed(
    started: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = _status(started, engine, capsys)
    assert rows["torch"]["state"] == "running" and rows["torch"]["image"] == "current"
    assert rows["torch"]["mode"] == "cpu" and rows["torch"]["url"].startswith(
        "http://127.0.0.1:18888/lab?token="
    )
    assert (
        rows["tf"]["state"] == "not created"
        and rows["tf"]["image"] == "not built"
        and rows["tf"]["url"] is None
    )
    started.services["torch"].requirements.write_text("six\n")
    started.state.update(lambda s: setattr(s.service("torch"), "hot_installed", ["six"]))
    rows = _status(started, engine, capsys)
    assert rows["torch"]["image"] == "stale" and rows["torch"]["hot_installed"] == ["six"]


def test_status_table_mentions_hot_installs(
    started: Project,
    engine: FakeEngine,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    started.state.update(lambda s: setattr(s.service("torch"), "hot_installed", ["six"]))
    capsys.readouterr()
    status(started, engine, [])
    out = capsys.readouterr().out
    assert "torch" in out and "hot-installed: six" in out


def test_url_and_down(started: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert url(started, engine, None) == 0
    assert capsys.readouterr().out.startswith("http://127.0.0.1:18888/lab?token=")
    assert down(started, engine, []) == 0
    assert engine.running == {}
    with pytest.raises(JlcomposeError) as exc:
        url(started, engine, "torch")
    assert "not running" in exc.value.message


def test_prune_removes_only_old_unused_images(started: Project, engine: FakeEngine) -> None:
    current = engine.running["torch"].image
    engine.image_store["jlcompose/demo-torch:0123456789ab"] = {
        "org.jlcompose.hash": "0123456789ab" + "0" * 52
    }
    engine.image_store["other/image:1"] = {}
    assert prune(started, engine) == 0
    assert current in engine.image_store and "other/image:1" in engine.image_store
    assert "jlcompose/demo-torch:0123456789ab" not in engine.image_store


def test_init_writes_the_shipped_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "new"
    assert init(target) == 0
    assert (target / "compose/compose.yaml").is_file()
    assert (target / "docker_files/Dockerfile").is_file()
    assert (target / "docker_files/torch/requirements.txt").is_file()
    assert (target / ".env.example").is_file()
    (target / "docker_files/torch/requirements.txt").write_text("mine\n")
    with pytest.raises(UsageError) as exc:
        init(target)
    assert "nothing was written" in exc.value.message
    assert (target / "docker_files/torch/requirements.txt").read_text() == "mine\n"
    assert init(target, force=True) == 0
    assert (target / "docker_files/torch/requirements.txt").read_text() != "mine\n"


def _cli_json(argv: list[str], engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    from jlcompose import cli

    capsys.readouterr()
    rc = cli.main(argv, open_engine=lambda: engine)
    out = capsys.readouterr().out
    return rc, json.loads(out)  # stdout is one JSON document, nothing else


def test_url_json_and_its_error_object(
    started: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, data = _cli_json(["url", "--json", "-C", str(started.root)], engine, capsys)
    token = started.state.read_token()
    assert rc == 0 and data == {"service": "torch", "url": f"http://127.0.0.1:18888/lab?token={token}"}
    rc, data = _cli_json(["url", "tf", "--json", "-C", str(started.root)], engine, capsys)
    assert rc == 1 and data["error"]["type"] == "LabNotRunning"
    assert data["error"]["message"] == "the tf lab is not running." and data["error"]["exit_code"] == 1


def test_prune_json_lists_what_went_and_what_would(
    started: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    old = "jlcompose/demo-torch:0123456789ab"
    engine.image_store[old] = {"org.jlcompose.hash": "0123456789ab" + "0" * 52}
    rc, data = _cli_json(["prune", "--dry-run", "--json", "-C", str(started.root)], engine, capsys)
    assert rc == 0 and data == {
        "project": "demo",
        "dry_run": True,
        "images": [{"ref": old, "removed": False}],
    }
    assert old in engine.image_store
    rc, data = _cli_json(["prune", "--json", "-C", str(started.root)], engine, capsys)
    assert data["images"] == [{"ref": old, "removed": True}] and old not in engine.image_store
    rc, data = _cli_json(["prune", "--json", "-C", str(started.root)], engine, capsys)
    assert rc == 0 and data["images"] == []
