"""Install jlcompose's kernel start-up files where every IPython kernel finds them.

IPython reads /etc/ipython/ipython_kernel_config.py for every user (SYSTEM_CONFIG_DIRS),
so the tuned defaults and %pipreq apply whatever UID the lab runs as.
"""

from __future__ import annotations

import pathlib

etc = pathlib.Path("/etc/ipython")
etc.mkdir(parents=True, exist_ok=True)
(etc / "ipython_kernel_config.py").write_text(
    "c.InteractiveShellApp.exec_files = [\n"
    "    '/opt/jlcompose/lab/jlcompose_startup.py',\n"
    "    '/opt/jlcompose/lab/jlcompose_magics.py',\n"
    "]\n"
)
