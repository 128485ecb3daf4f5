"""Pure: which GPUs a lab reserves (JLC_TORCH_GPUS, JLC_TF_GPUS), as a Compose override.

`all` (the default, the compose file's own `count: all`), a count (`2`), or device IDs
(`device=0`, `0,1`, `GPU-5b3c...`, `MIG-...`), the forms `docker run --gpus` knows. A count
and IDs cannot both be given: Compose refuses `count` with `device_ids`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from jlcompose.errors import ConfigError

_ID = re.compile(r"^(\d+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-fA-F/-]+)$")


def parse(value: str, variable: str) -> int | list[str] | None:
    """None for all GPUs, a count, or device IDs; ConfigError naming `variable` otherwise."""
    text = value.strip()
    if text in ("", "all"):
        return None
    if text.isdigit() and not text.startswith("device="):
        count = int(text)
        if count < 1:
            raise ConfigError(f"{variable}={value!r}: a lab reserves at least 1 GPU (or use --cpu).")
        return count
    ids = [i.strip() for i in text.removeprefix("device=").split(",")]
    if not ids or not all(_ID.match(i) for i in ids):
        raise ConfigError(
            f"{variable}={value!r} is not `all`, a count or GPU IDs.",
            hint="e.g. all, 2, device=0, 0,1 or GPU-5b3c...; `nvidia-smi -L` lists the IDs.",
        )
    return ids


def override_yaml(requests: Mapping[str, int | list[str]]) -> str:
    """A compose override replacing the GPU reservation of the given services."""
    lines = ["# written by jlcompose from JLC_<SERVICE>_GPUS for `up`; safe to delete", "services:"]
    for service, want in sorted(requests.items()):
        ids = ", ".join(f'"{i}"' for i in want) if not isinstance(want, int) else ""
        which = f"count: {want}" if isinstance(want, int) else f"device_ids: [{ids}]"
        lines += [
            f"  {service}:",
            "    deploy:",
            "      resources:",
            "        reservations:",
            "          devices: !override",
            "            - driver: nvidia",
            f"              {which}",
            "              capabilities: [gpu]",
        ]
    return "\n".join(lines) + "\n"


def shown(count: int | None, device_ids: list[str] | None) -> str:
    """What a container's device request holds, as status shows it: all, 2, or 0,1."""
    if device_ids:
        return ",".join(device_ids)
    if count is None or count < 0:
        return "all"
    return str(count)
