"""jlcompose: a GPU JupyterLab for a project folder, on top of plain Docker Compose."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # importlib.metadata costs ~60 ms to import: only `--version` and bug reports need it
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("jlcompose")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'jlcompose' has no attribute {name!r}")
