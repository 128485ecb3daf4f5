"""Shell completion (issue #11, item 7): the script each shell gets, the answers to a TAB, and
the documented one-liners, run in the real shells (zsh and fish where installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jlcompose.completion import INSTALL
from tests.conftest import copy_template

BIN = Path(sys.executable).parent  # where `jlcompose` itself is installed


def shell_env(home: Path) -> dict[str, str]:
    return {
        "PATH": f"{BIN}{os.pathsep}/usr/bin:/bin",
        "HOME": str(home),
        "TERM": "dumb",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
    }


def ask(line: str, cwd: Path, tmp_path: Path) -> list[str]:
    """What `jlcompose` answers a shell's TAB at the end of `line` (argcomplete's protocol)."""
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "COMP_TYPE": "9",
    }
    done = subprocess.run(
        [BIN / "jlcompose"], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return sorted(w.strip() for w in out.read_text().split("\v") if w.strip())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_template(tmp_path / "proj")


def test_a_tab_completes_commands_options_and_the_projects_services(project: Path, tmp_path: Path) -> None:
    assert ask("jlcompose st", project, tmp_path) == ["status"]
    assert ask("jlcompose completion ", project, tmp_path) == ["bash", "fish", "zsh"]
    assert ask("jlcompose up ", project, tmp_path) == ["tf", "torch"]  # no options until a `-`
    assert ask("jlcompose logs -f t", project, tmp_path) == ["tf", "torch"]
    # global options after the command too, beside the command's own
    assert {"-C", "--project", "-v", "--json"} <= set(ask("jlcompose status -", project, tmp_path))
    assert ask("jlcompose url --j", project, tmp_path) == ["--json"]
    # -C on the line picks the project the services come from
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert ask("jlcompose up ", elsewhere, tmp_path) == []
    assert ask(f"jlcompose -C {project} pipreq --service ", elsewhere, tmp_path) == ["tf", "torch"]
    assert ask(f"jlcompose down -C {project} t", elsewhere, tmp_path) == ["tf", "torch"]


def test_a_normal_start_does_not_import_argcomplete() -> None:
    code = (
        "import sys; from jlcompose import cli\n"
        "try: cli.main(['--version'])\nexcept SystemExit: pass\n"
        "print(sorted(m for m in ('argcomplete', 'jlcompose.completion', 'dotenv') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_bash_one_liner(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = shell_env(home)
    subprocess.run(["bash", "-c", INSTALL["bash"]], env=env, check=True)
    probe = (
        'COMP_LINE="jlcompose up "; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(jlcompose up ""); COMP_CWORD=2; '
        'complete -p jlcompose; _python_argcomplete jlcompose "" up; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(
        ["bash", "-i", "-c", probe], cwd=project, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "_python_argcomplete jlcompose" in lines[0]
    assert sorted(lines[1:]) == ["tf", "torch"]


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed (scripts/test installs it)")
def test_fish_one_liner(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = shell_env(home)
    subprocess.run(["fish", "-c", INSTALL["fish"]], env=env, check=True)
    done = subprocess.run(
        ["fish", "-c", "complete -C 'jlcompose up '; complete -C 'jlcompose stat'"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert [line.split("\t")[0] for line in done.stdout.splitlines()] == ["tf", "torch", "status"]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed (scripts/test installs it)")
def test_zsh_one_liner(project: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".zshrc").write_text("autoload -U compinit && compinit -u\n")  # what zsh setups do
    env = shell_env(home)
    subprocess.run(["zsh", "-c", INSTALL["zsh"]], env=env, check=True)
    done = subprocess.run(
        ["zsh", "-i", "-c", "print -r -- $_comps[jlcompose]"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "_python_argcomplete"
    # what that function runs at a TAB, with zsh's variables: the same answers
    env = {**env, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_SHELL": "zsh", "COMP_LINE": "jlcompose up "}
    env |= {"COMP_POINT": "13", "_ARGCOMPLETE_STDOUT_FILENAME": str(tmp_path / "out")}
    subprocess.run(["jlcompose"], cwd=project, env=env, check=True, timeout=60)
    # zsh's answers are "word:description" (_describe)
    assert sorted(w.partition(":")[0] for w in (tmp_path / "out").read_text().split("\v")) == ["tf", "torch"]
