"""Pure core of the requirements watcher: relevance, debounce, plan, polling decision."""

from __future__ import annotations

from pathlib import Path

import pytest
from watchdog.events import (
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileClosedNoWriteEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileOpenedEvent,
    FileSystemEvent,
)

from jlcompose.lab.observer import EventSink
from jlcompose.lab.watcher import (
    Action,
    Debouncer,
    changes,
    fstype_of,
    is_relevant,
    parse_mounts,
    polling_reason,
)
from tests.events import ATTRIB_EVENTS, touch_event

D = Path("/p/docker_files/torch")
REQ = D / "requirements.txt"
WATCHED = {REQ, D / "common.txt"}


@pytest.mark.parametrize(
    "event",
    [
        FileModifiedEvent(str(REQ)),  # in-place write
        FileCreatedEvent(str(REQ)),  # delete + create, vim's new file
        FileDeletedEvent(str(REQ)),  # deleted: we look, then warn
        FileMovedEvent(str(D / "sedAbC123"), str(REQ)),  # sed -i, os.replace
        FileMovedEvent(str(REQ), str(D / "requirements.txt~")),  # vim renames the old one away
        FileClosedEvent(str(REQ)),  # closed after writing
        FileModifiedEvent(str(D / "common.txt")),  # an -r include
        FileModifiedEvent(str(D / "sub" / ".." / "requirements.txt")),  # unnormalized path
        FileModifiedEvent(bytes(REQ)),  # watchdog may hand over bytes paths
    ],
)
def test_relevant(event: FileSystemEvent) -> None:
    assert is_relevant(event, WATCHED)


@pytest.mark.parametrize(
    "event",
    [
        *([touch_event(str(REQ))] if ATTRIB_EVENTS else []),  # touch, chmod: metadata only
        FileOpenedEvent(str(REQ)),
        FileClosedNoWriteEvent(str(REQ)),
        FileModifiedEvent(str(D / "Dockerfile")),  # a neighbour
        FileCreatedEvent(str(D / ".requirements.txt.swp")),
        FileMovedEvent(str(D / "a.tmp"), str(D / "b.txt")),
        FileModifiedEvent(str(Path("/q/docker_files/torch/requirements.txt"))),  # other project
        DirModifiedEvent(str(D)),
        DirMovedEvent(str(D / "x"), str(REQ)),
    ],
)
def test_not_relevant(event: FileSystemEvent) -> None:
    assert not is_relevant(event, WATCHED)


def test_debouncer_waits_for_quiet() -> None:
    d = Debouncer(quiet=0.5, max_wait=10)
    assert not d.pending and not d.due(100.0) and d.deadline() is None
    d.mark(0.0)
    assert d.pending and not d.due(0.49) and d.due(0.5)
    d.mark(0.4)  # another save moves the deadline
    assert not d.due(0.8) and d.due(0.9)
    assert d.deadline() == pytest.approx(0.9)
    d.reset()
    assert not d.pending and not d.due(100.0)


def test_debouncer_ten_saves_in_two_seconds_fire_once() -> None:
    d = Debouncer(quiet=0.5, max_wait=10)
    fired = []
    for ms in range(0, 4000, 10):  # a 10 ms tick, integer so no float drift
        now = ms / 1000
        if ms % 200 == 0 and ms < 2000:  # a save every 0.2 s: ten saves
            d.mark(now)
        if d.due(now):
            fired.append(ms)
            d.reset()
    assert fired == [2300]  # last save at 1.8 s, plus 0.5 s of quiet


def test_debouncer_max_wait_caps_a_stream_of_saves() -> None:
    d = Debouncer(quiet=0.5, max_wait=3)
    for i in range(40):
        d.mark(i * 0.1)
    assert d.due(3.0) and not d.due(2.99)


def test_plan_add_and_upgrade() -> None:
    old = "# lab\nnumpy==1.26\n"
    new = "# lab\nnumpy==2.0\ntabulate\n"
    action = changes(old, new)
    assert action.install == ("numpy==2.0", "tabulate")
    assert action.removed == () and not action.needs_build and not action.empty
    assert action.describe() == "+numpy==2.0 +tabulate"


def test_plan_remove_needs_build() -> None:
    action = changes("six\ntabulate\n", "tabulate\n")
    assert action == Action(install=(), removed=("six",))
    assert action.needs_build and action.describe() == "-six"


def test_plan_no_op_and_comment_only() -> None:
    assert changes("six\n", "six\n").empty
    assert changes("six\n", "# a new comment\nsix   # pinned later\n\n").empty
    assert changes("Six\n", "six\n").empty  # the same package, spelled differently


def test_plan_option_lines_need_build() -> None:
    action = changes("six\n", "--extra-index-url https://example.org/simple\nsix\n")
    assert action.other and action.needs_build and action.install == ()


def test_parse_mounts_and_fstype() -> None:
    text = (
        "/dev/sda1 / ext4 rw 0 0\n"
        "server:/export /home/u/proj nfs4 rw 0 0\n"
        "drive /mnt/my\\040drive 9p rw 0 0\n"
        "tmpfs /home/u/proj/tmp tmpfs rw 0 0\n"
    )
    mounts = parse_mounts(text)
    assert (Path("/mnt/my drive"), "9p") in mounts
    assert fstype_of(Path("/home/u/proj/docker_files/torch"), mounts) == "nfs4"
    assert fstype_of(Path("/home/u/proj/tmp/x"), mounts) == "tmpfs"
    assert fstype_of(Path("/etc"), mounts) == "ext4"
    assert fstype_of(Path("/etc"), []) is None


def test_polling_reason() -> None:
    mounts = parse_mounts("/dev/sda1 / ext4 rw 0 0\nsrv:/x /net cifs rw 0 0\n")
    local = [Path("/home/u/p/docker_files/torch")]
    assert polling_reason(local, mounts, forced=False, wsl=False) is None
    assert polling_reason(local, mounts, forced=True, wsl=False) == "--poll was given"
    reason = polling_reason([Path("/net/p/docker_files/torch")], mounts, forced=False, wsl=False)
    assert reason is not None and "cifs" in reason
    windows = [Path("/mnt/c/Users/u/p/docker_files/torch")]
    assert "WSL" in (polling_reason(windows, mounts, forced=False, wsl=True) or "")
    assert polling_reason(windows, mounts, forced=False, wsl=False) is None  # a plain Linux /mnt/c


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_sink_collects_services_once_quiet(tmp_path: Path) -> None:
    shared = tmp_path / "common.txt"
    files = {"torch": [tmp_path / "torch.txt", shared], "tf": [tmp_path / "tf.txt", shared]}
    clock = Clock()
    sink = EventSink(clock)
    sink.set_files(files)
    assert sink.take(0) == set()
    if ATTRIB_EVENTS:  # watchdog 6 reports a touch as a modification (tests/events.py)
        sink.dispatch(touch_event(str(tmp_path / "torch.txt")))
    clock.now = 5.0
    assert sink.take(0) == set()  # touch marks nothing
    sink.dispatch(FileModifiedEvent(str(shared)))
    assert sink.take(0) == set()  # still inside the quiet period
    clock.now = 5.6
    assert sink.take(0) == {"torch", "tf"}
    assert sink.take(0) == set()


def test_sink_set_files_returns_parent_dirs(tmp_path: Path) -> None:
    sink = EventSink(Clock())
    dirs = sink.set_files({"torch": [tmp_path / "a" / "r.txt", tmp_path / "b" / "c.txt"]})
    assert dirs == {tmp_path / "a", tmp_path / "b"}
    sink.dispatch(FileModifiedEvent(str(tmp_path / "b" / "c.txt")))
