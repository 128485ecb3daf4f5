"""A pull's status lines as byte progress, and the views of the pull, the GPU probe and the wait.

The pull log and manifest were recorded from `docker pull` (CLI 28, dockerd 20.10, pipes)
against the test registry of scripts/engine.sh: 4 layers already here, 10 to fetch.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jlcompose.core.pullstatus import PullStatus, duration, size
from jlcompose.engine.api import RemoteImage
from jlcompose.lab.waiting import PullView, WaitView

DATA = Path(__file__).resolve().parent.parent / "data" / "registry"
LOG = (DATA / "local-pull.txt").read_text().splitlines()
LAYERS = tuple(
    (layer["digest"], layer["size"])
    for layer in json.loads((DATA / "local-manifest.json").read_text())["layers"]
)
NEW_BYTES = sum(s for _, s in LAYERS[4:])  # 104891848


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_recorded_pull_counts_the_bytes_of_finished_layers() -> None:
    status = PullStatus.for_layers(LAYERS)
    seen = []
    for line in LOG:
        status.feed(line)
        seen.append((status.downloaded_bytes, len(status.unpacked)))
    assert len(status.layers) == 14 and len(status.existing) == 4 and len(status.to_fetch) == 10
    assert status.sized and status.total_bytes == NEW_BYTES == 104891848
    assert status.downloaded_bytes == NEW_BYTES and not status.downloading
    assert status.unpack_share == 1.0
    # the bytes only ever grow, one finished layer at a time
    grown = [b for (b, _), (a, _) in zip(seen[1:], seen, strict=False) if b != a]
    assert grown == sorted(grown) and len(grown) == 10
    first = next(line for line in LOG if line.endswith("Download complete"))
    status = PullStatus.for_layers(LAYERS)
    for line in LOG[: LOG.index(first) + 1]:
        status.feed(line)
    layer = first.split(":")[0]
    assert status.downloaded_bytes == next(s for d, s in LAYERS if d.startswith(f"sha256:{layer}"))
    assert status.downloading


def test_texts_with_and_without_sizes() -> None:
    status = PullStatus.for_layers(LAYERS)
    for line in LOG[:40]:
        status.feed(line)
    text = status.download_text(elapsed=2.0)
    done = status.downloaded_bytes
    assert text == (
        f"{size(done)} of 105 MB ({done / NEW_BYTES:.0%}), {size(done / 2)}/s, "
        f"about {duration((NEW_BYTES - done) / (done / 2))} left, {len(status.downloaded)}/10 layers"
    )
    blind = PullStatus()  # the host could not read the manifest
    for line in LOG[:40]:
        blind.feed(line)
    assert not blind.sized and blind.rate(2.0) is None
    assert (
        blind.download_text(2.0)
        == f"{len(blind.downloaded)} of 10 layers downloaded ({len(blind.downloaded) / 10:.0%})"
    )
    assert PullStatus().download_share == 0.0 and not PullStatus().downloading


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1500, "1.5 kB"),
        (104891848, "105 MB"),
        (9.6e9, "9.6 GB"),
        (2.2e11, "220 GB"),
    ],
)
def test_sizes(n: float, text: str) -> None:
    assert size(n) == text


@pytest.mark.parametrize(
    ("s", "text"), [(0.4, "0 s"), (59, "59 s"), (61, "1 min 01 s"), (3725, "1 h 02 min"), (-3, "0 s")]
)
def test_durations(s: float, text: str) -> None:
    assert duration(s) == text


def _plain_pull(remote: RemoteImage | None, capsys: pytest.CaptureFixture[str]) -> tuple[list[str], PullView]:
    clock = Clock()
    with PullView("torch", remote, clock=clock, terminal=False, ticking=False) as view:
        for line in LOG:
            clock.now += 0.25
            view(line)
    return capsys.readouterr().err.splitlines(), view


def test_off_a_terminal_a_line_every_ten_percent(capsys: pytest.CaptureFixture[str]) -> None:
    remote = RemoteImage("r/x:1", "r", LAYERS)
    lines, view = _plain_pull(remote, capsys)
    steps = [line for line in lines if "MB/s, about" in line]
    percents = [int(line.split("(")[1].split("%")[0]) for line in steps]
    assert percents and [p // 10 for p in percents] == sorted({p // 10 for p in percents})
    assert all(line.startswith("  torch: base image ") and line.endswith("/10 layers") for line in steps)
    assert len(steps) >= 5  # ten layers of 4 to 16 MiB: most steps get their own line
    downloaded = [line for line in lines if "downloaded in" in line]
    assert len(downloaded) == 1 and downloaded[0].endswith("; unpacking")
    unpacked = [line for line in lines if "unpacking:" in line]
    assert unpacked[-1] == "  torch: base image unpacking: 10 of 10 layers (100%)"
    assert view.summary().startswith("105 MB downloaded in ")
    assert len(lines) < 25  # not one line per layer event (there are 54)


def test_off_a_terminal_without_sizes_it_counts_layers(capsys: pytest.CaptureFixture[str]) -> None:
    lines, view = _plain_pull(None, capsys)
    assert any(line.startswith("  torch: base image 1 of 10 layers downloaded (10%)") for line in lines)
    assert view.summary().startswith("10 layers downloaded in ")


def test_the_terminal_line_reads_bytes_rate_and_time_left() -> None:
    clock = Clock()
    view = PullView("torch", RemoteImage("r/x:1", "r", LAYERS), clock=clock, terminal=True, ticking=False)
    assert view.text() == "torch: base image: asking the registry, 0 layers here already (0 s)"
    cut = LOG.index(next(line for line in LOG if line.endswith("Download complete"))) + 1
    for line in LOG[:cut]:
        view.status.feed(line)
    clock.now += 3
    assert view.text().startswith("torch: base image ") and "MB of 105 MB (" in view.text()
    assert "MB/s, about " in view.text() and view.text().endswith("1/10 layers (3 s)")
    for line in LOG[cut:]:
        view.status.feed(line)
    assert view.text() == "torch: base image downloaded, unpacking: 10 of 10 layers (100%) (3 s)"


def test_a_wait_says_what_and_how_long(capsys: pytest.CaptureFixture[str]) -> None:
    clock = Clock()
    what = "torch: waiting for JupyterLab to answer on http://127.0.0.1:8888"
    with WaitView(what, limit=180, clock=clock, terminal=False, ticking=False) as wait:
        for _ in range(40):
            clock.now += 1
            wait.tick()
    assert capsys.readouterr().err.splitlines() == [
        f"{what} (at most 180 s) ...",
        f"  {what}: 15 s of at most 180 s so far",
        f"  {what}: 30 s of at most 180 s so far",
    ]
    probe = WaitView("checking the GPU", clock=clock, terminal=True, ticking=False)
    clock.now += 4
    assert probe.text() == "checking the GPU (4 s)"
    assert wait.text() == f"{what} (44 s of at most 180 s)"


def test_the_ticker_keeps_a_plain_wait_talking(capsys: pytest.CaptureFixture[str]) -> None:
    """With the real ticker thread: lines come while the caller is blocked."""
    import time

    with WaitView("probing", every=0.05, terminal=False):
        time.sleep(1.3)  # the ticker runs about every second off a terminal
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "probing ..." and any(line.startswith("  probing: ") for line in lines[1:])
