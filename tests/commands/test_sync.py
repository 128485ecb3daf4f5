"""Sync rounds between a project folder and the lab's real sync server on a folder standing in for the volume."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest

from jlcompose.inlab.sync import VOLUME_ID, Server
from jlcompose.lab.sync import SERVER, WORKSPACE, Session
from jlcompose.project import Project
from tests.fakes import FakeChannel


def session(project: Project, volume: Path) -> Session:
    return Session(project, FakeChannel(volume, [*SERVER, WORKSPACE]), "k")


def settle() -> None:
    time.sleep(0.3)  # files written in the last 0.25 s wait for the next round


@pytest.fixture
def volume(tmp_path: Path) -> Path:
    path = tmp_path / "volume"
    path.mkdir()
    return path


def test_an_edit_on_both_sides_keeps_the_laptops_file_and_the_labs_copy(
    project: Project, volume: Path
) -> None:
    (project.root / "nb.ipynb").write_text("v1")
    s = session(project, volume)
    settle()
    assert s.round().up  # everything goes up once
    (project.root / "nb.ipynb").write_text("laptop")
    (volume / "nb.ipynb").write_text("lab")
    settle()
    moved = s.round()
    [copy] = moved.conflicts
    assert copy.startswith("nb.lab-conflict-") and copy.endswith(".ipynb")
    assert (project.root / "nb.ipynb").read_text() == "laptop" == (volume / "nb.ipynb").read_text()
    assert (project.root / copy).read_text() == "lab"
    settle()
    s.round()  # the copy itself travels like any new file
    assert (volume / copy).read_text() == "lab"
    s.close()


def test_a_new_volume_never_deletes_the_laptops_files(project: Project, volume: Path, tmp_path: Path) -> None:
    (project.root / "keep.py").write_text("x")
    s = session(project, volume)
    settle()
    s.round()
    s.close()
    fresh = tmp_path / "fresh"  # `down --volumes`, then `up`: a new, empty volume
    fresh.mkdir()
    s = session(project, fresh)
    assert s.volume != (volume / VOLUME_ID).read_text().strip()
    moved = s.round()
    assert not moved.deleted_here and (project.root / "keep.py").read_text() == "x"
    assert (fresh / "keep.py").read_text() == "x"
    s.close()


def test_deletions_and_the_executable_bit_travel(project: Project, volume: Path) -> None:
    script = project.root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (project.root / "old" / "deep").mkdir(parents=True)
    (project.root / "old" / "deep" / "gone.txt").write_text("x")
    s = session(project, volume)
    settle()
    s.round()
    assert os.stat(volume / "run.sh").st_mode & 0o111
    (volume / "old" / "deep" / "gone.txt").unlink()
    settle()
    assert s.round().deleted_here == ["old/deep/gone.txt"]
    assert not (project.root / "old").exists()  # the emptied folders go too
    s.close()


def test_the_server_never_overwrites_what_changed_since_the_scan(volume: Path) -> None:
    server = Server(volume)
    server.handle({"op": "hello"})
    (volume / "a.txt").write_text("the lab's newer edit")
    data = base64.b64encode(b"from the laptop").decode()
    answer = server.handle({"op": "put", "path": "a.txt", "data": data, "version": "v", "expect": None})
    assert "conflict" in answer and (volume / "a.txt").read_text() == "the lab's newer edit"
    assert "conflict" in server.handle({"op": "rm", "path": "a.txt", "expect": "0" * 64})
    assert (volume / "a.txt").exists()


@pytest.mark.parametrize("path", ["../escape.txt", "/etc/passwd", "a/../../b", "", "a//b"])
def test_the_server_refuses_paths_outside_the_workspace(volume: Path, path: str) -> None:
    channel = FakeChannel(volume, [*SERVER, WORKSPACE])  # the serve loop answers an error
    request = {"op": "put", "path": path, "data": "", "version": "v", "expect": None}
    channel.send(json.dumps(request).encode() + b"\n")
    assert json.loads(channel.receive())["error"].startswith("ValueError: not a path inside the project")
    channel.close()
    assert not (volume.parent / "escape.txt").exists()


def test_nothing_is_written_through_a_link_that_leads_out_of_the_project(
    project: Project, volume: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project.root / "data").symlink_to(outside)  # links are not synced; the lab has a real folder
    (volume / "data").mkdir()
    (volume / "data" / "x.txt").write_text("from the lab")
    (volume / "ok.txt").write_text("fine")
    s = session(project, volume)
    settle()
    moved = s.round()
    assert moved.down == ["ok.txt"]  # the rest of the round goes on
    assert not (outside / "x.txt").exists()
    s.close()
