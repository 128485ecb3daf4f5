"""jlcompose: a GPU JupyterLab for a project folder, on top of plain Docker Compose."""

from __future__ import annotations

__version__ = "0.1.0"
