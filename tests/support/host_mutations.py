"""Mutations of the user data, to show the host tier fails when a step it asserts is broken.

`BERTH_HOST_MUTATION=<name> scripts/test -m host` boots the host with that one step broken; the tier
must then fail, and the test that fails names what broke (docs/testing.md lists what each did).
Unset, the user data is booted as rendered (with Debian's Docker packages, host_user_data.py).
"""

from __future__ import annotations

import os

import yaml

from tests.support.host_user_data import HEADER, parse


def _replace_in_file(path: str, old: str, new: str):
    def mutate(document: dict) -> None:
        entry = next(f for f in document["write_files"] if f["path"] == path)
        if old not in entry["content"]:
            raise AssertionError(f"mutation target {old!r} is not in {path}")
        entry["content"] = entry["content"].replace(old, new)
    return mutate


def _drop_file(path: str):
    def mutate(document: dict) -> None:
        document["write_files"] = [f for f in document["write_files"] if f["path"] != path]
    return mutate


MUTATIONS = {
    # the mount script waits for a device name EC2 never gives the volume
    "device-name": _replace_in_file("/usr/local/sbin/berth-mount-data", "Amazon_Elastic_Block_Store_",
                                    "Amazon_Elastic_Block_Storage_"),
    # a typo in docker.service's drop-in: systemd ignores the unknown key, Docker no longer waits for the mount
    "unit-typo": _replace_in_file("/etc/systemd/system/docker.service.d/berth-data.conf", "RequiresMountsFor=",
                                  "RequiresMountFor="),
    # sshd left with the image's defaults
    "no-sshd-hardening": _drop_file("/etc/ssh/sshd_config.d/10-berth.conf"),
    # a daemon.json setting lost
    "daemon-json": _replace_in_file("/etc/docker/daemon.json", '"live-restore": true', '"live-restore": false'),
}


def applied(user_data: str, name: str | None = None) -> str:
    """`user_data` with the named mutation (default: $BERTH_HOST_MUTATION) applied, or as it is."""
    name = name if name is not None else os.environ.get("BERTH_HOST_MUTATION", "")
    if not name:
        return user_data
    if name not in MUTATIONS:
        raise ValueError(f"BERTH_HOST_MUTATION={name!r}: no such mutation; known: {', '.join(MUTATIONS)}")
    document = parse(user_data)
    MUTATIONS[name](document)
    return HEADER + yaml.safe_dump(document, sort_keys=False, width=1000)
