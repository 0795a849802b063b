"""The EC2 host's cloud-init user data: data volume first, then Docker on it, hardened.

User data is readable by anyone on the instance with metadata access and is kept in plain text by
EC2, so it takes no secret: it is built only from names, sizes and the data volume's id.

Order matters and is why Docker is installed in `runcmd` rather than `packages`: the data volume is
mounted first, so Docker's data root (and every Docker volume) is created on EBS, never on the root
disk. `docker.service` also requires the mount on every later boot. cloud-init runs `runcmd` as one
`sh` script, one line per step, and goes on after a failed line (cloudinit/util.py `shellify`), so
the script starts with `set -e`: a step that fails ends the script and marks cloud-init failed, and
the readiness gate stops the deploy there instead of on a host half set up.

SSH takes only keys, never root: a drop-in (read before any other, and sshd keeps the first value
it reads) says so, instead of trusting each image's own defaults (Ubuntu's cloud images turn
passwords off in a drop-in of their own; Debian's sshd accepts them).

GPU hosts boot AWS's Deep Learning Base OSS Nvidia Driver AMI (components/single_host/ec2_host.py), which ships
the NVIDIA driver built for its own kernel, the container toolkit and Docker. Installing a driver on
plain Ubuntu after the first boot's upgrade does not work without a reboot: the upgrade installs a
newer kernel, the driver's modules are built for that one, and the running kernel has none, so no
GPU until a reboot that the readiness gate would race. So the kernel packages are held from the
first boot on (`bootcmd`, before the upgrade): the driver and the kernel always match, and a new
kernel arrives with a new AMI, by replacing the host. The install step fails unless `nvidia-smi`
sees the GPU, and the readiness gate asks it again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import yaml

from config.app import DOCKER_ADDRESS_POOL
from config.conventions import DOCKER_ROOT, EC2_DATA_ROOT, LOG_DRIVER, LOG_OPTS
from render import report_host

DOCKER_GPG_FINGERPRINT = "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"
# Held on GPU hosts so no upgrade brings a kernel the NVIDIA driver has no modules for.
KERNEL_PACKAGES = ("linux-image-*", "linux-headers-*", "linux-modules-*", "linux-aws*", "linux-generic*")
SSHD_DROP_IN = "/etc/ssh/sshd_config.d/10-berth.conf"
SSHD_SETTINGS = """# berth: the deploy key (or another key in authorized_keys) only; no passwords, no root.
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthenticationMethods publickey
"""


@dataclass(frozen=True)
class HostSetup:
    data_volume_id: str
    ssh_user: str = "ubuntu"
    gpu: bool = False
    ecr_registry: str | None = None  # `<account>.dkr.ecr.<region>.amazonaws.com`, pulled with the instance role
    arch: str = "amd64"  # the Debian name of the instance's architecture: amd64 or arm64
    stack: str | None = None  # with the region: the host reports to CloudWatch (render/report_host.py)
    region: str | None = None


def daemon_json() -> dict:
    """Engine defaults: rotated logs, no privilege escalation, containers survive daemon restarts."""
    return {
        "data-root": DOCKER_ROOT,
        "log-driver": LOG_DRIVER,
        "log-opts": LOG_OPTS,
        "no-new-privileges": True,
        "live-restore": True,
        "userland-proxy": False,
        "icc": False,
        # Networks without a fixed subnet get /24s from here, never from 172.17-31: an app's fixed
        # subnet (on-prem RAG's 172.20.0.0/16) can then never be taken first, nor the default VPC's.
        "default-address-pools": [{"base": str(DOCKER_ADDRESS_POOL), "size": 24}],
    }


def mount_script(volume_id: str) -> str:
    """Mount the data volume by its EBS id; format it only if it holds no filesystem yet."""
    device = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{volume_id.replace('-', '')}"
    return f"""#!/bin/bash
# Mount berth's data volume at {EC2_DATA_ROOT}. Runs on first boot; fstab mounts it on every later boot.
set -euo pipefail
device="{device}"
# The volume is attached after the instance starts: poll until the device appears (bounded).
for _ in $(seq 1 180); do
  [ -e "$device" ] && break
  sleep 1
done
if [ ! -e "$device" ]; then
  echo "data volume {volume_id} never appeared at $device" >&2
  exit 1
fi
if ! blkid "$device" >/dev/null 2>&1; then
  mkfs.ext4 -L berth-data "$device"
fi
mkdir -p {EC2_DATA_ROOT}
if ! grep -q "^$device " /etc/fstab; then
  echo "$device {EC2_DATA_ROOT} ext4 defaults,nofail,x-systemd.device-timeout=60 0 2" >> /etc/fstab
fi
systemctl daemon-reload
mountpoint -q {EC2_DATA_ROOT} || mount {EC2_DATA_ROOT}
mkdir -p {DOCKER_ROOT} {EC2_DATA_ROOT}/host-dirs
"""


def hold_kernel_command() -> str:
    """Hold every installed kernel package (GPU hosts, every boot, before any upgrade)."""
    patterns = " ".join(f"'{p}'" for p in KERNEL_PACKAGES)
    return (f"dpkg-query -W -f='${{db:Status-Abbrev}} ${{Package}}\\n' {patterns} 2>/dev/null"
            " | awk '$1 == \"ii\" {print $2}' | xargs -r apt-mark hold")


def install_docker_script(gpu: bool) -> str:
    """Install Docker after the mount; on GPU hosts, let Docker hand out the GPUs the AMI's driver sees."""
    gpu_steps = ""
    if gpu:
        gpu_steps = """# The AMI's driver must see the GPU now, on the running kernel: no reboot follows.
nvidia-smi -L
nvidia-ctk runtime configure --runtime=docker
"""
    return f"""#!/bin/bash
# Install the Docker engine on the mounted data volume, then start it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
mountpoint -q {EC2_DATA_ROOT}
apt-get install -y --no-install-recommends docker-ce docker-ce-cli containerd.io docker-buildx-plugin \\
  amazon-ecr-credential-helper
{gpu_steps}systemctl daemon-reload
systemctl enable --now docker
systemctl restart docker
test "$(docker info --format '{{{{.DockerRootDir}}}}')" = "{DOCKER_ROOT}"
"""


def render(setup: HostSetup) -> str:
    """The `#cloud-config` document for the EC2 host."""
    # The GPU AMI comes with Docker's and NVIDIA's repositories set up; a second entry for either
    # with another key would make apt refuse both.
    apt_sources = {} if setup.gpu else {
        "docker.list": {
            "source": f"deb [arch={setup.arch} signed-by=$KEY_FILE] https://download.docker.com/linux/ubuntu $RELEASE stable",
            "keyid": DOCKER_GPG_FINGERPRINT,
        }
    }
    # The host pulls from ECR with its instance role through the credential helper: no password on disk.
    docker_config = {"credHelpers": {setup.ecr_registry: "ecr-login"}} if setup.ecr_registry else {}
    home = f"/home/{setup.ssh_user}"
    doc = {
        **({"bootcmd": [hold_kernel_command()]} if setup.gpu else {}),
        "package_update": True,
        "package_upgrade": True,
        "packages": ["ca-certificates", "curl", "unattended-upgrades"],
        **({"apt": {"sources": apt_sources}} if apt_sources else {}),
        "write_files": [
            {"path": SSHD_DROP_IN, "permissions": "0644", "content": SSHD_SETTINGS},
            {"path": "/etc/docker/daemon.json", "permissions": "0644", "content": json.dumps(daemon_json(), indent=2) + "\n"},
            {
                "path": "/etc/systemd/system/docker.service.d/berth-data.conf",
                "permissions": "0644",
                "content": f"[Unit]\nRequiresMountsFor={EC2_DATA_ROOT}\n",
            },
            {
                "path": f"{home}/.docker/config.json",
                "permissions": "0600",
                "owner": f"{setup.ssh_user}:{setup.ssh_user}",
                "defer": True,
                "content": json.dumps(docker_config, indent=2) + "\n",
            },
            {"path": "/usr/local/sbin/berth-mount-data", "permissions": "0755", "content": mount_script(setup.data_volume_id)},
            {"path": "/usr/local/sbin/berth-install-docker", "permissions": "0755", "content": install_docker_script(setup.gpu)},
        ],
        "runcmd": [
            "set -e",
            ["/usr/local/sbin/berth-mount-data"],
            ["/usr/local/sbin/berth-install-docker"],
            ["usermod", "-aG", "docker", setup.ssh_user],
            ["chown", "-R", f"{setup.ssh_user}:{setup.ssh_user}", f"{home}/.docker"],
        ],
    }
    if setup.stack:
        with_reporter(doc, report_host.cloud_config(setup.stack, setup.region, EC2_DATA_ROOT))
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=1000)


def with_reporter(doc: dict, part: dict) -> None:
    """The reporter's packages, files and commands after the host's own (its timer starts once Docker runs)."""
    for key in ("packages", "write_files", "runcmd"):
        doc[key] = doc[key] + part[key]


def shell_scripts(setup: HostSetup) -> dict[str, str]:
    """Every shell script the user data carries, by path: each is checked by shellcheck in the tests."""
    scripts = {
        "/usr/local/sbin/berth-mount-data": mount_script(setup.data_volume_id),
        "/usr/local/sbin/berth-install-docker": install_docker_script(setup.gpu),
    }
    if setup.gpu:
        scripts["bootcmd"] = "#!/bin/sh\n" + hold_kernel_command() + "\n"  # cloud-init runs it with sh
    return scripts
