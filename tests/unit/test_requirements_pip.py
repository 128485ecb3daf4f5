"""jlcompose reads requirements files as pip's own parser does (pip._internal, offline).

Every corpus file goes through pip's real code: get_file_content (decoding, byte order
mark), preprocess (splitlines, join_lines, ignore_comments, expand_env_variables), the line
parser (break_args_options, shlex, optparse) and install_req_from_parsed_requirement (names
from PEP 508, wheel file names, #egg= fragments). What jlcompose lists must be what pip
installs, and an edit must leave everything else pip reads as it was.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pip._internal.exceptions import InstallationError
from pip._internal.network.session import PipSession
from pip._internal.req.constructors import install_req_from_parsed_requirement
from pip._internal.req.req_file import (
    ParsedLine,
    break_args_options,
    get_file_content,
    get_line_parser,
    handle_requirement_line,
    parse_requirements,
    preprocess,
)

from jlcompose.core.includes import includes
from jlcompose.core.reqfile import plan_edit
from jlcompose.core.reqlines import logical, physical
from jlcompose.core.requirements import Change, edit, listed, normalize

CORPUS = Path(__file__).resolve().parent.parent / "data" / "requirements"
FILES = sorted(p.relative_to(CORPUS).as_posix() for p in [*CORPUS.glob("*.txt"), *CORPUS.glob("pip/*.txt")])
ENV = {"TORCH_VERSION": "2.4.1", "VERSION": "1.2.3"}  # what the corpus's ${VAR} lines use


@functools.cache
def session() -> PipSession:
    """Offline: only files are read through it. Building one imports pip's vendored
    pkg_resources, which warns about itself."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return PipSession()


# (pip's line number, canonical name or None, normalized requirement; "" unnamed, "error")
PipLine = tuple[int, str | None, str]


@pytest.fixture(autouse=True)
def pip_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)  # pip resolves bare paths (-e ., ./pkg) against the cwd
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PRIVATE_PACKAGE", raising=False)
    yield


def pip_reads(text: str, where: Path) -> list[PipLine]:
    """The requirements pip takes from one file (its -r/-c lines are not followed here)."""
    path = where / "requirements-under-test.txt"
    path.write_bytes(text.encode("utf-8"))
    _, content = get_file_content(str(path), session())
    parse = get_line_parser(None)
    out: list[PipLine] = []
    for number, line in preprocess(content):
        args, opts = parse(line)
        parsed = ParsedLine(str(path), number, args, opts, False)
        if getattr(parsed, "requirement", None) is None:  # an option line (pip 23 and 25+ alike)
            continue
        try:
            ireq = install_req_from_parsed_requirement(handle_requirement_line(parsed))
        except InstallationError:
            out.append((number, None, "error"))
            continue
        if ireq.req is None:
            out.append((number, None, ""))
            continue
        req = Requirement(f"{ireq.req} ; {ireq.markers}" if ireq.markers else str(ireq.req))
        out.append((number, canonicalize_name(req.name), normalize(req)))
    return out


def read(name: str) -> str:
    return (CORPUS / name).read_bytes().decode("utf-8")


def mine(text: str) -> set[tuple[str, int]]:
    return {(name, entry.line) for name, found in listed(text).items() for entry in found}


def test_the_corpus_has_the_tricky_cases() -> None:
    raw = b"".join((CORPUS / f).read_bytes() for f in FILES)
    for feature in (b"# progress bars \\\n", b"\x0c", b"\xe2\x80\xa8", b"#egg=", b"-e git+", b".whl", b"${"):
        assert feature in raw, feature
    assert len(FILES) >= 15


@pytest.mark.parametrize("name", FILES)
def test_jlcompose_lists_exactly_what_pip_installs(name: str, tmp_path: Path) -> None:
    text = read(name)
    pip = pip_reads(text, tmp_path)
    by_pip = {(n, number) for number, n, _ in pip if n is not None}
    extra = mine(text) - by_pip
    assert by_pip <= mine(text)
    # the one thing jlcompose knows beyond pip's parser: an sdist's name from its file name
    # (pip learns it by building); those are lines pip installs, unnamed
    unnamed = {number for number, n, req in pip if n is None and req == ""}
    assert {number for _, number in extra} <= unnamed
    for pkg, found in listed(text).items():
        for entry in found:
            if entry.rewritable:
                assert (entry.line, pkg, entry.requirement) in pip


def test_names_pip_cannot_know_without_building_or_the_environment() -> None:
    text = read("urls.txt")
    assert {name for name, _ in mine(text)} == {
        "gradio",
        "accelerate",
        "mytools",
        "other-pkg",
        "torch",
        "flash-attn",  # from flash_attn-2.6.3.tar.gz: the only name-version split
        "xformers",
        "deepspeed",
        "einops",
    }  # not unnamed.git, nor ambiguous-1.0-1.tar.gz (ambiguous-1.0 version 1, or ambiguous 1.0-1?)


@pytest.mark.parametrize("name", FILES)
def test_an_appended_package_is_seen_by_pip_and_nothing_else_moves(name: str, tmp_path: Path) -> None:
    text = read(name)
    before = pip_reads(text, tmp_path)
    result = edit(text, Requirement("brand-new-package==1.0"))
    assert result.change is Change.ADDED
    after = pip_reads(result.text, tmp_path)
    assert after[:-1] == before
    assert after[-1] == (len(physical(result.text)), "brand-new-package", "brand-new-package==1.0")


@pytest.mark.parametrize("name", FILES)
def test_an_update_changes_only_that_requirement_for_pip(name: str, tmp_path: Path) -> None:
    text = read(name)
    before = pip_reads(text, tmp_path)
    updated = 0
    for pkg, found in listed(text).items():
        if len(found) != 1 or not found[0].rewritable:
            continue
        old = Requirement(found[0].requirement)
        extras = f"[{','.join(sorted(old.extras))}]" if old.extras else ""
        marker = f" ; {old.marker}" if old.marker else ""
        result = edit(text, Requirement(f"{pkg}==99.0{marker}"))
        assert result.change is Change.UPDATED, pkg
        after = pip_reads(result.text, tmp_path)
        expected = [
            (n, normalize(Requirement(f"{pkg}{extras}==99.0{marker}")) if n == pkg else req)
            for _, n, req in before
        ]
        assert [(n, req) for _, n, req in after] == expected, pkg
        updated += 1
    assert updated or name in ("pip/editables.txt",)


def test_a_commented_backslash_hides_the_next_line_from_pip_and_from_jlcompose(tmp_path: Path) -> None:
    text = "tqdm  # progress bars \\\nsoundfile==0.12.1\n"
    assert [n for _, n, _ in pip_reads(text, tmp_path)] == ["tqdm"]
    assert set(listed(text)) == {"tqdm"}
    result = edit(text, Requirement("soundfile==0.12.1"))
    assert result.change is Change.ADDED  # pip installs no soundfile from this file yet
    assert [n for _, n, _ in pip_reads(result.text, tmp_path)] == ["tqdm", "soundfile"]


ALPHABET = [*"ab=1 \t#\\\n\r\x0c\x85-;", "  ", "\r\n", "-e"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["\ufeff", *ALPHABET]), max_size=30).map("".join))
@example("\n\ufeff\\\r")  # a continuation ending in a lone CR: the closing empty line is "\r"
def test_logical_lines_are_pips_for_any_text(text: str) -> None:
    content = text.removeprefix("\ufeff")  # pip's auto_decode drops a byte order mark
    lines = [lg for lg in logical(physical(text)) if lg.text]
    assert [(lg.number, lg.text) for lg in lines] == list(preprocess(content))
    for lg in lines:
        args, options = break_args_options(lg.text)
        assert (lg.args, lg.options) == (args.rstrip(), options)
    result = edit(text, Requirement("zzz"))
    assert result.change is Change.ADDED
    after = list(preprocess(result.text.removeprefix("\ufeff")))
    assert after[:-1] == list(preprocess(content))
    assert after[-1][1] == "zzz"


def test_constraint_files_install_nothing_and_r_inside_c_installs(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("-r base.txt\n-c pins.txt\nlocal==1.0\n")
    (tmp_path / "base.txt").write_text("six\ngit+https://github.com/example/x.git#egg=xpkg\n")
    (tmp_path / "pins.txt").write_text("numpy==1.26.4\nsix==1.16.0\n-r more.txt\n")
    (tmp_path / "more.txt").write_text("rich\n")
    root = tmp_path / "requirements.txt"
    parsed = list(parse_requirements(str(root), session()))
    installed = {
        canonicalize_name(Requirement(p.requirement.split("#egg=")[-1]).name)
        for p in parsed
        if not p.constraint
    }
    constrained = {canonicalize_name(Requirement(p.requirement).name) for p in parsed if p.constraint}
    assert (installed, constrained) == ({"local", "six", "xpkg", "rich"}, {"numpy", "six"})
    found = {(p.name, c) for p, c in includes(root)}
    assert found == {("base.txt", False), ("pins.txt", True), ("more.txt", False)}
    listed_by_jlcompose = set(listed(root.read_text()))
    for path, constraint in includes(root):
        if not constraint:
            listed_by_jlcompose |= set(listed(path.read_text()))
    assert listed_by_jlcompose == installed
    plan = plan_edit(
        root, [Requirement("numpy"), Requirement("six"), Requirement("rich"), Requirement("xpkg")]
    )
    assert plan.changed == ["numpy"]  # only in a -c file: pip would install nothing
    assert plan.present == ["six (in base.txt)", "rich (in more.txt)", "xpkg (line 2 of base.txt)"]
    assert plan.new == root.read_text() + "numpy\n"
