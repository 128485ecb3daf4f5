"""Pure: which package a requirements line names, PEP 508 or not, as pip decides it.

pip also installs from lines a PEP 508 parser rejects (pip/_internal/req/constructors.py):
a URL or archive path (a wheel's name comes from its file name, anything else from a
`#egg=` fragment), `-e <vcs url>#egg=name`, and lines with `${VAR}` expanded from the
environment. jlcompose can't rewrite those lines, but it must know what they install.
"""

from __future__ import annotations

import posixpath
import re
import urllib.parse
from dataclasses import dataclass

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from jlcompose.core.reqlines import ENV_VAR_RE, break_args_options, parse_options

KINDS = {
    "wheel": "a wheel URL or file",
    "sdist": "a source archive URL or file",
    "url": "a URL or version-control reference",
    "editable": "an editable (-e) install",
    "env": "a line with ${...} variables",
}
_VCS_SCHEMES = frozenset(  # pip's vcs.all_schemes
    [f"bzr+{s}" for s in ("file", "ftp", "http", "https", "lp", "sftp", "ssh")]
    + [f"git+{s}" for s in ("file", "git", "http", "https", "ssh")]
    + [f"hg+{s}" for s in ("file", "http", "https", "ssh", "static-http")]
    + [f"svn+{s}" for s in ("file", "http", "https", "ssh", "svn")]
)
_EGG = re.compile(r"[#&]egg=([^&]*)")  # pip's Link._egg_fragment_re
_EXTRAS = re.compile(r"^(.+)(\[[^\]]+\])$")  # pip's _strip_extras
_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
_SDIST = (
    ".zip",
    ".tar.bz2",
    ".tbz",
    ".tar.gz",
    ".tgz",
    ".tar",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
)


@dataclass(frozen=True)
class Named:
    """A package installed from a line jlcompose can't rewrite."""

    name: str  # as the line spells it
    kind: str  # a key of KINDS
    marker: str = ""  # str(Marker), "" for none
    extras: frozenset[str] = frozenset()


def classify(text: str) -> tuple[Requirement | None, Named | None]:
    """A logical line's (PEP 508 requirement, or the package a non-PEP-508 line installs)."""
    if ENV_VAR_RE.search(text):
        # pip expands ${VAR} from the build's environment, which a pure function can't see:
        # the name is known only when it comes out the same whatever the values are
        found = [_classify(ENV_VAR_RE.sub(value, text)) for value in ("1.0", "2.0")]
        names = [
            named or (Named(req.name, "env", str(req.marker or "")) if req else None) for req, named in found
        ]
        if names[0] and names[1] and canonicalize_name(names[0].name) == canonicalize_name(names[1].name):
            kind = "env" if found[0][0] else names[0].kind
            return None, Named(names[0].name, kind, names[0].marker, names[0].extras)
        return None, None
    return _classify(text)


def _classify(text: str) -> tuple[Requirement | None, Named | None]:
    args, options = break_args_options(text)
    if not args:
        opts = parse_options(options) if options else None
        if opts and opts.editables:  # pip reads the first -e only
            return None, _editable(opts.editables[0])
        return None, None
    is_link, named = _link(args.strip())
    if is_link:
        return None, named
    return _pep508(args), None


def _pep508(args: str) -> Requirement | None:
    try:
        return Requirement(args)
    except InvalidRequirement:
        pass
    if ";" not in args:  # pip splits a marker off at the first ';' (`name@url;marker`)
        return None
    name, marker = args.split(";", 1)
    try:
        return Requirement(f"{name.strip()} ; {Marker(marker.strip())}")
    except (InvalidRequirement, InvalidMarker):
        return None


def _scheme(text: str) -> str:
    return text.split(":", 1)[0].lower() if ":" in text else ""


def _is_url(text: str) -> bool:  # pip's is_url
    scheme = _scheme(text)
    return scheme in ("http", "https", "file", "ftp") or scheme in _VCS_SCHEMES


def _ext(filename: str) -> str:  # pip's splitext: `.tar.gz` is one extension
    base, ext = posixpath.splitext(filename)
    return base[-4:] + ext if base.lower().endswith(".tar") else ext


def _link(args: str) -> tuple[bool, Named | None]:
    """pip's parse_req_from_line for URLs and archive paths: (is one, the package it names)."""
    sep = "; " if _is_url(args) else ";"
    name, _, marker_text = args.partition(sep)
    name = name.strip()
    try:
        marker = str(Marker(marker_text.strip())) if marker_text.strip() else ""
    except InvalidMarker:
        marker = ""
    if _is_url(name):
        path = urllib.parse.unquote(urllib.parse.urlsplit(name).path)
        filename = urllib.parse.unquote(posixpath.basename(path.rstrip("/")))
        if _ext(filename) == ".whl":
            return True, _wheel(filename, marker)
        egg = _egg(name)
        if egg is not None:
            return True, Named(egg[0], "url", marker, egg[1])
        return True, _sdist(filename, marker)
    path, extras_text = name, ""
    m = _EXTRAS.match(name)
    if m:
        path, extras_text = m.group(1), m.group(2)
    filename = posixpath.basename(posixpath.normpath(path)) if path else ""
    if _ext(filename).lower() not in (".whl", *_SDIST):  # pip's is_archive_file
        return False, None
    before, at, _ = name.partition("@")
    if at and not ("/" in before or before.startswith(".")):
        return False, None  # `name @ url` whose url ends like an archive: PEP 508
    extras = _extras(extras_text)
    found = _wheel(filename, marker) if _ext(filename) == ".whl" else _sdist(filename, marker)
    return True, Named(found.name, found.kind, marker, extras) if found else None


def _extras(text: str) -> frozenset[str]:
    try:
        return frozenset(Requirement("placeholder" + text).extras) if text else frozenset()
    except InvalidRequirement:
        return frozenset()


def _egg(url: str) -> tuple[str, frozenset[str]] | None:
    m = _EGG.search(url)
    if not m:
        return None
    try:
        req = Requirement(m.group(1))
    except InvalidRequirement:
        return None
    if req.specifier or req.url or req.marker:
        return None
    return req.name, frozenset(req.extras)


def _wheel(filename: str, marker: str) -> Named | None:
    try:
        parse_wheel_filename(filename)  # the wheel filename spec: `name-version(-build)-tags.whl`
    except InvalidWheelFilename:
        return None
    return Named(filename.split("-", 1)[0], "wheel", marker)


def _sdist(filename: str, marker: str) -> Named | None:
    """`name-version.tar.gz`, when exactly one split gives a valid name and a valid version.

    pip itself learns an sdist's name only by building it; this guess is safe enough to say
    "already there" because an ambiguous file name (`pkg-1.0-1.tar.gz`) gives no name.
    """
    ext = _ext(filename)
    if ext.lower() not in _SDIST:
        return None
    stem = filename[: -len(ext)]
    splits = []
    for m in re.finditer("-", stem):
        name, version = stem[: m.start()], stem[m.end() :]
        try:
            Version(version)
        except InvalidVersion:
            continue
        if _NAME.match(name):
            splits.append(name)
    return Named(splits[0], "sdist", marker) if len(splits) == 1 else None


def _editable(value: str) -> Named | None:
    """pip's parse_editable: a file: or VCS URL names its package in `#egg=`; a path does not."""
    m = _EXTRAS.match(value)
    if not (m.group(1) if m else value).lower().startswith("file:"):
        scheme = _scheme(value)
        if scheme in ("bzr", "git", "hg", "svn"):
            scheme = f"{scheme}+{scheme}"  # pip turns `git:` into `git+git:`
        if scheme not in _VCS_SCHEMES:
            return None
    egg = _egg(value)
    return Named(egg[0], "editable", "", egg[1]) if egg else None
