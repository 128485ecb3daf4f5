"""`jlcompose pipreq` against FakeEngine: install first, then save; fail and nothing changes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from jlcompose import cli
from jlcompose.core.pipfailure import explain_failure
from jlcompose.core.requirements import requirement_lines
from jlcompose.engine.api import ContainerInfo
from jlcompose.errors import EngineError, ExitCode, InstallFailed, RequirementError
from jlcompose.inlab.install import PIP_ENV
from jlcompose.lab.hotinstall import remember_installed
from jlcompose.lab.pipreq import pipreq
from jlcompose.project import Project, open_project
from tests.conftest import copy_template
from tests.fakes import FakeEngine

PIP_OUTPUT = Path(__file__).resolve().parent.parent / "data" / "pip"
ORIGINAL = b"# torch lab\nnumpy==1.26.4  # pinned by NGC\n"


def pip_lines(name: str) -> list[str]:
    return (PIP_OUTPUT / name).read_text(encoding="utf-8").splitlines()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = copy_template(tmp_path / "demo")  # FakeEngine's project name
    (root / "docker_files" / "torch" / "requirements.txt").write_bytes(ORIGINAL)
    return open_project(str(root), environ={})


def req_path(project: Project, service: str = "torch") -> Path:
    return project.services[service].requirements


def start(engine: FakeEngine, service: str = "torch") -> FakeEngine:
    return engine.start(service)


def execs(engine: FakeEngine) -> list[tuple[Any, ...]]:
    return [c for c in engine.calls if c[0] == "exec"]


def state(project: Project) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((project.state.path / "state.json").read_text())
    return data


def test_a_running_lab_gets_the_package_first_as_root_then_the_file(project: Project) -> None:
    seen: list[bytes] = []

    def handler(service: str, argv: Sequence[str], user: str | None) -> tuple[int, list[str]]:
        seen.append(req_path(project).read_bytes())  # the file while pip runs
        return 0, ["Collecting six==1.16.0", "Successfully installed six-1.16.0"]

    engine = start(FakeEngine(exec_handler=handler))
    assert pipreq(project, engine, ["six==1.16.0"], [project.service("torch")]) == 0
    [(_, service, argv, user)] = execs(engine)
    assert (service, user) == ("torch", "0")
    # no agent answers in a fake lab: the installer runs through `docker exec -u 0`, the
    # requirement passed as an argument to a fixed script, never spliced into it
    assert list(argv[:2]) == ["sh", "-c"] and list(argv[3:]) == ["jlcompose-install", "six==1.16.0"]
    assert "python3 -m jlcompose.inlab.install" in argv[2] and "six" not in argv[2]
    assert seen == [ORIGINAL]
    assert req_path(project).read_bytes() == ORIGINAL + b"six==1.16.0\n"
    torch = state(project)["services"]["torch"]
    assert torch["hot_installed"] == ["six==1.16.0"]
    assert torch["applied"] == (ORIGINAL + b"six==1.16.0\n").decode()


def test_pip_output_is_streamed_and_the_error_report_is_explained(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    output = ["Collecting six==1.16.0", *pip_lines("constraint-direct.txt")]
    engine = start(FakeEngine(exec_handler=lambda *_: (1, output)))
    rc = cli.main(["-C", str(project.root), "pipreq", "six==1.16.0"], open_engine=lambda: engine)
    assert rc == ExitCode.INSTALL and int(ExitCode.INSTALL) == 6
    assert req_path(project).read_bytes() == ORIGINAL
    assert not (project.state.path / "state.json").exists()
    err = capsys.readouterr().err
    assert "the image pins six==1.17.0 in its pip constraint file" in err
    assert "you asked for six==1.16.0" not in err  # pip's line that only repeats the request
    assert "`jlcompose pipreq --unpin six six==1.16.0`" in err  # the way out, ready to paste
    assert "requirements.txt was left unchanged" in err
    assert "To fix this you could try" not in err  # pip's generic advice is trimmed away
    assert "Collecting six==1.16.0" in err  # streamed live
    assert err.count("The user requested (constraint) six==1.17.0") == 1  # once, as detail


def test_a_transitive_constraint_conflict_names_the_pin_and_the_dependent(project: Project) -> None:
    lines = pip_lines("constraint-transitive.txt")
    exc = explain_failure("torch", ["requests==2.32.3"], lines, 1)
    assert exc.exit_code == ExitCode.INSTALL
    assert exc.message == (
        "pip cannot install requests==2.32.3: the image pins charset-normalizer==1.4.1 in its "
        "pip constraint file ($PIP_CONSTRAINT), but requests 2.32.3 depends on "
        "charset-normalizer<4 and >=2."
    )
    assert exc.hint is not None and "--unpin charset-normalizer requests==2.32.3" in exc.hint
    assert exc.detail is not None and exc.detail.startswith("ERROR: Cannot install")


def test_an_unknown_package_is_one_clear_sentence(project: Project) -> None:
    lines = pip_lines("missing.txt")
    svc = project.service("torch")
    exc = explain_failure(svc.name, ["jlcompose-no-such-package-xyz"], lines, 1)
    assert exc.message.startswith("pip found no package called jlcompose-no-such-package-xyz")
    exc = explain_failure(svc.name, ["six==99.0"], pip_lines("no-version.txt"), 1)
    assert (
        exc.message == "no release of six matches six==99.0 (latest: 1.12.0, 1.13.0, "
        "1.14.0, 1.15.0, 1.16.0, 1.17.0)."
    )
    assert exc.hint == "pick one of those versions, e.g. `jlcompose pipreq six==1.17.0`."


def test_other_pip_failures_keep_the_tail_as_detail(project: Project) -> None:
    svc = project.service("torch")
    lines = [f"line {i}" for i in range(100)] + ["ERROR: something odd"]
    exc = explain_failure(svc.name, ["six"], lines, 2)
    assert "pip exited with code 2" in exc.message
    assert exc.detail is not None and exc.detail.endswith("ERROR: something odd")
    assert len(exc.detail.splitlines()) == 25
    net = ["WARNING: Retrying ... NewConnectionError('Failed to establish a new connection')"]
    assert "could not reach the package index" in explain_failure(svc.name, ["six"], net, 1).message


def test_nothing_running_saves_the_file_without_exec(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = FakeEngine()
    assert pipreq(project, engine, ["six", "Rich>=13"], [project.service("torch")]) == 0
    assert execs(engine) == []
    assert req_path(project).read_bytes() == ORIGINAL + b"six\nRich>=13\n"
    assert "next `jlcompose up torch` builds it" in capsys.readouterr().err
    assert not (project.state.path / "state.json").exists()


def test_no_install_leaves_a_running_lab_alone(project: Project) -> None:
    engine = start(FakeEngine())
    assert pipreq(project, engine, ["six"], [project.service("torch")], install=False) == 0
    assert engine.calls == []
    assert req_path(project).read_bytes() == ORIGINAL + b"six\n"


def test_an_update_installs_the_line_as_written(project: Project) -> None:
    engine = start(FakeEngine())
    pipreq(project, engine, ["NumPy==1.26.3"], [project.service("torch")])
    [(_, _, argv, _)] = execs(engine)
    assert argv[-1] == "numpy==1.26.3"
    assert req_path(project).read_bytes() == ORIGINAL.replace(b"1.26.4", b"1.26.3")


def test_already_present_writes_nothing(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    engine = start(FakeEngine())
    inode = req_path(project).stat().st_ino
    assert pipreq(project, engine, ["numpy", "NUMPY==1.26.4"], [project.service("torch")]) == 0
    assert execs(engine) == []
    assert req_path(project).stat().st_ino == inode  # not even rewritten with the same bytes
    assert "numpy==1.26.4 is already in docker_files/torch/requirements.txt" in capsys.readouterr().err


def test_an_unreachable_engine_still_saves_and_warns(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = FakeEngine()

    def down(*_a: object, **_k: object) -> list[ContainerInfo]:
        raise EngineError("the Docker daemon is not running.")

    engine.containers = down  # type: ignore[method-assign]
    assert pipreq(project, engine, ["six"], [project.service("torch")]) == 0
    assert req_path(project).read_bytes() == ORIGINAL + b"six\n"
    assert "could not check whether the torch lab runs" in capsys.readouterr().err


def test_all_services_and_the_service_flag(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = start(FakeEngine(), "tf")
    tf_before = req_path(project, "tf").read_bytes()
    assert (
        cli.main(["-C", str(project.root), "pipreq", "--service", "tf", "six"], open_engine=lambda: engine)
        == 0
    )
    assert req_path(project, "tf").read_bytes() == tf_before + b"six\n"
    assert req_path(project).read_bytes() == ORIGINAL
    assert cli.main(["-C", str(project.root), "pipreq", "--all", "rich"], open_engine=lambda: engine) == 0
    assert req_path(project, "tf").read_bytes().endswith(b"six\nrich\n")
    assert req_path(project).read_bytes() == ORIGINAL + b"rich\n"
    assert [c[1] for c in execs(engine)] == ["tf", "tf"]  # only tf runs
    assert (
        cli.main(["-C", str(project.root), "pipreq", "--service", "nope", "six"], open_engine=lambda: engine)
        == 2
    )


def test_a_failure_in_one_service_leaves_that_file_alone(project: Project) -> None:
    engine = start(start(FakeEngine(exec_handler=lambda s, *_: (1 if s == "tf" else 0, []))), "tf")
    tf_before = req_path(project, "tf").read_bytes()
    with pytest.raises(InstallFailed):
        pipreq(project, engine, ["six"], [project.service("torch"), project.service("tf")])
    assert req_path(project).read_bytes() == ORIGINAL + b"six\n"
    assert req_path(project, "tf").read_bytes() == tf_before


def test_a_hash_checking_file_is_refused(project: Project) -> None:
    text = b"certifi==2024.8.30 \\\n    --hash=sha256:abc\n"
    req_path(project).write_bytes(text)
    engine = start(FakeEngine())
    with pytest.raises(RequirementError, match="hash-checking mode"):
        pipreq(project, engine, ["six"], [project.service("torch")])
    assert req_path(project).read_bytes() == text and execs(engine) == []


def test_a_hash_checking_include_is_refused_before_any_service_changes(project: Project) -> None:
    folder = req_path(project, "tf").parent
    (folder / "locked.txt").write_text("idna==3.10 --hash=sha256:abc\n")
    req_path(project, "tf").write_text("-r locked.txt\n")
    with pytest.raises(RequirementError, match=r"locked\.txt uses pip's hash-checking mode"):
        pipreq(project, None, ["six"], [project.service("torch"), project.service("tf")])
    assert req_path(project).read_bytes() == ORIGINAL


def test_a_package_listed_in_an_included_file_is_not_duplicated(project: Project) -> None:
    folder = req_path(project).parent
    (folder / "base.txt").write_text("six==1.16.0\n")
    req_path(project).write_bytes(ORIGINAL + b"-r base.txt\n")
    assert pipreq(project, None, ["six"], [project.service("torch")], install=False) == 0
    assert req_path(project).read_bytes() == ORIGINAL + b"-r base.txt\n"
    with pytest.raises(RequirementError, match=r"base\.txt"):
        pipreq(project, None, ["six==1.17.0"], [project.service("torch")], install=False)


def test_a_file_that_is_not_utf8_is_refused(project: Project) -> None:
    req_path(project).write_bytes(b"caf\xe9\n")
    with pytest.raises(RequirementError, match="not UTF-8"):
        pipreq(project, None, ["six"], [project.service("torch")], install=False)


def test_the_file_mode_is_kept(project: Project) -> None:
    req_path(project).chmod(0o664)
    pipreq(project, None, ["six"], [project.service("torch")], install=False)
    assert req_path(project).stat().st_mode & 0o777 == 0o664


def test_record_dedupes_by_canonical_name(project: Project) -> None:
    svc = project.service("torch")
    remember_installed(project, svc, ["six==1.16.0", "rich"], applied="")
    remember_installed(project, svc, ["Six==1.17.0"], applied="")
    assert state(project)["services"]["torch"]["hot_installed"] == ["rich", "Six==1.17.0"]


def test_pip_runs_with_quiet_non_interactive_settings() -> None:
    assert PIP_ENV["PIP_NO_INPUT"] == "1" and PIP_ENV["PIP_ROOT_USER_ACTION"] == "ignore"


SCRIPT = """
import sys
from jlcompose.cli import main
sys.exit(main(["-C", sys.argv[1], "pipreq", "--no-install", sys.argv[2]]))
"""


def test_twenty_concurrent_pipreqs_lose_and_duplicate_nothing(project: Project) -> None:
    packages = [f"pkg-{i:02d}=={i}.0" for i in range(20)]
    procs = [
        subprocess.Popen(  # our own interpreter running our own script
            [sys.executable, "-c", SCRIPT, str(project.root), pkg],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for pkg in packages
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    text = req_path(project).read_text()
    assert text.startswith(ORIGINAL.decode())
    lines = text.splitlines()[2:]
    assert sorted(lines) == sorted(packages)  # each exactly once, nothing else
    assert set(requirement_lines(text)) == {"numpy"} | {p.split("==")[0] for p in packages}


def test_ctrl_c_during_the_install_changes_nothing(project: Project) -> None:
    """Ctrl-C while pip runs in the lab: no file change, nothing recorded, exit 130 from the CLI."""
    engine = start(FakeEngine())

    def interrupted(service: str, argv: Sequence[str], user: str | None) -> tuple[int, list[str]]:
        raise KeyboardInterrupt

    engine.exec_handler = interrupted
    with pytest.raises(KeyboardInterrupt):
        pipreq(project, engine, ["six"], [project.services["torch"]])
    assert req_path(project).read_bytes() == ORIGINAL
    assert not (project.state.path / "state.json").exists() or "six" not in json.dumps(state(project))


def _json_run(argv: list[str], engine: FakeEngine, capsys: pytest.CaptureFixture[str]) -> tuple[int, Any]:
    capsys.readouterr()
    rc = cli.main(argv, open_engine=lambda: engine)
    return rc, json.loads(capsys.readouterr().out)


def test_pipreq_json_says_what_was_done(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    engine = start(FakeEngine(exec_handler=lambda *_: (0, ["Successfully installed six-1.16.0"])))
    root = str(project.root)
    rc, data = _json_run(["-C", root, "pipreq", "--json", "six==1.16.0", "numpy==1.26.3"], engine, capsys)
    assert rc == 0
    assert data == {
        "services": [
            {
                "service": "torch",
                "requirements": "docker_files/torch/requirements.txt",
                "added": ["six==1.16.0"],
                "updated": [{"from": "numpy==1.26.4", "to": "numpy==1.26.3"}],
                "already_present": [],
                "installed": True,
                "lab_running": True,
            }
        ]
    }
    rc, data = _json_run(
        ["pipreq", "six==1.16.0", "--no-install", "--all", "--json", "-C", root], engine, capsys
    )
    by_name = {row["service"]: row for row in data["services"]}
    torch, tf = by_name["torch"], by_name["tf"]
    assert torch["already_present"] == ["six==1.16.0"] and torch["added"] == [] and not torch["installed"]
    assert tf["service"] == "tf" and tf["added"] == ["six==1.16.0"] and tf["lab_running"] is None


def test_pipreq_json_error_is_the_error_object(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = _json_run(["-C", str(project.root), "pipreq", "--json", "numpy|sh"], FakeEngine(), capsys)
    assert rc == 2 and data["error"]["type"] == "RequirementError" and data["error"]["exit_code"] == 2
    assert req_path(project).read_bytes() == ORIGINAL
