"""Start a lab: jlcompose's install agent as root, then the command (JupyterLab) as you.

The container starts as root, like docker-stacks' start.sh: root starts the agent that
installs packages for `jlcompose pipreq`, the watcher and %pipreq (jlcompose/inlab/agent.py,
shipped in lib/ by `jlcompose up`), then this process becomes JLC_UID:JLC_GID and runs the
command, so notebooks write files that belong to you. Without lib/ (plain `docker compose`
before any `jlcompose up`), or when the container already runs as a user, it only runs the
command.
"""

import os
import subprocess
import sys

LIB = "/opt/jlcompose/lab/lib"


def _id(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else default


def main(argv):
    if not argv:
        sys.stderr.write("usage: launch.py COMMAND [ARG...]\n")
        return 2
    uid, gid = _id("JLC_UID", 1000), _id("JLC_GID", 1000)
    if os.geteuid() == 0:
        # the cache volume starts out root's: make it the lab user's (models, datasets, pip)
        cache = os.environ.get("XDG_CACHE_HOME", "")
        if cache and os.path.isdir(cache) and os.stat(cache).st_uid != uid:
            os.chown(cache, uid, gid)
        if os.path.isdir(os.path.join(LIB, "jlcompose")) and os.environ.get("JLC_AGENT", "1") != "0":
            env = dict(os.environ, PYTHONPATH=LIB, PYTHONDONTWRITEBYTECODE="1")
            subprocess.Popen(  # our own module, by this image's Python
                [sys.executable, "-m", "jlcompose.inlab.agent"], env=env, stdin=subprocess.DEVNULL
            )
        if uid != 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
    os.execvp(argv[0], argv)
    return 127  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
