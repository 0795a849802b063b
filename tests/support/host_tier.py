"""The host tier's stack and machine: the repository's prod stack run under mocks, and a VM booted with
the user data that run rendered (tests/support/vm.py), reached the way `pulumi up` reaches the EC2 host.

- `HostStack`: the prod program's run (app files checked every second, as in the engine tier), its
  deploy key being this session's, and what EC2 would hand the instance: the user data (with the one
  documented substitution, tests/support/host_user_data.py) and the key pair's public key.
- `boot(...)`: a VM with that user data and a blank data disk whose NVMe serial is the run's EBS
  volume id; returns once cloud-init has finished (successfully or not: the tests say which).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from offline.mockrun import Run, reveal
from render import backup_host, report_host
from tests.support import vm
from tests.support.engine_stacks import app_files_checked_every_second
from tests.support.host_image import Image
from tests.support.stacks import run_stack, stack_config

STACK = "prod"
INSTANCE = ("aws:ec2/instance:Instance", "host-instance")
ATTACHMENT = ("aws:ec2/volumeAttachment:VolumeAttachment", "host-data-attachment")
GATE = ("command:remote:Command", "host-ready")
DATA_DISK_GIB = 16
CLOUD_INIT_TIMEOUT_S = 1800  # TCG on a busy 2-core machine: the first boot installs Docker


@dataclass
class HostStack:
    """The stack whose host the tier boots: its run, and what EC2 hands its instance."""

    run: Run
    public_key: str
    key: Path
    program_dir: Path

    @classmethod
    def create(cls, tmp: Path) -> HostStack:
        tmp.mkdir(parents=True, exist_ok=True)
        key, public_key = vm.deploy_key(tmp)
        host = {**stack_config(STACK).object("berth:host"), "sshPublicKey": public_key}
        app_files_checked_every_second(tmp / "program" / "berth" / "apps")
        run = run_stack(tmp / "program", STACK, stack_config(STACK, plain={"berth:host": host}))
        return cls(run, public_key, key, tmp / "program")

    @property
    def user_data(self) -> str:
        """What berth rendered, byte for byte."""
        return reveal(self.run.get(*INSTANCE).inputs)["userData"]

    @property
    def volume_serial(self) -> str:
        """EBS's NVMe serial for the attached data volume: its id without the dash."""
        return reveal(self.run.get(*ATTACHMENT).inputs)["volumeId"].replace("-", "")

    @property
    def readiness_check(self) -> str:
        return reveal(self.run.get(*GATE).inputs)["create"]

    def meta_data(self, instance_id: str = "i-0123456789abcdef0") -> str:
        """NoCloud's meta-data: the instance id and the key pair's public key, as EC2's metadata has them."""
        key_pair = reveal(self.run.get("aws:ec2/keyPair:KeyPair", "host-key").inputs)["publicKey"]
        return f"instance-id: {instance_id}\npublic-keys:\n  - {key_pair}\n"


# berth's own AWS clients on the host, which must reach only the AWS API stand-in
AWS_CLIENT_UNITS = (report_host.UNIT, backup_host.UNIT)


def vendor_data(aws_endpoint: str) -> str:
    """NoCloud's vendor data, run before the user data's runcmd (cloud-init's scripts_vendor): what EC2
    gives an instance besides its user data, for berth's AWS clients on it (the reporter the user data
    starts, the backup tool a deploy installs): AWS's API (moto on loopback, through QEMU's gateway) and
    credentials (the instance role's on EC2). Nothing on the host may reach AWS or its metadata address."""
    settings = {"AWS_ENDPOINT_URL": aws_endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true"}
    drop_in = "[Service]\n" + "".join(f"Environment={k}={v}\n" for k, v in settings.items())
    lines = ["#!/bin/sh", "set -e"]
    for unit in AWS_CLIENT_UNITS:
        lines += [f"mkdir -p /etc/systemd/system/{unit}.service.d",
                  f"cat > /etc/systemd/system/{unit}.service.d/aws-api.conf <<'EOF'", drop_in.rstrip("\n"), "EOF"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def boot(image: Image, stack: HostStack, workdir: Path, user_data: str, aws_endpoint: str) -> Iterator[vm.Vm]:
    """A VM booted with `user_data` and a blank data volume; cloud-init has finished when this yields."""
    workdir.mkdir(parents=True, exist_ok=True)
    seed = vm.SeedServer({"meta-data": stack.meta_data(), "user-data": user_data,
                          "vendor-data": vendor_data(aws_endpoint)})
    machine = vm.Vm(image, workdir, seed, vm.data_disk(workdir / "ebs.qcow2", DATA_DISK_GIB), stack.volume_serial,
                    stack.key)
    try:
        machine.start()
        machine.ssh.run("cloud-init status --wait >/dev/null", check=False, timeout=CLOUD_INIT_TIMEOUT_S)
        machine.ssh.disconnect()  # that login predates the user's docker group; later ones have it
        yield machine
    finally:
        machine.stop()
        seed.close()
