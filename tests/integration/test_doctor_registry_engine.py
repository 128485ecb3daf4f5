"""doctor before the pull: the driver check from the registry's image config, no layer pulled.

The images come from `scripts/engine.sh registry-up`: `needs-newer` (CUDA 13.0.2,
CUDA_DRIVER_VERSION 580.95.05, NVIDIA_REQUIRE_CUDA accepting branches 535 and 570 on
data-center GPUs), `needs-older` (CUDA 12.2.2, 535.104.05), `require-only` (only
NVIDIA_REQUIRE_CUDA=cuda>=12.8). The host driver is a stand-in `nvidia-smi` on PATH.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Registries, copy_template, docker_config, free_port, image_present, run_cli

pytestmark = pytest.mark.docker


def _stand_in_smi(folder: Path, name: str, driver: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    smi = folder / "nvidia-smi"
    smi.write_text(f'#!/bin/sh\necho "0, {name}, {driver}, 24564"\n')
    smi.chmod(0o755)
    return folder


def _doctor(
    tmp_path: Path, torch: str, tf: str, gpu: tuple[str, str], logins: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    root = copy_template(tmp_path / f"proj-{uuid.uuid4().hex[:6]}")
    (root / ".env").write_text(
        f"JLC_PROJECT=jlcd{uuid.uuid4().hex[:8]}\nJLC_TORCH_BASE={torch}\nJLC_TF_BASE={tf}\n"
        f"JLC_TORCH_PORT={free_port()}\nJLC_TF_PORT={free_port()}\n"
    )
    bin_dir = _stand_in_smi(tmp_path / f"bin-{uuid.uuid4().hex[:6]}", *gpu)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "DOCKER_CONFIG": str(docker_config(tmp_path / f"docker-{uuid.uuid4().hex[:6]}", logins)),
    }
    res = run_cli("doctor", "--json", cwd=root, env=env, timeout=120)
    doc = json.loads(res.stdout)
    return res.returncode, {c["name"]: c for c in doc["checks"]}


def test_a_driver_too_old_for_the_image_fails_before_any_pull(tmp_path: Path, registries: Registries) -> None:
    newer, older = registries.ref("needs-newer"), registries.ref("needs-older")
    code, rows = _doctor(tmp_path, newer, older, ("NVIDIA GeForce RTX 4090", "570.86.15"))
    assert rows["host GPUs"]["detail"] == "1 x NVIDIA GeForce RTX 4090, driver 570.86.15 (via nvidia-smi)"
    too_old = rows[f"driver for {newer}"]
    assert too_old["status"] == "fail", too_old
    assert too_old["detail"] == (
        "CUDA 13.0.2 needs driver 580+ (580.95.05); host has 570.86.15 (read from the registry, not pulled)"
    )
    assert "upgrade the NVIDIA driver to 580 or newer" in too_old["fix"]
    fine = rows[f"driver for {older}"]
    assert fine["status"] == "ok", fine
    assert fine["detail"] == (
        "CUDA 12.2.2 needs driver 535+ (535.104.05); host has 570.86.15 (read from the registry, not pulled)"
    )
    assert code == 1
    assert not image_present(newer) and not image_present(older)  # configs only, no layers


def test_data_center_gpus_and_nvidia_require_cuda(tmp_path: Path, registries: Registries) -> None:
    newer, require = registries.ref("needs-newer"), registries.ref("require-only")
    # 570 is a branch needs-newer's NVIDIA_REQUIRE_CUDA accepts on data-center GPUs
    _code, rows = _doctor(tmp_path, newer, require, ("NVIDIA H100 80GB HBM3", "570.124.06"))
    compat = rows[f"driver for {newer}"]
    assert compat["status"] == "warn", compat
    assert "CUDA forward compatibility (the image accepts branch 570)" in compat["detail"]
    only = rows[f"driver for {require}"]  # cuda>=12.8 needs 570
    assert only["status"] == "ok", only
    assert "needs driver 570+ (NVIDIA_REQUIRE_CUDA: cuda>=12.8)" in only["detail"]
    # 550 is in neither list: the toolkit would refuse to start the container
    code, rows = _doctor(tmp_path, newer, require, ("NVIDIA H100 80GB HBM3", "550.54.15"))
    refused = rows[f"driver for {newer}"]
    assert refused["status"] == "fail", refused
    assert "not one of the branches it accepts (535, 570)" in refused["detail"]
    # no branches listed: forward compatibility may still carry it (cuda-compat in the image)
    unlisted = rows[f"driver for {require}"]
    assert (
        unlisted["status"] == "warn" and "runs only through CUDA forward compatibility" in unlisted["detail"]
    )
    assert code == 1


def test_a_registry_that_wants_a_login(tmp_path: Path, registries: Registries) -> None:
    newer = registries.ref("needs-newer", registries.auth)
    older = registries.ref("needs-older", registries.auth)
    gpu = ("NVIDIA GeForce RTX 4090", "570.86.15")
    _code, rows = _doctor(tmp_path, newer, older, gpu)
    row = rows[f"driver for {newer}"]
    assert row["status"] == "warn", row
    assert row["detail"] == f"not checked: not pulled, and {registries.auth} wants a login for {newer}"
    assert row["fix"] == f"`docker login {registries.auth}`, then doctor again"
    _code, rows = _doctor(tmp_path, newer, older, gpu, {registries.auth: "jlc:wrong"})
    assert "refused the stored login" in rows[f"driver for {newer}"]["detail"]
    # the login `docker login` stored (config.json `auths`) is the one doctor uses
    _code, rows = _doctor(tmp_path, newer, older, gpu, {registries.auth: registries.login})
    assert rows[f"driver for {newer}"]["status"] == "fail"
    assert rows[f"driver for {older}"]["status"] == "ok"
