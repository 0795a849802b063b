"""The digest of an image this machine already runs: `docker compose up` pulled it, so the local Docker
engine knows the release it is (the image's RepoDigests, `docker image inspect` in the SDK's words).

Asked of the engine DOCKER_HOST names, with the Docker SDK (requirements.txt pins it), briefly: no
engine, no such image or no digest for its repository (a local build) is no answer, and the TODO
with the command that prints the digest stays. Nothing is pulled and no registry is asked.
"""

from __future__ import annotations

import docker
from docker.errors import DockerException
from requests.exceptions import RequestException

from rules.images import repository

TIMEOUT_S = 3


def local(refs: list[str]) -> dict[str, str]:
    """Each ref the engine has a digest for -> `ref@sha256:...` (the tag kept for the reader)."""
    try:
        client = docker.from_env(timeout=TIMEOUT_S)
    except (DockerException, RequestException, OSError):
        return {}
    found = {}
    try:
        for ref in refs:
            digest = _digest(client, ref)
            if digest:
                found[ref] = f"{ref}@{digest}"
    finally:
        client.close()
    return found


def _digest(client: docker.DockerClient, ref: str) -> str | None:
    try:
        attrs = client.api.inspect_image(ref)
    except (DockerException, RequestException, OSError):
        return None
    for pinned in attrs.get("RepoDigests") or []:
        name, _, digest = pinned.partition("@")
        if repository(name) == repository(ref) and digest.startswith("sha256:"):
            return digest
    return None
