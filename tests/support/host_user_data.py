"""The user data the host tier boots: exactly what berth renders for the stack, with one step replaced.

The one step: Docker's packages come from Docker's own apt repository (download.docker.com, its key
from a keyserver), which this machine cannot reach. Here they come from Debian's archive instead,
each of Docker's packages for Debian's build of the same program (`docker-ce` -> `docker.io`,
`docker-ce-cli` -> `docker-cli`, `containerd.io` -> `containerd`, `docker-buildx-plugin` ->
`docker-buildx`), and nothing else changes: the repository entry is removed and the install
script's package names are swapped, in place. If the
rendered user data no longer has that step in the shape replaced here, this fails rather than boot
something else than berth renders.
"""

from __future__ import annotations

import yaml

DOCKER_REPOSITORY = "docker.list"
DOCKER_PACKAGES = "docker-ce docker-ce-cli containerd.io docker-buildx-plugin"
DEBIAN_PACKAGES = "docker.io docker-cli containerd docker-buildx"
INSTALL_SCRIPT = "/usr/local/sbin/berth-install-docker"
HEADER = "#cloud-config\n"


class UserDataChanged(AssertionError):
    """The rendered user data no longer has the step the host tier replaces."""


def parse(user_data: str) -> dict:
    if not user_data.startswith(HEADER):
        raise UserDataChanged("the user data is not a #cloud-config document")
    return yaml.safe_load(user_data.removeprefix(HEADER))


def with_debian_docker(user_data: str) -> str:
    """`user_data` with Docker's repository step replaced by Debian's packages (the module docstring)."""
    document = parse(user_data)
    sources = (document.get("apt") or {}).get("sources") or {}
    if DOCKER_REPOSITORY not in sources:
        raise UserDataChanged(f"no apt source {DOCKER_REPOSITORY!r} in the user data")
    del sources[DOCKER_REPOSITORY]
    if not sources:
        del document["apt"]["sources"]
    if not document["apt"]:
        del document["apt"]
    script = next((f for f in document["write_files"] if f["path"] == INSTALL_SCRIPT), None)
    if script is None or script["content"].count(DOCKER_PACKAGES) != 1:
        raise UserDataChanged(f"{INSTALL_SCRIPT} does not install {DOCKER_PACKAGES!r} once")
    script["content"] = script["content"].replace(DOCKER_PACKAGES, DEBIAN_PACKAGES)
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=1000)
