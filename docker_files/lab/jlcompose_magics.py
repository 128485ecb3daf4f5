"""%pipreq in every kernel of the lab, and a hint when an import fails on a missing package."""

# Run by IPython at kernel start (exec_files, see install_startup.py) in the notebook's own
# namespace: one function, deleted at the end, so no name leaks into the user's session.
# Silent when all goes well; without jlcompose's lab library (plain `docker compose` before
# any `jlcompose up`) it does nothing.


def _jlcompose_magics():
    import os
    import sys

    lib = "/opt/jlcompose/lab/lib"
    if not os.path.isdir(os.path.join(lib, "jlcompose")):
        return
    if lib not in sys.path:
        sys.path.append(lib)  # last: a jlcompose you installed yourself would come first
    from IPython import get_ipython

    from jlcompose.inlab.magic import load_ipython_extension

    shell = get_ipython()
    if shell is not None:
        load_ipython_extension(shell)


try:
    _jlcompose_magics()
except Exception as _jlc_exc:  # never let this stop the kernel
    import sys as _jlc_sys

    _jlc_sys.stderr.write(f"jlcompose: %pipreq is not available ({_jlc_exc}).\n")
    del _jlc_sys
del _jlcompose_magics
