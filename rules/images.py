"""Image references: what Docker accepts, and what berth calls pinned.

The grammar is Docker's own (distribution/reference v0.5.0, `reference.go` and `regexp.go`, which the
engine and the provider parse references with):

    reference        := name [ ":" tag ] [ "@" digest ]
    name             := [domain '/'] path-component ['/' path-component]*   (255 characters at most)
    domain           := domain-component ['.' domain-component]* [':' port-number]
    domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
    path-component   := alpha-numeric [separator alpha-numeric]*
    alpha-numeric    := /[a-z0-9]+/
    separator        := /[_.]|__|[-]*/
    tag              := /[\\w][\\w.-]{0,127}/
    digest           := algorithm ":" /[0-9a-fA-F]{32,}/

**Pinned** (what prod deploys): berth deploys what a reviewer saw, so a reference is pinned when it
names a digest, or a tag naming one release: a full version (`1.15.5`, `v2.1.4`, `7.4.5-alpine`; for
Postgres, whose releases have two numbers since 10, `17.6-alpine`, mirrors of it included), a date (`2024-05-01`), a MinIO
`RELEASE.` date, or a git commit SHA. `latest`, no tag, and tags that move with each release (`15`,
`7-alpine`, `alpine`, `20.11`) are not.
"""

from __future__ import annotations

import re

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")  # Go's \w is ASCII; Python's is not
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
REFERENCE = re.compile(rf"(?P<name>{_NAME})(?::(?P<tag>{TAG.pattern}))?(?:@(?P<digest>{_DIGEST}))?")
NAME_MAX = 255  # distribution/reference NameTotalLengthMax

# Images whose releases are named by two numbers (Postgres 10 and later: 17.6 is a release), by the last
# part of their repository, so a mirror (`<account>.dkr.ecr.../postgres`) counts too.
TWO_NUMBER_RELEASES = ("postgres",)
_RELEASE = re.compile(r"v?\d+\.\d+\.\d+(?:\.\d+)*(?![\d.])")
_TWO_NUMBER_RELEASE = re.compile(r"\d+\.\d+(?![\d.])")
_DATE_OR_COMMIT = re.compile(r"\d{4}[.-]\d{2}[.-]\d{2}|RELEASE\.\d{4}-|[0-9a-f]{7,40}(?![\w.-])")


def reference_problem(ref: str) -> str | None:
    """Why Docker would refuse `ref` as an image reference, or None when it is one."""
    match = REFERENCE.fullmatch(ref)
    if match is None:
        return (f"{ref!r} is not an image reference Docker accepts: [registry/]name[:tag][@digest], with a "
                "lowercase name (letters, digits, '.', '_', '-' between them, '/' between parts) and no spaces")
    if len(match["name"]) > NAME_MAX:
        return f"{ref!r} has a name longer than Docker's {NAME_MAX} characters"
    return None


def tag_problem(tag: str) -> str | None:
    """Why Docker would refuse `tag` as a tag (a built image's `version`), or None."""
    if TAG.fullmatch(tag):
        return None
    return (f"{tag!r} is not a Docker tag: letters, digits, '_', '.' and '-', starting with a letter, digit or '_', "
            "at most 128 characters (e.g. a git SHA or 1.4.2)")


def repository(ref: str) -> str:
    """`docker.io/library/redis:7-alpine` -> `redis`; `ghcr.io/x/y:1@sha256:..` -> `ghcr.io/x/y`."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/", "library/"):
        name = name.removeprefix(prefix)
    return name


def tag(ref: str) -> str | None:
    last = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def is_pinned(ref: str) -> bool:
    """A digest, or a tag naming one release (see the module docstring)."""
    if "@" in ref:
        return True
    value = tag(ref)
    if not value or value == "latest":
        return False
    if repository(ref).rsplit("/", 1)[-1] in TWO_NUMBER_RELEASES and _TWO_NUMBER_RELEASE.match(value):
        return True
    return bool(_RELEASE.match(value) or _DATE_OR_COMMIT.match(value))


def pin_fix(ref: str, consequence: str = "") -> str:
    """What to do about an unpinned reference; `consequence` says what its being unpinned stops."""
    repo = repository(ref)
    shown = tag(ref) or "no tag (latest)"
    return (f"{ref!r} is not pinned ({shown} moves with every release){'; ' + consequence if consequence else ''}. "
            f"Pin the release you run today: `docker image inspect --format '{{{{index .RepoDigests 0}}}}' {ref}` on "
            f"the host prints {repo}@sha256:..., or pick its exact version tag (e.g. {repo}:1.2.3) from the image's "
            "release notes")
