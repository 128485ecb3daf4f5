"""In a notebook: `%pipreq PKG...`, and a hint when a cell fails on a module that is not installed.

Loaded by the lab's kernel start-up file. `%pipreq` asks the lab's install agent, which
installs (as root, with uv) and records the package in the service's requirements file under
/workspace, exactly as `jlcompose pipreq` on the host does, under the same lock: the package
imports at once in this kernel, and the next build bakes it into the image.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from jlcompose.inlab import protocol

# import name -> distribution name, where they differ (the common ones)
DISTRIBUTIONS = {
    "sklearn": "scikit-learn",
    "skimage": "scikit-image",
    "cv2": "opencv-python",
    "PIL": "pillow",
    "yaml": "pyyaml",
    "bs4": "beautifulsoup4",
    "dateutil": "python-dateutil",
    "dotenv": "python-dotenv",
    "attr": "attrs",
    "Crypto": "pycryptodome",
    "jwt": "pyjwt",
    "serial": "pyserial",
    "magic": "python-magic",
    "docx": "python-docx",
    "pptx": "python-pptx",
    "fitz": "pymupdf",
    "google.protobuf": "protobuf",
    "sentencepiece": "sentencepiece",
    "tensorflow_datasets": "tensorflow-datasets",
    "lightning": "lightning",
    "pytorch_lightning": "pytorch-lightning",
    "umap": "umap-learn",
    "Levenshtein": "levenshtein",
    "wandb": "wandb",
}


_PREFIX = {"ok": "✓ ", "warn": "! ", "error": "error: ", "step": "> "}


def _socket() -> Path:
    root = Path(os.environ.get("JLC_PROJECT_DIR", "/workspace"))
    return protocol.socket_path(root / ".jlcompose", os.environ.get("JLC_SERVICE", ""))


def pipreq(line: str) -> int:
    """The %pipreq line magic: install now, record in the requirements file; 0 on success."""
    try:
        packages = shlex.split(line)
    except ValueError as exc:
        print(f"%pipreq: {exc}; quote each requirement, e.g. %pipreq 'numpy>=1.26,<2'", file=sys.stderr)
        return 2
    if not packages:
        print("usage: %pipreq PKG [PKG ...]   e.g. %pipreq transformers 'numpy==1.26.4'", file=sys.stderr)
        return 2
    sock = protocol.connect(_socket())
    if sock is None:
        print(
            "%pipreq: this lab's install agent is not running (a lab started without jlcompose's "
            "start-up, or an older image); run `jlcompose pipreq PKG` on the host instead.",
            file=sys.stderr,
        )
        return 1
    final: dict[str, Any] = {}
    show = protocol.until_error(lambda line: print(f"  {line}"))
    with sock:
        sock.sendall(protocol.encode({"op": "pipreq", "packages": packages}))
        for message in protocol.messages(sock):
            if "line" in message:
                show(str(message["line"]))
            elif "say" in message:
                prefix = {"ok": "✓ ", "warn": "! ", "error": "error: ", "step": "> "}.get(
                    str(message["say"]), ""
                )
                print(
                    f"{prefix}{message.get('text', '')}",
                    file=sys.stderr if message["say"] == "error" else sys.stdout,
                )
            elif "done" in message or "error" in message:
                final = message
    error = final.get("error")
    if isinstance(error, dict):
        print(f"error: {error.get('message')}", file=sys.stderr)
        if error.get("hint"):
            print(f"hint: {error['hint']}", file=sys.stderr)
        return int(error.get("exit_code") or 1)
    importlib.invalidate_caches()  # so `import` finds the new package in this very kernel
    return int(final.get("done", 1))


def missing_hint(name: str | None) -> str | None:
    """The line a failed import gets: which %pipreq installs it (None when the module exists)."""
    if not name:
        return None
    top = name.split(".")[0]
    try:
        if importlib.util.find_spec(top) is not None:
            return None  # a submodule or a broken install, not a missing package
    except (ImportError, ValueError):
        pass
    dist = DISTRIBUTIONS.get(name) or DISTRIBUTIONS.get(top) or top.replace("_", "-")
    return f"not installed: %pipreq {dist} installs it and keeps it"


def load_ipython_extension(ip: Any) -> None:
    def magic(line: str) -> None:
        pipreq(line)

    def on_missing(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> Any:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        hint = missing_hint(getattr(value, "name", None))
        if hint:
            print(hint, file=sys.stderr)
        return None

    ip.register_magic_function(magic, magic_kind="line", magic_name="pipreq")
    ip.set_custom_exc((ModuleNotFoundError,), on_missing)
