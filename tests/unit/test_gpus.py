"""core/gpus.py: JLC_<SVC>_GPUS as users write it, and the override Compose gets."""

from __future__ import annotations

import pytest

from jlcompose.core import gpus
from jlcompose.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ("all", None),
        ("", None),
        ("2", 2),
        ("device=0", ["0"]),
        ("0,1", ["0", "1"]),
        ("device=GPU-5b3c2a4e-1f0d-4c6e-9a77-0123456789ab", ["GPU-5b3c2a4e-1f0d-4c6e-9a77-0123456789ab"]),
        (" 1, 3 ", ["1", "3"]),
    ],
)
def test_values(value: str, want: object) -> None:
    assert gpus.parse(value, "JLC_TORCH_GPUS") == want


@pytest.mark.parametrize("value", ["0", "lots", "device=", "1;2", "-1", "GPU-xyz!"])
def test_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="JLC_TORCH_GPUS"):
        gpus.parse(value, "JLC_TORCH_GPUS")


def test_the_override_replaces_the_reservation() -> None:
    assert gpus.override_yaml({"torch": 2, "tf": ["0", "1"]}) == (
        "# written by jlcompose from JLC_<SERVICE>_GPUS for `up`; safe to delete\n"
        "services:\n"
        "  tf:\n    deploy:\n      resources:\n        reservations:\n"
        "          devices: !override\n            - driver: nvidia\n"
        '              device_ids: ["0", "1"]\n              capabilities: [gpu]\n'
        "  torch:\n    deploy:\n      resources:\n        reservations:\n"
        "          devices: !override\n            - driver: nvidia\n"
        "              count: 2\n              capabilities: [gpu]\n"
    )  # what Compose makes of it is checked against real Compose (tests/integration/test_gpu_engine.py)


def test_shown() -> None:
    assert [gpus.shown(-1, None), gpus.shown(2, None), gpus.shown(None, ["0", "1"])] == ["all", "2", "0,1"]
