"""The printed URL opens JupyterLab in a real (headless) browser; without the token, the login page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.docker

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=20000",
]


def _browser() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        pytest.fail("no headless Chromium: scripts/test installs Debian's `chromium` package")
    return found


def _dom(browser: str, url: str, profile: Path, shot: Path | None = None) -> str:
    args = [browser, *FLAGS, f"--user-data-dir={profile}"]
    if shot is not None:
        subprocess.run(
            [*args, f"--screenshot={shot}", "--window-size=1280,800", url], capture_output=True, timeout=120
        )
    res = subprocess.run([*args, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    return res.stdout


def test_printed_url_opens_jupyterlab_and_no_token_means_login(lab_project: Path, tmp_path: Path) -> None:
    browser = _browser()
    res = run_cli("up", "torch", "--cpu", cwd=lab_project)
    assert res.returncode == 0, res.stderr
    url = res.stdout.strip().splitlines()[-1]
    lab = _dom(browser, url, tmp_path / "profile1", shot=tmp_path / "lab.png")
    assert "jp-LabShell" in lab or "jp-MainAreaWidget" in lab, lab[:2000]
    base = url.split("/lab?token=")[0]
    login = _dom(browser, f"{base}/lab", tmp_path / "profile2")
    assert "jp-LabShell" not in login
    assert "password" in login.lower() and "token" in login.lower(), login[:2000]
