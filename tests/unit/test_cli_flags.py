"""Bad command-line flags: a usage message, exit code 2, and no file touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from jlcompose import cli
from tests.conftest import copy_template

BAD_FLAGS = [
    (["up", "--cpu", "--gpu"], "not allowed with argument"),
    (["up", "--rebuild", "--no-build"], "not allowed with argument"),
    (["up", "--frobnicate"], "unrecognized arguments"),
    (["logs", "-n", "many"], "invalid int value"),
    (["logs", "torch", "tf"], "unrecognized arguments"),
    (["watch", "--detach", "--stop"], "not allowed with argument"),
    (["pipreq", "--service"], "expected one argument"),
    (["pipreq", "--all", "--service", "tf", "six"], "not allowed with argument"),
    (["monitor", "--interval", "soon"], "invalid"),
    (["monitor", "--count", "x"], "invalid"),
    (["init", "a", "b"], "unrecognized arguments"),
    (["status", "--jsn"], "unrecognized arguments"),
    (["prune", "--force"], "unrecognized arguments"),
    (["bench", "--runs", "x"], "unrecognized arguments"),
    (["nosuchcommand"], "invalid choice"),
    (["-C"], "expected one argument"),
]


@pytest.mark.parametrize(("argv", "words"), BAD_FLAGS, ids=[" ".join(a) for a, _ in BAD_FLAGS])
def test_bad_flags(
    argv: list[str],
    words: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = copy_template(tmp_path / "p")
    monkeypatch.chdir(root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert words in capsys.readouterr().err
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert after == before


@pytest.mark.parametrize("argv", [["monitor", "--interval", "-1"], ["monitor", "--count", "0"]])
def test_bad_values_for_valid_flags(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = cli.main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    assert capsys.readouterr().err.strip()


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["pipreq"], "pipreq needs at least one package."),
        (["pipreq", "-e", "."], "'-e' is a pip option; pipreq takes package requirements only."),
        (["pipreq", "--pre", "six"], "'--pre' is a pip option; pipreq takes package requirements only."),
        (["pipreq", "six", "--index-url=https://x"], "is a pip option"),
        (["pipreq", "--unpin", "six==1", "six"], "--unpin takes a package name, not 'six==1'."),
    ],
)
def test_pipreq_says_why_in_its_own_words(
    argv: list[str],
    words: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = copy_template(tmp_path / "p")
    monkeypatch.chdir(root)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert cli.main(argv) == 2
    assert words in capsys.readouterr().err
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


def test_global_options_work_after_the_command_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_template(tmp_path / "p")
    assert cli.main(["pipreq", "--no-install", "six", "-C", str(root)]) == 0
    assert (root / "docker_files/torch/requirements.txt").read_text().endswith("six\n")
    assert (
        cli.main(["-C", str(tmp_path), "pipreq", "--no-install", "rich", "-C", str(root)]) == 0
    )  # the later one wins
    assert (root / "docker_files/torch/requirements.txt").read_text().endswith("six\nrich\n")
