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
import os
import shlex
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from offline.mockrun import Run, reveal
from render import backup_host, report_host
from tests.support import vm
from tests.support.apply import apply, deployment_of
from tests.support.engine_stacks import (
    EngineStack,
    app_files_checked_every_second,
    stack_certificates,
)
from tests.support.host_image import USER, Image
from tests.support.stack_probes import Through
from tests.support.stacks import run_stack, stack_config
from tests.support.standins import StandIns

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


class VmEngine:
    """The VM's Docker engine, reached as the Docker provider and pulumi-command reach the EC2 host."""

    def __init__(self, machine: vm.Vm):
        self.machine = machine
        self.url = f"ssh://{USER}@127.0.0.1:{machine.ssh.port}"
        self._client = None

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.url}

    @property
    def client(self):
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.url, use_ssh_client=True, timeout=300)
        return self._client

    def run_on_host(self, script: str, stdin: str | None, timeout: float) -> subprocess.CompletedProcess:
        """A host command as remote.Command runs it: the script in the login user's shell, stdin given."""
        return self.machine.ssh.run(script, input=stdin if stdin is not None else "", check=False, timeout=timeout)

    def restart(self) -> None:
        """A reboot of the host (Applied.restart_engine)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self.machine.reboot()


def ssh_wrapper(bin_dir: Path, ssh: vm.Ssh) -> Path:
    """An `ssh` first on PATH that adds this VM's key and known-hosts file: the Docker SDK and CLI run
    `ssh` by name, and the machine's own ~/.ssh is never touched."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    wrapper = bin_dir / "ssh"
    wrapper.write_text("#!/bin/sh\nexec /usr/bin/ssh " + " ".join(shlex.quote(o) for o in ssh.options()) + ' "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir


class ForwardedThrough(Through):
    """The proxy as this machine reaches it on the VM: the host's ports 80 and 443, forwarded to loopback."""

    def __init__(self, http_port: int, https_port: int, ca_file: Path | None):  # noqa: super() reads a container
        self.http_port, self.https_port = http_port, https_port
        self.context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None


@dataclass
class HostDeployment:
    host: vm.Vm
    engine: VmEngine
    stack: EngineStack


@contextlib.contextmanager
def deploy(machine: vm.Vm, stack: HostStack, workdir: Path) -> Iterator[HostDeployment]:
    """The stack's first `pulumi up` onto the VM (tests/support/apply.py), with stand-in images loaded
    into the VM's engine; certificates for its host names on the proxy's volume first, as for the
    engine tier's prod stacks. `ssh` on PATH is the VM's wrapper for as long as this lasts."""
    saved = os.environ["PATH"]
    os.environ["PATH"] = f"{ssh_wrapper(workdir / 'bin', machine.ssh)}:{saved}"
    try:
        engine = VmEngine(machine)
        standins = StandIns(engine)
        deployment = deployment_of(stack.run)
        ca = stack_certificates(stack.run, deployment, engine, standins, workdir / "certificates")
        applied = apply(stack.run, engine, standins)
        through = ForwardedThrough(machine.ports[80], machine.ports[443], ca)
        yield HostDeployment(machine, engine, EngineStack(STACK, applied, deployment, through, stack.program_dir))
    finally:
        os.environ["PATH"] = saved
