"""core/lockfile.py: what a lock keeps of a lab's freeze, and when a build uses it."""

from __future__ import annotations

from jlcompose.core import lockfile

FREEZE = [
    "Jinja2==3.1.4",
    "tabulate==0.8.10",
    "torch==2.9.0a0+145a3a7.nv25.10",
    "gradio @ https://example.org/gradio-4.37.2-py3-none-any.whl",
    "apex @ file:///opt/pytorch/apex",
    "-e git+https://github.com/me/tool@abc#egg=tool",
    "six==1.17.0",
    "",
]
CONSTRAINTS = {"torch": "2.9.0a0+145a3a7.nv25.10", "jinja2": "3.1.4", "six": "1.16.0"}


def test_the_lock_keeps_what_the_image_does_not_pin_already() -> None:
    frozen = lockfile.sort_freeze(FREEZE, CONSTRAINTS)
    # Jinja2 and torch are the image's own (pinned at that very version); six was unpinned and moved
    assert frozen.kept == (
        "gradio @ https://example.org/gradio-4.37.2-py3-none-any.whl",
        "six==1.17.0",
        "tabulate==0.8.10",
    )
    assert frozen.pinned_by_image == 2
    assert frozen.skipped == (
        "apex @ file:///opt/pytorch/apex",
        "-e git+https://github.com/me/tool@abc#egg=tool",
    )


def test_a_lock_names_its_requirements_and_applies_only_to_them() -> None:
    requirements = "# mine\n--extra-index-url https://download.pytorch.org/whl/cu121\ntabulate\n"
    text = lockfile.render(lockfile.sort_freeze(FREEZE, CONSTRAINTS), requirements)
    lines = text.splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cu121" in lines  # where to find them
    assert "# not locked (installed from a local path or editable): apex @ file:///opt/pytorch/apex" in lines
    assert lines[-3:] == [
        "gradio @ https://example.org/gradio-4.37.2-py3-none-any.whl",
        "six==1.17.0",
        "tabulate==0.8.10",
    ]
    assert lockfile.made_from(text) == lockfile.requirements_digest(requirements)
    assert lockfile.applies(text, requirements)
    assert lockfile.applies(text, requirements + "   # a comment changes nothing\n")
    assert not lockfile.applies(text, requirements + "humanize\n")
    assert not lockfile.applies("tabulate==0.8.10\n", requirements)  # not written by `jlcompose lock`


def test_hashed_pins_replace_the_plain_ones() -> None:
    hashed = ["tabulate==0.8.10 \\", "    --hash=sha256:" + "0" * 64]
    text = lockfile.render(lockfile.sort_freeze(["tabulate==0.8.10"], {}), "tabulate\n", hashed=hashed)
    assert text.splitlines()[-2:] == hashed


def test_pins_reads_a_constraint_file() -> None:
    text = "# NGC\ntorch==2.9.0a0+145a3a7.nv25.10\nNumPy == 1.26.4  # ok\npolars>=1\n"
    assert lockfile.pins(text) == {"torch": "2.9.0a0+145a3a7.nv25.10", "numpy": "1.26.4"}
