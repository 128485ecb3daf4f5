"""Pure: what `jlcompose pipreq` accepts as a package argument, and why it refuses the rest."""

from __future__ import annotations

import re

from packaging.requirements import InvalidRequirement, Requirement

from jlcompose.errors import RequirementError

MAX_ARGUMENT = 500  # a long https URL fits; anything longer is a paste accident
_ARCHIVE = re.compile(r"\.(whl|tar\.gz|tgz|tar\.bz2|tar\.xz|zip|egg)$", re.IGNORECASE)
_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
# never meaningful in a requirement we write; `$` would even be expanded by pip (${VAR}).
# Parentheses and tabs are legal PEP 508 (`name (>=1.0)`, `name\t>=1.0`) and accepted in
# the name part; nothing is written as typed: the file and pip get packaging's canonical
# `str(Requirement)` (`name>=1.0`), which pip's own line parser reads the same way.
_METACHARS = set(";|&$`\\'\"{}")
_URL_METACHARS = _METACHARS | set("()")


def validate_argument(arg: str) -> Requirement:
    """The PEP 508 requirement in one `pipreq` argument, or RequirementError saying why not.

    Refused on purpose: pip options, paths, archives, bare URLs, VCS references, environment
    markers and shell metacharacters (tabs and parentheses are PEP 508, not metacharacters).
    A direct reference `name @ https://...` is accepted only over https and without
    credentials: `http:` can be tampered with on the way, `file:` names a host path the
    image build cannot see, a VCS reference needs git in the image, and credentials would
    end up in a file that is usually committed.
    """
    shown = repr(arg if len(arg) <= 60 else arg[:57] + "...")
    text = arg.strip()
    if not text:
        raise RequirementError("an empty argument is not a package name.")
    if len(arg) > MAX_ARGUMENT:
        raise RequirementError(f"the argument {shown} is longer than {MAX_ARGUMENT} characters.")
    if any((ord(c) < 32 and c != "\t") or ord(c) == 127 for c in arg):
        raise RequirementError(f"the argument {shown} contains a line break or control character.")
    if text.startswith("-"):
        raise RequirementError(
            f"{shown} is a pip option; pipreq takes package requirements only.",
            hint="put options such as --index-url or -e into the requirements file by hand.",
        )
    name_part, at, url = text.partition("@")
    if not at:
        url = ""
    bad = sorted({c for c in name_part if c in _METACHARS} | {c for c in url if c in _URL_METACHARS})
    if bad:
        what = "an environment marker (;)" if bad == [";"] else f"shell metacharacters ({' '.join(bad)})"
        raise RequirementError(
            f"{shown} contains {what}, which pipreq does not accept.",
            hint="pass one requirement per argument, e.g. numpy or 'numpy>=1.26,<2'; "
            "markers belong in the requirements file.",
        )
    if re.search(r"[<>]\s*[/~.]", name_part):
        raise RequirementError(
            f"{shown} looks like a shell redirection (< or > before a path), not a version.",
            hint="quote version ranges, e.g. 'numpy>=1.26,<2'.",
        )
    lowered = text.lower()
    if "://" in name_part or _VCS.match(text) or lowered.startswith("file:"):
        raise RequirementError(
            f"{shown} is a URL without a package name.",
            hint="write it as a direct reference, e.g. 'mypkg @ https://example.org/mypkg-1.0.whl'.",
        )
    if "/" in name_part or name_part.startswith((".", "~")) or _ARCHIVE.search(name_part.strip()):
        raise RequirementError(
            f"{shown} is a path or a file, not a package requirement.",
            hint="local packages belong in the requirements file by hand (and must be inside "
            "docker_files/<service>/ for the image build to see them).",
        )
    if "#" in name_part:
        raise RequirementError(f"{shown} contains '#', which starts a comment in a requirements file.")
    if at:
        _check_url(url.strip(), shown)
    try:
        req = Requirement(text)
    except InvalidRequirement:
        raise RequirementError(
            f"{shown} is not a valid package requirement (a name, optional [extras], versions).",
            hint="e.g. transformers, 'numpy==1.26.4', 'torchvision>=0.19', 'accelerate[torch]'.",
        ) from None
    if re.fullmatch(r"[\d.]+", req.name):
        raise RequirementError(
            f"{shown} is a version number, not a package name.",
            hint="give the name and the version together, e.g. 'numpy==1.26.4'.",
        )
    return req


def _check_url(url: str, shown: str) -> None:
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if _VCS.match(url) or scheme in ("git", "hg", "svn", "bzr"):
        raise RequirementError(
            f"{shown} is a version-control reference; pipreq accepts only https URLs.",
            hint="VCS installs need git inside the image; add the line to the file by hand.",
        )
    if scheme != "https":
        raise RequirementError(
            f"{shown} uses a {scheme or 'missing'} URL scheme; pipreq accepts only https URLs.",
            hint="http can be tampered with in transit and file: paths do not exist in the image.",
        )
    if any(c.isspace() for c in url):
        raise RequirementError(f"{shown} has a space inside its URL.")
    host = url[len("https://") :].split("/", 1)[0]
    if "@" in host:
        raise RequirementError(
            f"{shown} carries credentials in its URL, which would be written into the file.",
            hint="configure credentials in pip's config or a netrc file inside the image instead.",
        )
