"""`.env` read as Compose reads it (issue #11, item 5); the real Compose agrees in
tests/integration/test_dotenv_engine.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jlcompose import cli
from jlcompose.core.config import load_config
from jlcompose.core.envfile import parse_env_text
from jlcompose.errors import ConfigError, ExitCode
from jlcompose.project import Project, discover_services
from tests.conftest import copy_template


def project_with(root: Path, dotenv: str, environ: dict[str, str]) -> Project:
    copy_template(root)
    (root / ".env").write_text(dotenv)
    cfg = load_config(root, {})
    return Project(config=cfg, services=discover_services(cfg), environ=environ)


def test_the_lines_of_the_issue_are_read_as_compose_reads_them(tmp_path: Path) -> None:
    project = project_with(
        tmp_path / "p",
        "JLC_UID=\"1000\" # uid\nJLC_GID=${MYGID}\nJLC_PROJECT='proj' # x\n",
        {"MYGID": "777"},
    )
    variables = project.variables()
    assert (variables["JLC_UID"], variables["JLC_GID"], variables["JLC_PROJECT"]) == ("1000", "777", "proj")
    assert project.stack(cpu=False).project_name == "proj"


def test_the_lines_of_the_issue_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "p"
    project_with(root, "JLC_UID=\"1000\" # uid\nJLC_GID=${MYGID:-1000}\nJLC_PROJECT='proj' # x\n", {})
    # before: exit 2 ("JLC_UID must be a number ... '\"1000\"'"); now the file is simply edited
    assert cli.main(["pipreq", "--no-install", "six", "-C", str(root)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "environ", "expected"),
    [
        ("A=1\nexport B=2\n", {}, {"A": "1", "B": "2"}),
        (
            "A=plain value # a comment\nB=no#comment\nC=#text\n",
            {},
            {"A": "plain value", "B": "no#comment", "C": "#text"},
        ),
        ("A='single ${HOME} $HOME' # x\n", {"HOME": "/h"}, {"A": "single ${HOME} $HOME"}),
        ('A="dq ${U:-dflt} \\n\\t"\n', {}, {"A": "dq dflt \n\t"}),
        ('A="two\nlines"\nB=after\n', {}, {"A": "two\nlines", "B": "after"}),
        ("A=file\nB=${A}-x\n", {}, {"A": "file", "B": "file-x"}),
        # ${VAR} looks in the shell first, then at earlier lines
        ("A=file\nB=${A}\n", {"A": "shell"}, {"A": "file", "B": "shell"}),
        # a variable defined only further down is unset where it is used
        ("B=${A:-early}\nA=late\n", {}, {"B": "early", "A": "late"}),
        # :- takes the default for an unset or an empty variable
        ("E=\nA=${E:-d}\nB=${UNSET:-d}\nC=${E}\n", {}, {"E": "", "A": "d", "B": "d", "C": ""}),
        ("A=${EMPTY_IN_SHELL:-d}\n", {"EMPTY_IN_SHELL": ""}, {"A": "d"}),
        ("A=1\nA=2\n", {}, {"A": "2"}),
        ('A="a \\"q\\" b"\nB=\'a \\\'q\'\n', {}, {"A": 'a "q" b', "B": "a 'q"}),
        ("INHERITED\nA=1\n", {"INHERITED": "x"}, {"A": "1"}),
    ],
)
def test_values(text: str, environ: dict[str, str], expected: dict[str, str]) -> None:
    env = parse_env_text(text, environ)
    assert env.values == expected
    assert env.unresolved == {}


@pytest.mark.parametrize(
    "line",
    [
        "A=$HOME/x",
        "A= # text",
        "A=${HOME-x}",
        "A=${HOME:+x}",
        "A=${HOME:?x}",
        "A=${U:-${V}}",
        "A=$$x",
        "A='a\\\\b'",
    ],
)
def test_forms_python_dotenv_reads_otherwise_are_not_guessed(line: str) -> None:
    env = parse_env_text(f"{line}\nB=${{A}}\nC=ok\n", {"HOME": "/h"})
    assert set(env.unresolved) == {"A", "B"}  # and what depends on it
    assert env.values == {"C": "ok"}
    assert env.where("A") == ".env:1"


def test_a_needed_variable_in_such_a_form_is_one_sentence(tmp_path: Path) -> None:
    project = project_with(tmp_path / "p", "JLC_TORCH_PORT=$PORT\nJLC_UID=$UID\n", {})
    with pytest.raises(ConfigError) as exc:
        project.variables()
    assert exc.value.exit_code == ExitCode.USAGE
    assert f"{project.root / '.env'}:2: jlcompose needs JLC_UID" in exc.value.message
    assert "'JLC_UID=$UID'" in exc.value.message and "${VAR:-default}" in (exc.value.hint or "")
    # the shell's value makes the line moot, as in Compose; a form jlcompose does not read is no error
    project.environ = {"JLC_UID": "1234"}
    assert project.variables()["JLC_UID"] == "1234"


def test_the_shell_beats_dotenv_and_the_line_is_named(tmp_path: Path) -> None:
    project = project_with(tmp_path / "p", "# uid\nJLC_UID=abc\n", {})
    with pytest.raises(ConfigError) as exc:
        project.variables()
    assert f"{project.root / '.env'}:2: JLC_UID must be a number" in exc.value.message
    project.environ = {"JLC_UID": "42"}
    assert project.variables()["JLC_UID"] == "42"


@pytest.mark.parametrize(("dotenv", "imported"), [("JLC_TORCH_PORT=1234\n", False), ("JLC_UID=1234\n", True)])
def test_python_dotenv_is_imported_only_for_a_file_that_names_a_variable_jlcompose_reads(
    tmp_path: Path, dotenv: str, imported: bool
) -> None:
    root = tmp_path / "p"
    project_with(root, dotenv, {})
    code = (
        "import sys; from jlcompose.project import open_project\n"
        f"v = open_project({str(root)!r}, environ={{}}).variables()\n"
        "print(v['JLC_UID'] == '1234' or v['JLC_UID'], 'dotenv' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == str(imported)
    assert (out.split()[0] == "True") is imported
