from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from jlcompose import cli
from jlcompose.errors import BuildFailed, ExitCode


def test_every_command_loads_and_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name, help_text in cli.COMMANDS.items():
        module = cli._load(name)
        assert module.HELP == help_text, name
        assert callable(module.run) and callable(module.add_arguments)
        with pytest.raises(SystemExit) as sub_help:
            cli.main([name, "--help"])
        assert sub_help.value.code == 0
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.startswith("jlcompose ")


def test_help_does_not_import_python_on_whales() -> None:
    code = (
        "import sys; from jlcompose import cli; cli.build_parser(['--help']); "
        "print(sorted(m for m in ('python_on_whales', 'rich', 'watchdog', 'packaging') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == ExitCode.USAGE


@pytest.mark.parametrize(
    ("exc", "code", "text"),
    [
        (BuildFailed("the build broke.", hint="fix it"), ExitCode.BUILD, "the build broke."),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "interrupted"),
        (RuntimeError("boom"), ExitCode.BUG, "jlcompose"),
    ],
)
def test_exit_code_table(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    exc: BaseException,
    code: int,
    text: str,
) -> None:
    from jlcompose.commands import url

    def boom(args: object, ctx: object) -> int:
        raise exc

    monkeypatch.setattr(url, "run", boom)
    assert cli.main(["url"]) == code
    assert text in capsys.readouterr().err


def test_unknown_service_through_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import copy_template

    root = copy_template(tmp_path / "p")
    monkeypatch.chdir(root)
    assert cli.main(["up", "nope"]) == ExitCode.USAGE
    assert "unknown service 'nope'" in capsys.readouterr().err


def _examples(text: str) -> list[str]:
    """The command lines of a help text's examples (before the two-space gap and any pipe)."""
    out = []
    for line in text.splitlines():
        if line.startswith("  jlcompose "):
            command = re.split(r"\s{2,}", line.strip())[0]
            out.append(re.split(r" [|>] ", command)[0])
    return out


def test_every_example_in_the_help_is_a_command_line_that_parses() -> None:
    texts = {"jlcompose": cli.EPILOG} | {name: cli._load(name).DESCRIPTION for name in cli.COMMANDS}
    for name, text in texts.items():
        examples = _examples(text)
        assert examples, f"`jlcompose {name} --help` shows no example"
        for example in examples:
            argv = shlex.split(example)[1:]
            try:
                args = cli.parse(cli.build_parser(argv), argv)
            except SystemExit:
                pytest.fail(f"the help of {name} shows {example!r}, which jlcompose refuses")
            assert name in ("jlcompose", args.command), example


def test_the_main_help_teaches_the_habits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    assert "before or after the command" in out and "completion" in out and '{"error"' in out
    for name in ("status", "url", "pipreq", "prune", "doctor", "monitor", "bench"):  # as it says
        assert cli.parse(cli.build_parser([name]), [name, "--json"]).json is True, name
        assert "--json" in cli._load(name).DESCRIPTION, f"`jlcompose {name} --help` shows no --json example"
