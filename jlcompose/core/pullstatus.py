"""Pure: a `docker pull`'s per-layer status lines, and the registry's layer sizes, as byte progress.

Off a terminal (and python-on-whales always runs docker with pipes) the docker CLI prints one
line per layer and state: "Pulling fs layer", "Waiting", "Verifying Checksum", "Download
complete", "Pull complete", "Already exists"; never "Downloading 12MB/1.2GB" (measured with
CLI 28 and dockerd 20.10: the byte counts appear only when stdout is a terminal). The layer ID
on each line is the first 12 hex digits of the layer's digest in the manifest, which also gives
every layer's compressed size. So the bytes downloaded are counted per finished layer: exact
when a layer finishes, flat while a big one is still on its way (its bytes count when it
completes; the clock, rate and layer count keep moving). Without the manifest (a registry the
daemon reaches but this host cannot), progress is counted in layers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_LAYER = re.compile(r"^([0-9a-f]{12}): (.+?)\s*$")
DONE_DOWNLOADING = ("Download complete", "Pull complete")


@dataclass
class PullStatus:
    sizes: dict[str, int] = field(default_factory=dict)  # short layer ID -> compressed bytes
    layers: list[str] = field(default_factory=list)  # every layer the pull named, in order
    existing: set[str] = field(default_factory=set)
    downloaded: set[str] = field(default_factory=set)
    unpacked: set[str] = field(default_factory=set)
    retrying: str = ""

    @classmethod
    def for_layers(cls, layers: Iterable[tuple[str, int]]) -> PullStatus:
        """Sizes from a manifest's (digest, size) pairs."""
        return cls(sizes={d.removeprefix("sha256:")[:12]: size for d, size in layers})

    def feed(self, line: str) -> None:
        m = _LAYER.match(line.strip())
        if m is None:
            return
        layer, state = m.groups()
        if layer not in self.layers:
            self.layers.append(layer)
        if state == "Already exists":
            self.existing.add(layer)
        elif state in DONE_DOWNLOADING:
            self.downloaded.add(layer)
            if state == "Pull complete":
                self.unpacked.add(layer)
        elif state.startswith("Retrying"):
            self.retrying = state

    # -- what the numbers are --------------------------------------------------------------
    @property
    def to_fetch(self) -> list[str]:
        return [layer for layer in self.layers if layer not in self.existing]

    @property
    def sized(self) -> bool:
        """Every layer to fetch has a size from the manifest: progress in bytes."""
        return bool(self.to_fetch) and all(layer in self.sizes for layer in self.to_fetch)

    @property
    def total_bytes(self) -> int:
        return sum(self.sizes.get(layer, 0) for layer in self.to_fetch)

    @property
    def downloaded_bytes(self) -> int:
        return sum(self.sizes.get(layer, 0) for layer in self.to_fetch if layer in self.downloaded)

    @property
    def unpacked_bytes(self) -> int:
        return sum(self.sizes.get(layer, 0) for layer in self.to_fetch if layer in self.unpacked)

    def _share(self, done: set[str], done_bytes: int) -> float:
        if self.sized and self.total_bytes:
            return done_bytes / self.total_bytes
        fetch = self.to_fetch
        return sum(layer in done for layer in fetch) / len(fetch) if fetch else 0.0

    @property
    def download_share(self) -> float:
        return self._share(self.downloaded, self.downloaded_bytes)

    @property
    def unpack_share(self) -> float:
        return self._share(self.unpacked, self.unpacked_bytes)

    @property
    def downloading(self) -> bool:
        """Still layers on their way (False before the first line, and once all are here)."""
        fetch = self.to_fetch
        return bool(fetch) and any(layer not in self.downloaded for layer in fetch)

    # -- how it reads ----------------------------------------------------------------------
    def rate(self, elapsed: float) -> float | None:
        """Bytes per second so far (None until a first layer finished)."""
        if not self.sized or elapsed <= 0 or not self.downloaded_bytes:
            return None
        return self.downloaded_bytes / elapsed

    def left(self, elapsed: float) -> float | None:
        """Seconds until the last layer is downloaded, at the rate so far."""
        rate = self.rate(elapsed)
        if rate is None:
            return None
        return (self.total_bytes - self.downloaded_bytes) / rate

    def download_text(self, elapsed: float) -> str:
        """ "3.1 of 9.6 GB (32 %), 41 MB/s, about 2 min 40 s left" (layers when sizes are unknown)."""
        fetch = self.to_fetch
        done = sum(layer in self.downloaded for layer in fetch)
        if not self.sized:
            return f"{done} of {len(fetch)} layers downloaded ({self.download_share:.0%})"
        text = f"{size(self.downloaded_bytes)} of {size(self.total_bytes)} ({self.download_share:.0%})"
        rate, left = self.rate(elapsed), self.left(elapsed)
        if rate is not None and left is not None:
            text += f", {size(rate)}/s, about {duration(left)} left"
        return text + f", {done}/{len(fetch)} layers"

    def unpack_text(self) -> str:
        fetch = self.to_fetch
        done = sum(layer in self.unpacked for layer in fetch)
        return f"unpacking: {done} of {len(fetch)} layers ({self.unpack_share:.0%})"


def size(n: float) -> str:
    """Bytes as the docker CLI writes them (decimal units): 512 MB, 3.1 GB."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            value = n / scale
            return f"{value:.1f} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:.0f} B"


def duration(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"
