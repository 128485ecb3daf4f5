from __future__ import annotations

from pathlib import Path

import pytest

from jlcompose.core.config import find_root, load_config, sanitize_project_name
from jlcompose.errors import ConfigError, UsageError


def test_defaults(tmp_path: Path) -> None:
    cfg = load_config(tmp_path, {})
    assert cfg.gpu == "auto" and cfg.default_services == ("torch",) and not cfg.project_name_explicit
    assert cfg.project_name == sanitize_project_name(tmp_path.name)


def test_pyproject_table_and_env_override(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname="x"\n[tool.jlcompose]\nproject_name = "demo"\nservices = ["tf"]\ngpu = "cpu"\n'
        "wait_timeout = 30\nulimits = true\n"
    )
    cfg = load_config(tmp_path, {"JLCOMPOSE_GPU": "gpu", "JLCOMPOSE_WAIT_TIMEOUT": "12.5"})
    assert (cfg.project_name, cfg.default_services, cfg.gpu, cfg.wait_timeout, cfg.ulimits) == (
        "demo",
        ("tf",),
        "gpu",
        12.5,
        True,
    )
    assert cfg.project_name_explicit


def test_jlcompose_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.jlcompose]\ngpu = "cpu"\n')
    (tmp_path / "jlcompose.toml").write_text('gpu = "gpu"\n')
    assert load_config(tmp_path, {}).gpu == "gpu"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('gpu = "maybe"\n', ["jlcompose.toml", "`gpu`", "maybe"]),
        ("gpu = 1\n", ["`gpu`"]),
        ("wait_timeout = -1\n", ["`wait_timeout`"]),
        ('wait_timeout = "soon"\n', ["`wait_timeout`", "seconds"]),
        ("wait_timeout = true\n", ["`wait_timeout`"]),
        ('project_name = "My Project"\n', ["`project_name`"]),
        ("services = []\n", ["`services`"]),
        ('services = ["ok", "Not OK"]\n', ["`services`"]),
        ('ulimits = "yes"\n', ["`ulimits`", "true or false"]),
        ('colour = "blue"\n', ["unknown key `colour`"]),
        ('ca_certs = "missing-dir"\n', ["`ca_certs`", "does not exist"]),
        ("compose_files = [1]\n", ["`compose_files`"]),
        ("gpu = \n", ["not valid TOML"]),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, words: list[str]) -> None:
    (tmp_path / "jlcompose.toml").write_text(text)
    before = (tmp_path / "jlcompose.toml").read_bytes()
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path, {})
    for word in words:
        assert word in exc.value.message
    assert (tmp_path / "jlcompose.toml").read_bytes() == before


@pytest.mark.parametrize(
    ("env", "word"),
    [
        ({"JLCOMPOSE_GPU": "yes"}, "`gpu`"),
        ({"JLCOMPOSE_WAIT_TIMEOUT": "x"}, "JLCOMPOSE_WAIT_TIMEOUT"),
        ({"JLCOMPOSE_PROJECT_NAME": "UPPER"}, "JLCOMPOSE_PROJECT_NAME"),
        ({"JLCOMPOSE_CA_CERTS": "/no/such/dir"}, "`ca_certs`"),
    ],
)
def test_bad_environment(tmp_path: Path, env: dict[str, str], word: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path, env)
    assert word in exc.value.message


def test_find_root_walks_up(tmp_path: Path) -> None:
    (tmp_path / "compose").mkdir()
    (tmp_path / "compose/compose.yaml").write_text("services: {}\n")
    deep = tmp_path / "a/b"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()


def test_find_root_explains_when_missing(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as exc:
        find_root(tmp_path)
    assert "jlcompose init" in (exc.value.hint or "")


@pytest.mark.parametrize(("raw", "clean"), [("My Project", "my-project"), ("__x__", "x"), ("...", "lab")])
def test_sanitize(raw: str, clean: str) -> None:
    assert sanitize_project_name(raw) == clean
