"""jlcompose reads `.env` as the real `docker compose config` resolves it (issue #11, item 5)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from jlcompose.core.config import load_config
from jlcompose.core.envfile import parse_env_text
from jlcompose.project import Project, discover_services
from tests.conftest import copy_template, run_cli

pytestmark = pytest.mark.docker

ISSUE = "JLC_UID=\"1000\" # uid\nJLC_GID=${MYGID}\nJLC_PROJECT='proj' # x\n"
# (.env text, the shell's variables): every key is compared with what Compose resolves
CASES = {
    "the issue's lines": (ISSUE, {"MYGID": "777"}),
    "quotes and comments": (
        "export T_A=exported\n"
        "T_B=plain value # comment\n"
        "T_C=no#comment\n"
        "T_D='single ${T_B} $T_B' # x\n"
        'T_E="double \\"q\\" \\n\\t ${T_B}"\n'
        "T_F='a \\'q'\n"
        'T_G="two\nlines"\n'
        "T_H=   spaced   \n"
        "T_I=#not-a-comment\n",
        {},
    ),
    "interpolation": (
        "T_A=file\n"
        "T_B=${T_A}-x\n"
        "T_C=${T_SHELL}\n"
        "T_D=${T_UNSET:-dflt}\n"
        "T_E=\n"
        "T_F=${T_E:-empty-takes-default}\n"
        "T_G=${T_LATER:-not-yet}\n"
        "T_LATER=now\n"
        "T_H=${T_SHELL_EMPTY:-d}\n"
        "T_I=${T_OVERRIDDEN}\n"
        "T_OVERRIDDEN=file\n"
        "T_J=${T_OVERRIDDEN}\n",
        {"T_SHELL": "from-shell", "T_SHELL_EMPTY": "", "T_OVERRIDDEN": "shell"},
    ),
    # Compose reads these; python-dotenv reads them otherwise, so jlcompose must not guess
    "forms left to Compose": (
        "T_A=$HOME/x\nT_B=${T_NO-dash}\nT_C=${HOME:+alt}\nT_D=$$x\nT_E='a\\\\b'\nT_F=${T_A}\nT_G=fine\n"
        "T_H= # Compose: the text; python-dotenv: empty\n",
        {"HOME": "/home/someone"},
    ),
}


def compose_resolves(folder: Path, text: str, shell: dict[str, str]) -> dict[str, str]:
    """What Compose makes of each key of the file: `${KEY}` in a service's environment."""
    keys = list(parse_env_text(text, {}).lines)
    (folder / ".env").write_text(text)
    environment = "".join(f"      {k}: ${{{k}}}\n" for k in keys)
    (folder / "compose.yaml").write_text(
        f"services:\n  probe:\n    image: busybox\n    environment:\n{environment}"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("T_", "JLC_")) and k not in ("MYGID", "HOME")
    }
    done = subprocess.run(
        [
            *("docker", "compose", "-p", f"jlctenv{uuid.uuid4().hex[:8]}", "-f", "compose.yaml"),
            *("--env-file", ".env", "config", "--format", "json"),
        ],
        cwd=folder,
        env={**env, **shell},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    resolved: dict[str, str] = json.loads(done.stdout)["services"]["probe"]["environment"]
    # `config` writes a literal $ as $$, so that its output reads back as the same value
    return {k: v.replace("$$", "$") for k, v in resolved.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_jlcompose_reads_what_compose_resolves(case: str, tmp_path: Path) -> None:
    text, shell = CASES[case]
    compose = compose_resolves(tmp_path, text, shell)
    ours = parse_env_text(text, shell)
    assert set(ours.values) | set(ours.unresolved) == set(compose)
    for key, value in ours.values.items():
        # the shell beats .env in Compose; jlcompose asks the shell first too
        assert shell.get(key, value) == compose[key], (key, text)
    if case == "forms left to Compose":
        assert ours.values == {"T_G": "fine"}  # every other line is one jlcompose refuses to guess
    else:
        assert ours.unresolved == {}


def test_project_variables_agree_with_compose_for_the_issue_lines(tmp_path: Path) -> None:
    compose = compose_resolves(tmp_path, ISSUE, {"MYGID": "777"})
    root = copy_template(tmp_path / "proj")
    (root / ".env").write_text(ISSUE)
    cfg = load_config(root, {})
    variables = Project(config=cfg, services=discover_services(cfg), environ={"MYGID": "777"}).variables()
    for key in ("JLC_UID", "JLC_GID", "JLC_PROJECT"):
        assert variables[key] == compose[key]


def test_status_with_the_issue_lines_through_real_compose(lab_project: Path) -> None:
    env = lab_project / ".env"
    name = f"jlct{uuid.uuid4().hex[:8]}"
    kept = [ln for ln in env.read_text().splitlines() if not ln.startswith("JLC_PROJECT=")]
    env.write_text(
        "\n".join([*kept, f"JLC_PROJECT='{name}' # x", 'JLC_UID="1000" # uid', "JLC_GID=${MYGID}", ""])
    )
    res = run_cli("-v", "status", "--json", cwd=lab_project, env={"MYGID": "777"})
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["project"] == name
    shown = re.findall(r"compose variables: (.*)", res.stderr)
    assert shown and all("JLC_UID=1000" in s and "JLC_GID=777" in s for s in shown), res.stderr
