"""`pipreq` refuses every argument that is not a plain PEP 508 requirement, touching nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from jlcompose import cli
from jlcompose.core.pkgargs import validate_argument
from jlcompose.engine.api import ContainerInfo
from jlcompose.errors import RequirementError
from jlcompose.lab.pipreq import pipreq
from jlcompose.project import Project, open_project
from tests.fakes import FakeEngine

PATH = "is a path or a file"
URL = "is a URL without a package name"
OPTION = "is a pip option"
META = "shell metacharacters"
INVALID = "is not a valid package requirement"

BAD: list[tuple[str, str]] = [
    ("", "an empty argument"),
    ("   ", "an empty argument"),
    ("\t", "an empty argument"),
    ("-e .", OPTION),
    ("-e", OPTION),
    ("--index-url=https://evil.example/simple", OPTION),
    ("--extra-index-url", OPTION),
    ("-r", OPTION),
    ("-rrequirements.txt", OPTION),
    ("--pre", OPTION),
    ("-c constraints.txt", OPTION),
    ("./mypkg", PATH),
    ("../mypkg", PATH),
    ("/abs/path/mypkg", PATH),
    ("mypkg/subdir", PATH),
    ("~/mypkg", PATH),
    ("dist/mypkg-1.0-py3-none-any.whl", PATH),
    ("mypkg-1.0-py3-none-any.whl", PATH),
    ("mypkg-1.0.tar.gz", PATH),
    ("mypkg.zip", PATH),
    ("https://example.org/mypkg-1.0.whl", URL),
    ("git+https://github.com/example/mypkg.git", URL),
    ("file:mypkg", URL),
    ("hg+https://example.org/repo", URL),
    ("mypkg @ http://example.org/mypkg-1.0.whl", "only https URLs"),
    ("mypkg @ file:///opt/mypkg", "only https URLs"),
    ("mypkg @ git+https://github.com/example/mypkg.git", "version-control reference"),
    ("mypkg @ https://user:secret@example.org/mypkg.whl", "carries credentials"),
    ("mypkg @ ftp://example.org/mypkg.whl", "only https URLs"),
    ("numpy; rm -rf ~", "environment marker"),
    ("numpy;python_version<'3.12'", META),
    ("numpy | sh", META),
    ("numpy && reboot", META),
    ("numpy$(id)", META),
    ("numpy`id`", META),
    ("${PRIVATE}==1.0", META),
    ("numpy > /dev/null", "shell redirection"),
    ("numpy</etc/passwd", "shell redirection"),
    ("numpy\nrequests", "line break or control character"),
    ("numpy\r", "line break or control character"),
    ("numpy\x00", "line break or control character"),
    ("numpy#comment", "starts a comment"),
    ("numpy \\", META),
    ("'numpy'", META),
    ('"numpy"', META),
    ("numpy (>=1.0", INVALID),
    ("numpy ((>=1.0))", INVALID),
    ("numpy\t|\tsh", META),
    ("numpy{1}", META),
    ("numpy\t\x0b", "line break or control character"),
    ("mypkg @ https://example.org/mypkg(1).whl", META),
    ("numpy==", INVALID),
    ("numpy>=x.y", INVALID),
    ("numpy==1.0 --hash=sha256:abc", INVALID),
    ("in valid", INVALID),
    ("_numpy", INVALID),
    ("numpy-", INVALID),
    ("numpy[", INVALID),
    ("numpy[extra", INVALID),
    ("nump!y", INVALID),
    ("1.26.4", "is a version number"),
    ("x" * 501, "longer than 500 characters"),
    ("numpy==1.0," + "1" * 500, "longer than 500 characters"),
]


@pytest.fixture
def project(template_project: Path) -> Project:
    req = template_project / "docker_files" / "torch" / "requirements.txt"
    req.write_bytes(b"# keep me\r\nnumpy==1.26.4  # pinned\r\nrich")  # CRLF, no final newline
    return open_project(str(template_project), environ={})


def running_engine() -> FakeEngine:
    engine = FakeEngine(project="demo")
    engine.running["torch"] = ContainerInfo(
        id="c1",
        name="demo-torch-1",
        service="torch",
        project="demo",
        state="running",
        health="healthy",
        image="jlcompose/demo-torch:x",
    )
    return engine


def test_the_table_is_large_enough() -> None:
    assert len(BAD) >= 30
    assert len({arg for arg, _ in BAD}) == len(BAD)


@pytest.mark.parametrize(("arg", "message"), BAD, ids=[repr(a)[:40] for a, _ in BAD])
def test_a_bad_argument_is_refused_and_nothing_is_touched(project: Project, arg: str, message: str) -> None:
    path = project.services["torch"].requirements
    before = path.read_bytes()
    engine = running_engine()
    with pytest.raises(RequirementError) as info:
        pipreq(project, engine, ["six", arg], [project.service("torch")])
    assert message in info.value.message
    assert len(info.value.message) < 200  # one sentence, with a shortened argument
    assert path.read_bytes() == before
    assert [c for c in engine.calls if c[0] == "exec"] == []
    assert not (project.state.path / "state.json").exists()


@pytest.mark.parametrize(
    "arg",
    [
        "numpy",
        "numpy==1.26.4",
        "numpy>=1.26,<2",
        "numpy~=1.26",
        "numpy==1.*",
        "numpy!=1.25.0",
        "Scikit_Learn",
        "accelerate[torch]",
        "torch===2.4.0",
        "mypkg @ https://example.org/mypkg-1.0-py3-none-any.whl#sha256=abc",
        "  numpy  ",
        "numpy (>=1.0)",
        "numpy\t>=1.0",
        "numpy (>=1.26, <2)",
        "accelerate[torch] (>=0.33)",
        "numpy\t(>=1.0)\t",
    ],
)
def test_good_arguments_pass(arg: str) -> None:
    assert validate_argument(arg).name


def test_pep508_spellings_with_parentheses_and_tabs_are_written_canonically(project: Project) -> None:
    path = project.services["torch"].requirements
    before = path.read_bytes()
    args = ["six (>=1.16)", "typer\t>=0.12", "numpy (==1.26.3)"]
    assert pipreq(project, None, args, [project.service("torch")], install=False) == 0
    expected = before.replace(b"1.26.4", b"1.26.3") + b"\r\nsix>=1.16\r\ntyper>=0.12\r\n"
    assert path.read_bytes() == expected


def test_a_package_from_a_wheel_url_line_is_not_appended_again(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project.services["torch"].requirements
    text = b"numpy\nrich\nhttps://example.org/gradio-4.37.2+custom-py3-none-any.whl\n"
    path.write_bytes(text)
    assert pipreq(project, None, ["gradio"], [project.service("torch")], install=False) == 0
    assert path.read_bytes() == text
    assert "gradio (line 3)" in capsys.readouterr().err
    with pytest.raises(RequirementError, match="line 3"):
        pipreq(project, None, ["gradio==4.40.0"], [project.service("torch")], install=False)
    assert path.read_bytes() == text


def test_every_bad_argument_is_reported_before_refusing(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    path = project.services["torch"].requirements
    before = path.read_bytes()
    with pytest.raises(RequirementError, match="pip option"):
        pipreq(project, None, ["./a", "six", "-e"], [project.service("torch")], install=False)
    assert "./a" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_the_cli_refuses_before_building_an_engine(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_engine() -> FakeEngine:
        raise AssertionError("the engine must not be built for a bad argument")

    path = project.services["torch"].requirements
    before = path.read_bytes()
    rc = cli.main(["-C", str(project.root), "pipreq", "numpy | sh"], open_engine=no_engine)
    assert rc == 2
    assert "shell metacharacters" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert not (project.state.path / "token").exists()
