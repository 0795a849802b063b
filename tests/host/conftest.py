"""The host tier's machine: the prod stack's EC2 host, booted for real in QEMU from its user data.

One VM for the session, booted once (cloud-init's first boot installs Docker: minutes under TCG).
Test modules run in name order on it: the boot's own checks (test_boot) before anything is deployed,
then the deploy over SSH, the reboot and the backups (test_deploy). Every test here is marked `host`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support import host_image, host_mutations
from tests.support.host_tier import HostStack, boot
from tests.support.host_user_data import with_debian_docker
from tests.support.stacks import require_tool
from tests.support.vm import GATEWAY
from tests.support.moto_server import MotoServer


def pytest_collection_modifyitems(items):
    for item in items:
        if item.nodeid.startswith("tests/host/"):
            item.add_marker(pytest.mark.host)


@pytest.fixture(scope="session")
def machine_image() -> host_image.Image:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the host tier builds its machine image as root (CI runs as root)")
        pytest.skip("the host tier builds its machine image as root")
    require_tool("qemu-system-x86_64")
    image, _ = host_image.build(require_tool("mmdebstrap"))
    return image


@pytest.fixture(scope="session")
def host_dir():
    """The session's files (deploy key, known hosts, disks, serial log). Not under pytest's own temporary
    directory: the tiers run as concurrent pytest sessions, and each new session prunes older ones'."""
    path = Path(tempfile.mkdtemp(prefix="berth-host-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def host_stack(host_dir) -> HostStack:
    return HostStack.create(host_dir / "stack")


@pytest.fixture(scope="session")
def booted_user_data(host_stack) -> str:
    """What the VM is given: berth's rendered user data, Docker's packages from Debian (and, for a
    mutation check, one step broken on purpose: BERTH_HOST_MUTATION, tests/support/host_mutations.py)."""
    return host_mutations.applied(with_debian_docker(host_stack.user_data))


@pytest.fixture(scope="session")
def aws_api():
    """AWS's API for the host's own clients (the reporter, the backup tool): moto's server on loopback,
    which the VM reaches at QEMU's gateway (tests/support/host_tier.py `vendor_data`)."""
    server = MotoServer()
    yield server.port
    server.stop()


@pytest.fixture(scope="session")
def host(machine_image, host_stack, booted_user_data, host_dir, aws_api):
    """The booted machine (tests/support/vm.py), cloud-init finished; stopped by its PID at the end."""
    with boot(machine_image, host_stack, host_dir / "vm", booted_user_data,
              f"http://{GATEWAY}:{aws_api}") as machine:
        yield machine
