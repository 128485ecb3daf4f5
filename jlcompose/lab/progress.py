"""Pure parsing of BuildKit's plain progress lines, and a live rich view of a build."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from jlcompose import console

# "#7 [torch stage-0 3/8] RUN pip install ..."  /  "#7 CACHED"  /  "#7 DONE 0.2s"
_STEP = re.compile(r"^#(\d+) \[(?:[^\]]*?\s)?(\d+)/(\d+)\] (.*)$")
_STATE = re.compile(r"^#(\d+) (CACHED|DONE [0-9.]+s|ERROR.*)$")


@dataclass
class BuildStatus:
    step: int = 0
    total: int = 0
    title: str = ""
    cached: int = 0
    last_output: str = ""

    def feed(self, line: str) -> None:
        if m := _STEP.match(line):
            self.step, self.total, self.title = int(m.group(2)), int(m.group(3)), m.group(4)
            self.title = " ".join(self.title.split())
            return
        if (m := _STATE.match(line)) and m.group(2) == "CACHED":
            self.cached += 1
            return
        # "#12 0.379 Collecting numpy" -> the tool's own output
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0].startswith("#") and _is_number(parts[1]):
            self.last_output = parts[2].strip()

    def describe(self, width: int = 70) -> str:
        if not self.total:
            return "preparing build"
        text = f"step {self.step}/{self.total}: {self.title}"
        if self.last_output:
            text += f" | {self.last_output}"
        return text if len(text) <= width else text[: width - 1] + "…"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class BuildView:
    """Shows one updating line while a build runs (plain lines when not on a terminal)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.status = BuildStatus()
        self._started = time.monotonic()
        self._live: Any = None  # a rich Status while on a terminal
        self._last_plain = ""

    def __enter__(self) -> BuildView:
        if console.is_terminal():
            self._live = console.err.status(f"building {self.service} …")
            self._live.__enter__()
        return self

    def __call__(self, line: str) -> None:
        self.status.feed(line)
        elapsed = time.monotonic() - self._started
        text = f"building {self.service} ({elapsed:4.0f} s) {self.status.describe()}"
        if self._live is not None:
            self._live.update(text)
        elif self.status.last_output and self.status.last_output != self._last_plain:
            # not a terminal (CI, a log file): the tools' own output lines are the progress
            self._last_plain = self.status.last_output
            console.info(f"  {self.service}: {self.status.last_output[:110]}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started
