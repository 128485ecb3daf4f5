"""Editing requirements files: one line changes, every other byte stays."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from jlcompose.core.includes import include_paths, includes
from jlcompose.core.reqfile import plan_edit
from jlcompose.core.requirements import (
    Change,
    Diff,
    diff,
    edit,
    has_hashes,
    requirement_lines,
)
from jlcompose.errors import RequirementError

CORPUS = Path(__file__).resolve().parent.parent / "data" / "requirements"
FILES = sorted(p.name for p in CORPUS.glob("*.txt"))
# per corpus file: a package on one physical line, a new requirement for it, and that
# line before and after (indentation, comment, continuation and ending all kept)
ON_ONE_LINE = {
    "bom.txt": ("sympy", "sympy==1.13.3", "sympy==1.13.2\n", "sympy==1.13.3\n"),
    "continuation.txt": ("scipy", "scipy==1.15.0", "scipy==1.14.1 \\\n", "scipy==1.15.0 \\\n"),
    "crlf.txt": ("typer", "typer==0.12.5", "typer>=0.12\r\n", "typer==0.12.5\r\n"),
    "hashes.txt": (
        "certifi",
        "certifi==2024.9.1",
        "certifi==2024.8.30 \\\n",
        "certifi==2024.9.1 \\\n",
    ),
    "includes.txt": (
        "torchmetrics",
        "torchmetrics==1.4.1",
        "torchmetrics\n",
        "torchmetrics==1.4.1\n",
    ),
    "markers-extras.txt": (
        "uvicorn",
        "uvicorn[standard]==0.31.0",
        "uvicorn[standard]==0.30.6\n",
        "uvicorn[standard]==0.31.0\n",
    ),
    "ngc-project.txt": ("wandb", "wandb==0.18.0", "wandb>=0.17\n", "wandb==0.18.0\n"),
    "no-final-newline.txt": ("tqdm", "tqdm==4.67.0", "tqdm==4.66.5\n", "tqdm==4.67.0\n"),
    "options.txt": ("timm", "timm==1.0.9", "timm>=1.0\n", "timm==1.0.9\n"),
    "plain.txt": (
        "matplotlib",
        "matplotlib==3.9.2",
        "matplotlib   # for the notebooks\n",
        "matplotlib==3.9.2   # for the notebooks\n",
    ),
    "unparseable.txt": (
        "opencv-python-headless",
        "opencv-python-headless==4.10.0.86",
        "opencv-python-headless==4.10.0.84\n",
        "opencv-python-headless==4.10.0.86\n",
    ),
    "urls.txt": ("einops", "einops==0.8.1", "einops==0.8.0\n", "einops==0.8.1\n"),
}
LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")


def add_or_update(text: str, req: Requirement) -> tuple[str, Change]:
    """edit() as (new text, what changed): the shape most of these cases check."""
    result = edit(text, req)
    return result.text, result.change


def read(name: str) -> str:
    return (CORPUS / name).read_bytes().decode("utf-8")


def split(text: str) -> list[str]:
    """Lines with their endings, exactly (str.splitlines would also split on \\x0c and friends)."""
    return [m.group(0) for m in LINE.finditer(text) if m.group(0)]


def changed_lines(old: str, new: str) -> list[str]:
    return [d for d in difflib.ndiff(split(old), split(new)) if d[:1] in "+-"]


def test_the_corpus_is_big_and_varied() -> None:
    assert len(FILES) >= 8
    assert set(FILES) == set(ON_ONE_LINE)
    raw = b"".join((CORPUS / f).read_bytes() for f in FILES)
    for feature in (b"\r\n", b"\\\n", b"--index-url", b"-e .", b"-r ", b"; python_version", b"["):
        assert feature in raw, feature
    assert not read("no-final-newline.txt").endswith("\n")


@pytest.mark.parametrize("name", FILES)
def test_adding_a_package_appends_one_line_and_keeps_every_other_byte(name: str) -> None:
    old = read(name)
    new, change = add_or_update(old, Requirement("brand-new-package==1.0"))
    assert change is Change.ADDED
    ending = "\r\n" if "\r\n" in old else "\n"
    assert new.endswith("brand-new-package==1.0" + ending)
    if old.endswith(("\n", "\r")):
        assert new == old + "brand-new-package==1.0" + ending
        assert changed_lines(old, new) == ["+ brand-new-package==1.0" + ending]
    else:  # the last line gains a line ending and nothing else
        assert new == old + ending + "brand-new-package==1.0" + ending
    assert requirement_lines(new)["brand-new-package"] == "brand-new-package==1.0"


@pytest.mark.parametrize("name", FILES)
def test_updating_a_package_rewrites_exactly_its_line(name: str) -> None:
    old = read(name)
    package, pinned, line_before, line_after = ON_ONE_LINE[name]
    new, change = add_or_update(old, Requirement(pinned))
    assert change is Change.UPDATED
    assert changed_lines(old, new) == ["- " + line_before, "+ " + line_after]
    assert new == old.replace(line_before, line_after, 1)
    before, after = requirement_lines(old), requirement_lines(new)
    assert after[package] == pinned
    assert {k: v for k, v in after.items() if k != package} == {
        k: v for k, v in before.items() if k != package
    }


@pytest.mark.parametrize("name", FILES)
def test_asking_again_changes_nothing(name: str) -> None:
    old = read(name)
    package, pinned, _, _ = ON_ONE_LINE[name]
    once, _ = add_or_update(old, Requirement(pinned))
    twice, change = add_or_update(once, Requirement(pinned))
    assert change is Change.UNCHANGED and twice == once
    bare, change = add_or_update(once, Requirement(package))
    assert change is Change.UNCHANGED and bare == once


def test_a_trailing_comment_and_crlf_survive_an_update() -> None:
    text = "a==1\r\nmatplotlib==3.8   # for the notebooks\r\nb\r\n"
    new, change = add_or_update(text, Requirement("Matplotlib>=3.9"))
    assert change is Change.UPDATED
    assert new == "a==1\r\nmatplotlib>=3.9   # for the notebooks\r\nb\r\n"


def test_a_byte_order_mark_stays_in_front_of_the_first_line() -> None:
    new, change = add_or_update("\ufeffsix==1.15.0\n", Requirement("six==1.16.0"))
    assert (new, change) == ("\ufeffsix==1.16.0\n", Change.UPDATED)


def test_names_compare_canonically_and_keep_the_files_spelling() -> None:
    text = "Scikit_Learn==1.4\n"
    new, change = add_or_update(text, Requirement("scikit-learn==1.5.1"))
    assert (new, change) == ("Scikit_Learn==1.5.1\n", Change.UPDATED)
    new, change = add_or_update(text, Requirement("SCIKIT.learn"))
    assert (new, change) == (text, Change.UNCHANGED)


def test_a_bare_name_keeps_the_pin_and_adds_new_extras() -> None:
    text = "accelerate==0.33.0\n"
    assert add_or_update(text, Requirement("accelerate")) == (text, Change.UNCHANGED)
    new, change = add_or_update(text, Requirement("accelerate[torch]"))
    assert (new, change) == ("accelerate[torch]==0.33.0\n", Change.UPDATED)


def test_a_line_under_a_marker_is_separate_from_an_unconditional_request() -> None:
    text = 'numpy==1.26.4; python_version < "3.12"\n'
    # presence is satisfied, but a pin next to a marked line would conflict: refuse
    assert add_or_update(text, Requirement("numpy")) == (text, Change.UNCHANGED)
    with pytest.raises(RequirementError, match="only under an environment marker"):
        add_or_update(text, Requirement("numpy==2.0"))
    # the same marker is the same line
    same = Requirement('numpy==1.26.5; python_version < "3.12"')
    assert add_or_update(text, same)[0] == 'numpy==1.26.5; python_version < "3.12"\n'
    # another marker is another line
    other = Requirement('numpy==2.1; python_version >= "3.12"')
    new, change = add_or_update(text, other)
    assert change is Change.ADDED and new == text + 'numpy==2.1; python_version >= "3.12"\n'


def test_two_lines_for_one_package_are_not_guessed_between() -> None:
    text = "torch>=2\nother\ntorch<3\n"
    with pytest.raises(RequirementError, match=r"lines 1 and 3"):
        add_or_update(text, Requirement("torch==2.4"))
    assert add_or_update(text, Requirement("torch")) == (text, Change.UNCHANGED)


def test_a_requirement_split_across_continuation_lines_becomes_one_line() -> None:
    text = "a\njax[cpu] \\\n  >=0.4.30  # keep me\nb\n"
    new, change = add_or_update(text, Requirement("jax==0.4.31"))
    assert change is Change.UPDATED
    assert new == "a\njax[cpu]==0.4.31  # keep me\nb\n"


def test_a_continuation_tail_stays_when_the_requirement_is_on_the_first_line() -> None:
    text = "scipy==1.14.1 \\\n    --config-settings=x=y\n"
    new, _ = add_or_update(text, Requirement("scipy==1.15"))
    assert new == "scipy==1.15 \\\n    --config-settings=x=y\n"


def test_appending_after_a_dangling_backslash_does_not_join_lines() -> None:
    text = "a==1 \\"
    new, change = add_or_update(text, Requirement("b"))
    assert change is Change.ADDED
    assert new == "a==1 \\\n\nb\n"
    assert set(requirement_lines(new)) == {"a", "b"}


def test_empty_files_and_comment_only_files() -> None:
    assert add_or_update("", Requirement("six")) == ("six\n", Change.ADDED)
    assert add_or_update("# c", Requirement("six")) == ("# c\nsix\n", Change.ADDED)
    assert add_or_update("\n\n", Requirement("six")) == ("\n\nsix\n", Change.ADDED)


def test_the_dominant_ending_wins_for_the_new_line() -> None:
    assert add_or_update("a\r\nb\r\nc\n", Requirement("d"))[0] == "a\r\nb\r\nc\nd\r\n"
    assert add_or_update("a\nb\nc\r\n", Requirement("d"))[0] == "a\nb\nc\r\nd\n"


def test_unparseable_lines_and_options_are_kept_verbatim() -> None:
    text = read("unparseable.txt") + read("options.txt")
    new, _ = add_or_update(text, Requirement("einops==0.8.1"))
    assert new == text.replace("einops==0.8.0", "einops==0.8.1")


def test_a_url_requirement_can_replace_a_pin_and_back() -> None:
    url = "https://example.org/wheels/pkg-1.0-py3-none-any.whl"
    new, change = add_or_update("pkg==0.9\n", Requirement(f"pkg @ {url}"))
    assert (new, change) == (f"pkg @ {url}\n", Change.UPDATED)
    assert add_or_update(new, Requirement("pkg==1.1"))[0] == "pkg==1.1\n"


def test_edit_reports_the_line_it_wrote() -> None:
    result = edit("Pillow==9\n", Requirement("pillow>=10"))
    assert result.change is Change.UPDATED and result.requirement == "Pillow>=10"


def test_has_hashes() -> None:
    assert has_hashes(read("hashes.txt"))
    assert has_hashes("--require-hashes\nsix==1.16.0\n")
    assert has_hashes("six==1.16.0 --hash=sha256:abc\n")
    assert has_hashes("six==1.16.0 --has=sha256:abc\n")  # optparse takes the abbreviation
    assert not has_hashes("six  # add --hash later\n")
    assert not has_hashes("six  # note \\\n    --hash=sha256:abc\n")  # folded into the comment
    assert not any(has_hashes(read(f)) for f in FILES if f != "hashes.txt")


def test_requirement_lines_normalizes() -> None:
    text = "Pillow >= 10.0 , < 11\nRequests[Socks]\n-e .\n# x\nnumpy==1; python_version<'3.12'\n"
    assert requirement_lines(text) == {
        "pillow": "pillow<11,>=10.0",
        "requests": "requests[socks]",
        "numpy": 'numpy==1; python_version < "3.12"',
    }


def test_diff_reports_new_and_changed_requirements_and_removed_names() -> None:
    old = "a==1\nb\nc>=2  # note\n-e .\n"
    new = "A==2\nc >= 2\nd[x]\n-e .\n"
    assert diff(old, new) == Diff(added=["a==2", "d[x]"], removed=["b"], other_changed=False)
    assert diff(old, old.replace("# note", "# other")) == Diff()
    assert diff(old, old.replace("-e .", "-e ./lib")).other_changed
    assert diff("", "x\n") == Diff(added=["x"])


def test_diff_of_a_marked_package_installs_all_its_lines() -> None:
    old = 'n==1; python_version < "3.12"\n'
    new = old + 'n==2; python_version >= "3.12"\n'
    assert diff(old, new).added == [
        'n==1; python_version < "3.12"',
        'n==2; python_version >= "3.12"',
    ]


def test_include_paths_follows_r_and_c_recursively(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "req.txt").write_text("-r base.txt\n-c sub/pins.txt\n--index-url https://x/\n")
    (tmp_path / "base.txt").write_text("--requirement=sub/more.txt\n-r req.txt\n")
    (tmp_path / "sub" / "more.txt").write_text("six\n")
    (tmp_path / "sub" / "pins.txt").write_text("six==1.16.0\n")
    found = include_paths(tmp_path / "req.txt")
    assert [p.relative_to(tmp_path.resolve()).as_posix() for p in found] == [
        "base.txt",
        "sub/more.txt",
        "req.txt",
        "sub/pins.txt",
    ]


# -- lines pip installs from that are not PEP 508 ----------------------------------------

FIXED = [
    ("https://example.org/gradio-4.37.2+custom-py3-none-any.whl", "gradio"),
    ("git+https://github.com/huggingface/accelerate.git#egg=accelerate", "accelerate"),
    ("-e git+https://github.com/example/tools.git#egg=mytools", "mytools"),
    ("-e git+https://github.com/example/tools.git#egg=mytools&subdirectory=python", "mytools"),
    ("--editable=git+https://github.com/example/b.git#egg=Beta_Pkg", "beta-pkg"),
    ("gradio==${VERSION}", "gradio"),
    ("gradio>=${MIN},<${MAX}  # from the build args", "gradio"),
    ("https://example.org/src/flash_attn-2.6.3.tar.gz", "flash-attn"),
    ("https://example.org/src/my-pkg-1.0.tar.gz#sha256=abc", "my-pkg"),
    ("./wheels/xformers-0.0.28-cp311-cp311-manylinux_2_28_x86_64.whl", "xformers"),
    ('https://example.org/deepspeed-0.15.1-py3-none-any.whl ; python_version >= "3.9"', "deepspeed"),
]


@pytest.mark.parametrize(("line", "package"), FIXED, ids=[line[:40] for line, _ in FIXED])
def test_a_package_from_a_url_vcs_archive_or_variable_line_is_already_there(line: str, package: str) -> None:
    text = f"# lab\nnumpy==1.26.4\n{line}\n"
    result = edit(text, Requirement(package))
    assert (result.text, result.change) == (text, Change.UNCHANGED)
    assert result.requirement.endswith(" (line 3)")
    with pytest.raises(RequirementError, match=r"on line 3, which jlcompose can't rewrite"):
        edit(text, Requirement(f"{package}==9.9"))
    with pytest.raises(RequirementError, match="line 3"):
        edit(text, Requirement(f"{package}[extra]"))


def test_the_wheel_name_is_named_with_its_line_in_the_plan(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    path.write_text("numpy\nhttps://example.org/gradio-4.37.2+custom-py3-none-any.whl\n")
    plan = plan_edit(path, [Requirement("gradio"), Requirement("six")])
    assert (plan.present, plan.changed) == (["gradio (line 2)"], ["six"])


UNNAMED = [
    ("git+https://github.com/example/gradio.git@v1.0", "gradio"),  # no #egg=: pip builds it to know
    ("https://example.org/src/ambiguous-1.0-1.tar.gz", "ambiguous"),  # ambiguous-1.0 1? ambiguous 1.0-1?
    ("https://github.com/org/gradio/archive/refs/tags/v1.2.tar.gz", "gradio"),
    ("${PRIVATE_PACKAGE}==1.0", "gradio"),
    ("gradio${SUFFIX}==1.0", "gradio"),
    ("-e ./vendor/gradio", "gradio"),
    ("https://example.org/gradio-4.0.whl", "gradio"),  # not a valid wheel file name
    ("# gradio", "gradio"),
]


@pytest.mark.parametrize(("line", "package"), UNNAMED, ids=[line[:40] for line, _ in UNNAMED])
def test_a_line_that_does_not_tell_its_package_name_is_not_guessed(line: str, package: str) -> None:
    result = edit(f"{line}\n", Requirement(package))
    assert result.change is Change.ADDED


# -- pip's line joining --------------------------------------------------------------------


def test_a_backslash_at_the_end_of_a_comment_folds_the_next_line_into_it() -> None:
    text = "tqdm  # progress bars \\\nsoundfile==0.12.1\n"
    assert requirement_lines(text) == {"tqdm": "tqdm"}  # pip installs no soundfile from it
    assert add_or_update(text, Requirement("soundfile==0.12.1")) == (
        text + "soundfile==0.12.1\n",
        Change.ADDED,
    )
    new, change = add_or_update(text, Requirement("tqdm==4.66.5"))
    assert (new, change) == (text.replace("tqdm ", "tqdm==4.66.5 ", 1), Change.UPDATED)


def test_appending_after_a_trailing_commented_backslash_starts_a_fresh_line() -> None:
    assert add_or_update("tqdm  # progress \\\n", Requirement("six"))[0] == "tqdm  # progress \\\n\nsix\n"
    assert add_or_update("tqdm  # progress \\", Requirement("six"))[0] == "tqdm  # progress \\\n\nsix\n"
    assert set(requirement_lines("tqdm  # progress \\\n\nsix\n")) == {"tqdm", "six"}
    # a line that starts with a comment never continues: no empty line needed
    assert add_or_update("# note \\\n", Requirement("six"))[0] == "# note \\\nsix\n"


def test_a_comment_line_ends_a_continuation_and_never_continues() -> None:
    assert set(requirement_lines("# note \\\nsix\n")) == {"six"}
    assert set(requirement_lines("numpy \\\n# a comment\nscipy\n")) == {"numpy", "scipy"}
    assert set(requirement_lines("numpy \\\n  # indented \\\nscipy\n")) == {"numpy", "scipy"}
    assert requirement_lines("\ufeff# bom \\\nsix\n") == {"six": "six"}


def test_lines_end_where_str_splitlines_ends_them() -> None:
    text = "six==1.16.0\x0crich\u2028idna\n"
    assert set(requirement_lines(text)) == {"six", "rich", "idna"}
    assert add_or_update(text, Requirement("rich==13.7.1"))[0] == "six==1.16.0\x0crich==13.7.1\u2028idna\n"


def test_an_update_keeps_what_a_comment_swallowed() -> None:
    text = "jax[cpu] \\\n  >=0.4.30  # note \\\nswallowed by the comment\nb\n"
    new, change = add_or_update(text, Requirement("jax==0.4.31"))
    assert (new, change) == ("jax[cpu]==0.4.31  # note \\\nswallowed by the comment\nb\n", Change.UPDATED)


def test_an_edit_that_would_change_how_pip_reads_the_file_is_refused() -> None:
    # pip strips the leading `\` only while the line continues; one line would keep it
    text = "\\numpy \\\n>=1.26\n"
    assert requirement_lines(text) == {"numpy": "numpy>=1.26"}
    with pytest.raises(RequirementError, match="can't edit line 1"):
        edit(text, Requirement("numpy==2.0"))


# -- -r and -c -------------------------------------------------------------------------------


def test_includes_reads_r_and_c_lines_as_pip_does(tmp_path: Path) -> None:
    (tmp_path / "req.txt").write_text(
        "-c pins.txt\n-r \\\n  split.txt\nsix # note \\\n-r hidden.txt\n--requirem=abbrev.txt\n"
        "--req=ambiguous-with-require-hashes.txt\n"
        "-rclustered.txt\n-r https://example.org/remote.txt\nnumpy -r ignored.txt\n"
    )
    (tmp_path / "pins.txt").write_text("-r more.txt\n")
    found = [(p.relative_to(tmp_path.resolve()).as_posix(), c) for p, c in includes(tmp_path / "req.txt")]
    assert found == [
        ("pins.txt", True),
        ("more.txt", False),  # pip does not carry "constraint" into a -r inside a -c file
        ("split.txt", False),
        ("abbrev.txt", False),
        ("clustered.txt", False),
    ]


def test_a_package_only_in_a_constraints_file_is_added_here(tmp_path: Path) -> None:
    root = tmp_path / "requirements.txt"
    root.write_text("-c pins.txt\n-r base.txt\n")
    (tmp_path / "pins.txt").write_text("six==1.16.0\nnumpy==1.26.4\n")
    (tmp_path / "base.txt").write_text("rich\n")
    plan = plan_edit(root, [Requirement("six"), Requirement("numpy==1.26.3"), Requirement("rich")])
    assert plan.changed == ["six", "numpy==1.26.3"]  # as asked: pip applies the pins anyway
    assert plan.present == ["rich (in base.txt)"]
    assert plan.new == "-c pins.txt\n-r base.txt\nsix\nnumpy==1.26.3\n"
    with pytest.raises(RequirementError, match=r"base\.txt.*change its version there"):
        plan_edit(root, [Requirement("rich==13.7.1")])


def test_a_file_that_includes_itself_is_edited_in_place(tmp_path: Path) -> None:
    root = tmp_path / "requirements.txt"
    root.write_text("-r requirements.txt\nsix==1.16.0\n")
    plan = plan_edit(root, [Requirement("six==1.17.0")])
    assert (plan.new, plan.changed) == ("-r requirements.txt\nsix==1.17.0\n", ["six==1.17.0"])
