"""`jlcompose lock`, builds from a lock, and pipreq on a locked project, against FakeEngine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from jlcompose.core import lockfile
from jlcompose.errors import ConfigError, LabNotRunning
from jlcompose.lab import start as start_module
from jlcompose.lab.lock import lock
from jlcompose.lab.pipreq import pipreq
from jlcompose.lab.up import up
from jlcompose.project import Project
from tests.fakes import FakeEngine

REQS = "--extra-index-url https://download.pytorch.org/whl/cu121\ntabulate\n"


class Lab:
    """The lab's side of `docker exec`: what inlab/lock.py would print, and installs that work."""

    def __init__(self) -> None:
        self.kept = ["tabulate==0.8.10", "uv==0.9.0"]
        self.argv: list[list[str]] = []

    def __call__(self, service: str, argv: Sequence[str], user: str | None) -> tuple[int, list[str]]:
        self.argv.append(list(argv))
        if "jlcompose.inlab.lock" in argv:
            answer = {"kept": self.kept, "pinned_by_image": 90, "skipped": [], "hashed": []}
            return 0, ["some noise", "JLC-LOCK " + json.dumps(answer)]
        return 0, ["Installed 1 package"]


@pytest.fixture(autouse=True)
def _lab_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(start_module, "wait_ready", lambda *a, **k: True)
    monkeypatch.setattr(start_module, "port_in_use", lambda bind, port: False)


@pytest.fixture
def lab() -> Lab:
    return Lab()


@pytest.fixture
def engine(engine: FakeEngine, lab: Lab) -> FakeEngine:
    engine.exec_handler = lab
    return engine


def _req(project: Project) -> Path:
    return project.services["torch"].requirements


def _lock(project: Project) -> Path:
    return project.services["torch"].folder / lockfile.LOCK_NAME


def _build_args(engine: FakeEngine) -> list[dict[str, str]]:
    return [c[2] for c in engine.calls if c[0] == "build"]


def test_lock_writes_what_the_running_lab_has(
    project: Project, engine: FakeEngine, lab: Lab, capsys: Any
) -> None:
    _req(project).write_text(REQS)
    with pytest.raises(LabNotRunning):
        lock(project, engine, [], hashes=False)
    assert not _lock(project).exists()
    engine.start("torch")
    assert lock(project, engine, [], hashes=False) == 0
    [argv] = lab.argv
    # the lab is asked through `docker exec`; uv gets the index options the build uses
    assert argv[3:] == ["python3", "-m", "jlcompose.inlab.lock", "--option", REQS.splitlines()[0]]
    text = _lock(project).read_text()
    assert text.splitlines()[-2:] == ["tabulate==0.8.10", "uv==0.9.0"]
    assert lockfile.applies(text, REQS)
    assert (
        "2 packages at their exact versions; the image's constraint file pins 90 more"
        in capsys.readouterr().err
    )


def test_up_builds_from_a_lock_made_for_these_requirements(project: Project, engine: FakeEngine) -> None:
    _req(project).write_text(REQS)
    up(project, engine, ["torch"])
    assert _build_args(engine)[-1]["JLC_REQUIREMENTS_FILE"] == "requirements.txt"
    first = engine.running["torch"].image
    lock(project, engine, [], hashes=False)
    up(project, engine, ["torch"])
    assert _build_args(engine)[-1]["JLC_REQUIREMENTS_FILE"] == "requirements.lock"
    assert engine.running["torch"].image != first  # the lock is part of the hash


def test_a_lock_older_than_the_requirements_is_said_and_not_used(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    _req(project).write_text(REQS)
    engine.start("torch")
    lock(project, engine, [], hashes=False)
    _req(project).write_text(REQS + "humanize\n")
    capsys.readouterr()
    up(project, engine, ["torch"])
    err = capsys.readouterr().err
    sentence = [line for line in err.splitlines() if "requirements.lock" in line]
    assert sentence == [
        "! docker_files/torch/requirements.lock is older than docker_files/torch/requirements.txt: building "
        "from requirements.txt; `jlcompose lock torch` (once the lab runs) locks again, or delete the lock"
    ]
    assert _build_args(engine)[-1]["JLC_REQUIREMENTS_FILE"] == "requirements.txt"


def test_a_dockerfile_that_cannot_install_the_lock_is_refused(project: Project, engine: FakeEngine) -> None:
    _req(project).write_text(REQS)
    engine.start("torch")
    lock(project, engine, [], hashes=False)
    dockerfile = project.docker_files / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("JLC_REQUIREMENTS_FILE", "OTHER"))
    with pytest.raises(ConfigError) as exc:
        up(project, engine, ["torch"])
    assert "does not install it" in exc.value.message
    assert not _build_args(engine)


def test_pipreq_on_a_locked_project_locks_again(project: Project, engine: FakeEngine, lab: Lab) -> None:
    _req(project).write_text(REQS)
    engine.start("torch")
    lock(project, engine, [], hashes=False)
    lab.kept = [*lab.kept, "humanize==4.9.0"]
    assert pipreq(project, engine, ["humanize==4.9.0"], [project.service("torch")]) == 0
    installs = [a for a in lab.argv if "jlcompose-install" in a]
    assert installs and installs[0][-1] == "humanize==4.9.0"
    text = _lock(project).read_text()
    assert "humanize==4.9.0" in text.splitlines()
    assert lockfile.applies(text, _req(project).read_text())  # made from the new requirements


def test_pipreq_without_a_running_lab_says_the_lock_now_lags(
    project: Project, engine: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    _req(project).write_text(REQS)
    engine.start("torch")
    lock(project, engine, [], hashes=False)
    engine.running.clear()
    before = _lock(project).read_text()
    pipreq(project, engine, ["humanize"], [project.service("torch")])
    assert _lock(project).read_text() == before
    assert "requirements.lock is now older than requirements.txt" in capsys.readouterr().err


def test_lock_with_hashes_asks_the_lab_for_them_and_pipreq_keeps_them(
    project: Project, engine: FakeEngine, lab: Lab
) -> None:
    hashed = ["tabulate==0.8.10 \\", "    --hash=sha256:" + "1" * 64]

    def answer(service: str, argv: Sequence[str], user: str | None) -> tuple[int, list[str]]:
        lab.argv.append(list(argv))
        if "jlcompose.inlab.lock" in argv:
            result = {"kept": ["tabulate==0.8.10"], "pinned_by_image": 0, "skipped": [], "hashed": hashed}
            return 0, ["JLC-LOCK " + json.dumps(result if "--hashes" in argv else {**result, "hashed": []})]
        return 0, []

    engine.exec_handler = answer
    _req(project).write_text("tabulate\n")
    engine.start("torch")
    lock(project, engine, [], hashes=True)
    assert "--hashes" in lab.argv[-1]
    assert _lock(project).read_text().splitlines()[-2:] == hashed
    pipreq(project, engine, ["humanize"], [project.service("torch")])
    assert "--hashes" in lab.argv[-1]  # locked again the way it was locked
