"""jlcompose: a GPU JupyterLab for a project folder, on top of plain Docker Compose."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jlcompose")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
