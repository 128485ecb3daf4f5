"""The code that runs inside the labs: the installer's command, unpinning, the %pipreq hint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from jlcompose.core.configedit import unpin_target, with_unpin
from jlcompose.core.pipfailure import explain_failure
from jlcompose.errors import ConfigError
from jlcompose.inlab import install, magic, protocol, unpin

PINS = "anyio==4.16.0\nsix==1.17.0\ntorch==2.9.0a0+145a3a7.nv25.10  # NVIDIA's build\nH11==0.14.0\n"


@pytest.fixture
def constraints(tmp_path: Path) -> Path:
    path = tmp_path / "constraint.txt"
    path.write_text(PINS)
    return path


def test_uv_gets_the_images_constraints_and_index_as_pip_would(constraints: Path, tmp_path: Path) -> None:
    extra = tmp_path / "more.txt"
    extra.write_text("numpy==1.26.4\n")
    environ = {
        "PIP_CONSTRAINT": f"{constraints} {extra} /nonexistent.txt",
        "PIP_INDEX_URL": "https://mirror.example/simple",
    }
    argv, env, used = install.command(["six"], environ, uv="/usr/local/bin/uv")
    assert used == "uv" and argv[:3] == ["/usr/local/bin/uv", "pip", "install"]
    assert argv[argv.index("--python") + 1] == sys.executable and "--system" in argv
    assert argv[-5:] == ["--constraint", str(constraints), "--constraint", str(extra), "six"]
    assert env["UV_INDEX_URL"] == "https://mirror.example/simple"
    argv, env, used = install.command(["six"], environ, uv=None)
    assert used == "pip" and argv[1:] == ["-m", "pip", "install", "six"]
    assert env["PIP_CONSTRAINT"] == environ["PIP_CONSTRAINT"]  # pip reads it by itself


def test_a_failed_uv_resolution_names_the_images_pins_in_pips_words(constraints: Path) -> None:
    report = [
        "error: No solution found when resolving dependencies",
        "  cause: Because torchvision==0.24.0 depends on torch==2.9.0 and torch==2.9.0a0+145a3a7.nv25.10,"
        " we can conclude that torchvision==0.24.0 cannot be used.",
    ]
    assert install.pins_named(report, [str(constraints)]) == [
        "The user requested (constraint) torch==2.9.0a0+145a3a7.nv25.10"
    ]
    explained = explain_failure(
        "torch", ["torchvision==0.24.0"], report + install.pins_named(report, [str(constraints)]), 1
    )
    assert explained.message == (
        "uv cannot install torchvision==0.24.0: the image pins torch==2.9.0a0+145a3a7.nv25.10 in its pip "
        "constraint file ($PIP_CONSTRAINT), but torchvision 0.24.0 depends on torch==2.9.0."
    )
    assert "do not unpin" in (explained.hint or "")


def test_pips_and_uvs_words_give_the_same_explanation(constraints: Path) -> None:
    pip = [
        "ERROR: Cannot install six==1.16.0 because these package versions have conflicting dependencies.",
        "The conflict is caused by:",
        "    The user requested six==1.16.0",
        "    The user requested (constraint) six==1.17.0",
    ]
    uv = [
        "error: No solution found when resolving dependencies",
        "  cause: Because you require six==1.16.0 and six==1.17.0, we can conclude that your requirements are unsatisfiable.",
    ]
    a = explain_failure("torch", ["six==1.16.0"], pip, 1)
    b = explain_failure("torch", ["six==1.16.0"], uv + install.pins_named(uv, [str(constraints)]), 1)
    assert a.message.replace("pip cannot", "uv cannot") == b.message
    assert "--unpin six" in (b.hint or "")


@pytest.mark.parametrize(
    ("lines", "words"),
    [
        (
            [
                "  cause: Because nosuch-jlc was not found in the package registry and you require nosuch-jlc, we can"
            ],
            "no package called nosuch-jlc",
        ),
        (
            ["  cause: Because there is no version of six==99 and you require six==99, we can conclude"],
            "no release of six matches six==99",
        ),
        (
            ["error: Failed to fetch: `https://pypi.org/simple/six/`", "  Caused by: dns error"],
            "could not reach the package index",
        ),
    ],
)
def test_uv_failures(lines: list[str], words: str) -> None:
    assert (
        words
        in explain_failure("torch", ["x"], ["Using Python 3.12 environment at: /usr", *lines], 1).message
    )


def test_asking_for_another_torch_is_answered_with_the_base_image() -> None:
    uv = ["  cause: Because you require torch==2.3 and torch==2.9.0a0+145a3a7.nv25.10, we can conclude"]
    err = explain_failure(
        "torch", ["torch==2.3"], [*uv, "The user requested (constraint) torch==2.9.0a0+145a3a7.nv25.10"], 1
    )
    assert "NVIDIA's own build" in (err.hint or "") and "JLC_TORCH_BASE" in (err.hint or "")


def test_unpin_drops_any_spelling_and_keeps_the_rest(
    constraints: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert (
        unpin.without(PINS, ["h11", "SIX"])
        == "anyio==4.16.0\ntorch==2.9.0a0+145a3a7.nv25.10  # NVIDIA's build\n"
    )
    monkeypatch.setenv("PIP_CONSTRAINT", str(constraints))
    copy = unpin.filtered_copy(["six"], str(tmp_path))
    assert (
        "six" not in Path(copy).read_text() and constraints.read_text() == PINS
    )  # a copy: the image's file stays
    assert unpin.apply(["six"]) == ["six==1.17.0"]
    assert "six" not in constraints.read_text()


@pytest.mark.parametrize(
    ("text", "table", "expected"),
    [
        ("", None, 'unpin = ["h11"]\n'),
        ('gpu = "cpu"\n', None, 'gpu = "cpu"\nunpin = ["h11"]\n'),
        ('gpu = "cpu"  # mine\nunpin = ["six"]\n', None, 'gpu = "cpu"  # mine\nunpin = ["six", "h11"]\n'),
        ('unpin = [\n  "six",\n]\n\n[other]\nx = 1\n', None, 'unpin = ["six", "h11"]\n\n[other]\nx = 1\n'),
        (
            '[project]\nname = "x"\n',
            "tool.jlcompose",
            '[project]\nname = "x"\n\n[tool.jlcompose]\nunpin = ["h11"]\n',
        ),
        (
            '[tool.jlcompose]\ngpu = "auto"\n\n[tool.ruff]\nline-length = 99\n',
            "tool.jlcompose",
            '[tool.jlcompose]\ngpu = "auto"\nunpin = ["h11"]\n\n[tool.ruff]\nline-length = 99\n',
        ),
        ('unpin = ["H11"]\n', None, 'unpin = ["h11"]\n'),
    ],
)
def test_unpin_is_added_to_the_config_byte_for_byte(text: str, table: str | None, expected: str) -> None:
    assert with_unpin(text, ["h11"], table=table) == expected


def test_a_broken_config_is_left_alone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        with_unpin("gpu = [\n", ["h11"], table=None)
    assert unpin_target(tmp_path) == (tmp_path / "jlcompose.toml", None)
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    assert unpin_target(tmp_path) == (tmp_path / "pyproject.toml", "tool.jlcompose")


@pytest.mark.parametrize(
    ("module", "hint"),
    [
        ("sklearn", "not installed: %pipreq scikit-learn installs it and keeps it"),
        ("cv2.dnn", "not installed: %pipreq opencv-python installs it and keeps it"),
        ("some_thing", "not installed: %pipreq some-thing installs it and keeps it"),
        ("json", None),  # there, so not a missing package
        ("json.nosuch", None),  # a submodule of an installed package: no install fixes that
        (None, None),
    ],
)
def test_missing_module_hint(module: str | None, hint: str | None) -> None:
    assert magic.missing_hint(module) == hint


def test_a_socket_in_a_deep_folder_is_still_reachable(tmp_path: Path) -> None:
    import socket

    deep = tmp_path / ("d" * 60) / ("e" * 60) / ".jlcompose" / "agent"
    deep.mkdir(parents=True)
    path = deep / "torch.sock"
    server = socket.socket(socket.AF_UNIX)
    with pytest.raises(OSError):
        server.bind(str(path))  # too long for sockaddr_un: why connect() needs its detour
    import os

    os.chdir(deep)
    server.bind("torch.sock")
    server.listen()
    client = protocol.connect(path)
    assert client is not None
    client.close()
    server.close()
    assert protocol.connect(deep / "other.sock") is None
