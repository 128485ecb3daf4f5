"""Code that runs inside the labs too: the install agent, the installer and the %pipreq magic.

`jlcompose up` ships this package, with core/, errors.py, files.py and state.py, into each
lab image (docker_files/lab/lib/, see lab/labfiles.py), so the lab edits requirements files
with the very modules the CLI uses. It imports nothing else of jlcompose, and nothing beyond
the standard library and `packaging` (which every JupyterLab image has).
"""
