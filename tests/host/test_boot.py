"""The EC2 host's user data, run by cloud-init on a real machine: what the SRE who wrote it meant.

The machine (tests/host/conftest.py) booted the prod stack's user data as berth renders it (Docker's
packages from Debian instead of Docker's repository: tests/support/host_user_data.py), with a blank
NVMe disk named as EC2 names the stack's EBS volume. These run before anything is deployed on it.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest

from config.conventions import DOCKER_ROOT, EC2_DATA_ROOT
from render import cloud_init, report_host
from tests.support.host_user_data import parse
from tests.support.vm import Ssh, deploy_key

MOUNT_SCRIPT = "/usr/local/sbin/berth-mount-data"
MOUNT_UNIT = "srv-berth.mount"


def written(user_data: str, path: str) -> str:
    return next(f["content"] for f in parse(user_data)["write_files"] if f["path"] == path)


def device_of(host_stack) -> str:
    return f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{host_stack.volume_serial}"


def unit_property(host, unit: str, name: str) -> str:
    return host.ssh.run(f"systemctl show {unit} -p {name} --value").stdout.strip()


def wait_active(host, unit: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while host.ssh.run(f"systemctl is-active {unit}", check=False).stdout.strip() != "active":
        if time.monotonic() > deadline:
            raise AssertionError(f"{unit} not active after {timeout_s}s:\n"
                                 + host.ssh.root(f"systemctl status {unit} --no-pager; journalctl -b -u {unit} "
                                                 "--no-pager | tail -20", check=False))
        time.sleep(2)


def test_cloud_init_ran_the_user_data_to_the_end(host, booted_user_data):
    """cloud-init consumed exactly the user data given, ran every stage and reports no error (a failed
    step fails it: `set -e` heads runcmd)."""
    status = json.loads(host.ssh.run("cloud-init status --format json", check=False).stdout)
    assert (status["status"], status["errors"]) == ("done", []), json.dumps(status, indent=2)
    assert host.ssh.root("cat /var/lib/cloud/instance/user-data.txt") == booted_user_data
    assert host.ssh.root("head -1 /var/lib/cloud/instance/scripts/runcmd; sed -n 2p /var/lib/cloud/instance/scripts/runcmd") \
        == "#!/bin/sh\nset -e\n"


def test_the_data_volume_is_formatted_and_mounted_by_its_ebs_name(host, host_stack):
    """The EBS volume, found under the name EC2 gives it, carries an ext4 file system labelled berth-data,
    is mounted at /srv/berth, and fstab mounts it on every boot (once, by that name, not failing a boot)."""
    device = device_of(host_stack)
    disk = host.ssh.run(f"readlink -f {device}").stdout.strip()
    assert disk.startswith("/dev/nvme")
    assert host.ssh.run(f"findmnt -n -o SOURCE,FSTYPE {EC2_DATA_ROOT}").stdout.split() == [disk, "ext4"]
    assert host.ssh.root(f"blkid -s LABEL -o value {device}").strip() == "berth-data"
    fstab = [line.split() for line in host.ssh.run("cat /etc/fstab").stdout.splitlines() if EC2_DATA_ROOT in line]
    assert fstab == [[device, EC2_DATA_ROOT, "ext4", "defaults,nofail,x-systemd.device-timeout=60", "0", "2"]]


def test_a_new_instance_on_the_same_volume_mounts_it_without_formatting(host, host_stack):
    """What replacing the host does (a new root disk, the same EBS volume): the mount script, run again on
    a root disk that never saw the volume, finds the file system and keeps it and its files."""
    device = device_of(host_stack)
    uuid = host.ssh.root(f"blkid -s UUID -o value {device}").strip()
    host.ssh.root(f"echo kept > {EC2_DATA_ROOT}/host-dirs/marker")
    host.ssh.root(f"systemctl stop docker.socket docker.service && umount {EC2_DATA_ROOT} "
                  f"&& sed -i '\\# {EC2_DATA_ROOT} #d' /etc/fstab && {MOUNT_SCRIPT}")
    assert host.ssh.root(f"blkid -s UUID -o value {device}").strip() == uuid
    assert host.ssh.root(f"cat {EC2_DATA_ROOT}/host-dirs/marker") == "kept\n"
    assert host.ssh.run(f"grep -c ' {EC2_DATA_ROOT} ' /etc/fstab").stdout.strip() == "1"
    host.ssh.root(f"{MOUNT_SCRIPT} && rm {EC2_DATA_ROOT}/host-dirs/marker && systemctl start docker")  # run twice: still fine
    assert host.ssh.run(f"grep -c ' {EC2_DATA_ROOT} ' /etc/fstab").stdout.strip() == "1"


def test_docker_keeps_its_data_root_on_the_volume_and_never_starts_without_it(host):
    """Docker's data root is on the volume, and docker.service requires the mount: with the volume gone
    (its NVMe controller removed, as a detached EBS volume is) Docker waits instead of starting on the
    root disk, and starts once the volume is back."""
    assert host.ssh.root("docker info --format '{{.DockerRootDir}}'").strip() == DOCKER_ROOT
    assert host.ssh.run(f"findmnt -n -o TARGET -T {DOCKER_ROOT}").stdout.strip() == EC2_DATA_ROOT
    assert unit_property(host, "docker.service", "RequiresMountsFor") == EC2_DATA_ROOT
    assert MOUNT_UNIT in unit_property(host, "docker.service", "Requires").split()
    assert MOUNT_UNIT in unit_property(host, "docker.service", "After").split()

    host.ssh.root(f"systemctl stop docker.socket docker.service && umount {EC2_DATA_ROOT} "
                  "&& echo 1 > /sys/class/nvme/nvme0/device/remove")
    try:
        host.ssh.root("systemctl start --no-block docker.service")
        time.sleep(10)
        assert host.ssh.run("systemctl is-active docker.service", check=False).stdout.strip() != "active"
        assert "docker.service" in host.ssh.run("systemctl list-jobs --no-pager").stdout
        assert host.ssh.run(f"mountpoint -q {EC2_DATA_ROOT}", check=False).returncode != 0
        assert host.ssh.root(f"ls -A {EC2_DATA_ROOT}") == ""  # nothing written onto the root disk
    finally:
        host.ssh.root("echo 1 > /sys/bus/pci/rescan")
    wait_active(host, "docker.service")
    assert host.ssh.root("docker info --format '{{.DockerRootDir}}'").strip() == DOCKER_ROOT
    assert host.ssh.run(f"findmnt -n -o TARGET -T {DOCKER_ROOT}").stdout.strip() == EC2_DATA_ROOT


def test_daemon_json_is_as_rendered_and_in_effect(host, booted_user_data):
    """The file is berth's, and the running daemon does what it says: json-file logs rotated, live restore,
    no new privileges, no inter-container traffic on the default bridge, networks from berth's pool."""
    text = host.ssh.root("cat /etc/docker/daemon.json")
    assert text == written(booted_user_data, "/etc/docker/daemon.json")
    assert json.loads(text) == cloud_init.daemon_json()
    info = json.loads(host.ssh.root("docker info --format '{{json .}}'"))
    assert (info["LoggingDriver"], info["LiveRestoreEnabled"]) == ("json-file", True)
    assert "name=no-new-privileges" in info["SecurityOptions"]
    bridge = json.loads(host.ssh.root("docker network inspect bridge"))[0]
    assert bridge["Options"]["com.docker.network.bridge.enable_icc"] == "false"
    subnet = host.ssh.root("docker network create berth-host-probe >/dev/null && "
                           "docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' berth-host-probe; "
                           "docker network rm berth-host-probe >/dev/null").strip()
    assert subnet.startswith("10.200.") and subnet.endswith("/24")


def test_sshd_accepts_only_the_deploy_key(host, tmp_path):
    """No passwords, no keyboard-interactive, no root (even with the deploy key), no other key: only
    the key EC2 handed the instance, for the deploy user."""
    settings = dict(line.split(" ", 1) for line in host.ssh.root("sshd -T").splitlines() if " " in line)
    assert (settings["passwordauthentication"], settings["kbdinteractiveauthentication"],
            settings["permitrootlogin"], settings["authenticationmethods"]) == ("no", "no", "no", "publickey")
    password = host.ssh.run("true", check=False, extra=("-o", "PubkeyAuthentication=no", "-o",
                                                       "PreferredAuthentications=password,keyboard-interactive"))
    assert password.returncode == 255 and "Permission denied (publickey)" in password.stderr
    as_root = host.ssh.run("true", user="root", check=False)
    assert as_root.returncode == 255 and "Permission denied" in as_root.stderr
    other_key, _ = deploy_key(tmp_path)  # a key of the same kind that EC2 never handed the instance
    stranger = Ssh(host.workdir, host.ssh.port, other_key).run("true", check=False, fresh=True)
    assert stranger.returncode == 255 and "Permission denied (publickey)" in stranger.stderr


def test_unattended_upgrades_are_enabled(host):
    """Security updates install themselves: the package lists refresh and unattended-upgrade runs daily."""
    periodic = host.ssh.run("apt-config dump APT::Periodic").stdout
    assert 'APT::Periodic::Update-Package-Lists "1";' in periodic
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.ssh.run(f"systemctl is-enabled {timer}").stdout.strip() == "enabled"
        assert host.ssh.run(f"systemctl is-active {timer}").stdout.strip() == "active"
    assert host.ssh.run("dpkg-query -W -f '${db:Status-Abbrev}' unattended-upgrades").stdout.strip() == "ii"


def test_the_ecr_credential_helper_serves_the_deploy_user(host, booted_user_data):
    """Pulls from the stack's ECR registry use the instance role through the credential helper: no
    password on disk. (No registry is reachable here: the helper and its configuration are checked.)"""
    home = "/home/ubuntu/.docker/config.json"
    assert host.ssh.run(f"cat {home}").stdout == written(booted_user_data, home)
    assert host.ssh.run(f"stat -c '%U:%G %a' {home}").stdout.strip() == "ubuntu:ubuntu 600"
    assert host.ssh.run("docker-credential-ecr-login version").returncode == 0


def test_systemd_verifies_the_units_the_user_data_changes(host):
    """`systemd-analyze verify` reads docker.service with berth's drop-in and finds nothing wrong."""
    done = host.ssh.root("systemd-analyze verify docker.service 2>&1; echo exit=$?")
    assert done.strip() == "exit=0", done


def test_the_readiness_gate_passes(host, host_stack):
    """The gate the stack registers before its Docker provider, run as the deploy does: over SSH, as the
    deploy user, in a fresh session."""
    done = host.ssh.run(host_stack.readiness_check, check=False, fresh=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == host.ssh.root("docker info --format '{{.ServerVersion}}'").strip()


@pytest.fixture(scope="session")
def gpu_gate(tmp_path_factory) -> str:
    """The readiness gate of a GPU host (the on-prem RAG example's prod)."""
    from offline.mockrun import reveal
    from tests.support.engine_stacks import EXAMPLES, example_secrets
    from tests.support.stacks import run_stack, stack_config
    example = "on-prem-rag/Pulumi.prod.yaml"
    run = run_stack(tmp_path_factory.mktemp("gpu"), "prod",
                    stack_config("prod", stack_file=EXAMPLES / example, secrets=example_secrets(example)))
    return reveal(run.get("command:remote:Command", "host-ready").inputs)["create"]


def test_a_gpu_hosts_gate_fails_closed_without_the_driver(host, gpu_gate):
    """The GPU branch is not run here (no GPU), but its gate is: on a machine without `nvidia-smi` it
    fails, and no container would be created."""
    assert "nvidia-smi -L" in gpu_gate
    done = host.ssh.run(gpu_gate, check=False)
    assert done.returncode != 0
    assert "nvidia-smi" in done.stderr


def test_the_reporter_the_user_data_starts_reports_to_the_aws_api(host, aws_api):
    """The user data's reporter timer runs on the host (every minute from its first) and its metrics
    arrive at AWS's API (here moto on loopback; the host reaches nothing else of AWS)."""
    assert host.ssh.run(f"systemctl is-active {report_host.UNIT}.timer").stdout.strip() == "active"
    deadline = time.monotonic() + 180
    while host.ssh.run(f"systemctl show {report_host.UNIT}.service -p Result --value").stdout.strip() != "success" \
            or not host.ssh.run(f"systemctl show {report_host.UNIT}.service -p ExecMainExitTimestampMonotonic "
                                "--value").stdout.strip().strip("0"):
        assert time.monotonic() < deadline, host.ssh.root(f"journalctl -b -u {report_host.UNIT} --no-pager | tail -30")
        time.sleep(5)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url=f"http://127.0.0.1:{aws_api}",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    assert cloudwatch.list_metrics(Namespace="berth/host")["Metrics"]
