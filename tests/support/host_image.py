"""The host tier's machine image: Debian 13 with its cloud kernel, systemd, cloud-init and sshd,
what an EC2 AMI is before berth's user data runs on it.

Built once per recipe with `mmdebstrap` from this machine's own apt mirrors (its `debian.sources`
with the suite changed to trixie) into a raw ext4 disk image plus the kernel and initrd to boot it,
cached under `~/.cache/berth` by the hash of everything that went into it. Every VM boots a
copy-on-write overlay of it, so the image itself never changes. A build holds a lock that any other
builder waits on, then finds the image. Standard library only, so `scripts/test` can start building
it (`python3 -m tests.support.host_image`) while it installs the Python requirements.

What stands in for EC2 here, and nothing more (the user data itself is berth's, docs/testing.md):
- cloud-init reads only the NoCloud datasource (no probing of EC2's metadata address);
- the default user is `ubuntu` with passwordless sudo, as on Ubuntu's and AWS's images;
- a udev rule names an NVMe disk whose serial is an EBS volume id as EC2's Nitro disks are named
  (`/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol…`): QEMU's NVMe controller reports its own
  model, "QEMU NVMe Ctrl", where EBS reports "Amazon Elastic Block Store".
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.engine import cache_dir
from tests.support.rootfs import Root

SUITE = "trixie"
RECIPE_VERSION = 1  # bump when the build steps below change in a way the inputs do not show
DISK_GIB = 6
# What an Ubuntu server cloud image (berth's AMI) has installed before any user data runs.
PACKAGES = (
    "systemd", "systemd-sysv", "systemd-resolved", "udev", "dbus", "linux-image-cloud-amd64", "initramfs-tools",
    "cloud-init", "openssh-server", "sudo", "e2fsprogs", "iproute2", "netbase", "procps", "kmod", "gpg",
    "less", "python3", "ca-certificates", "curl", "unattended-upgrades",
)
# Downloaded into the image's apt cache, not installed: what the user data and the deploy install
# (Debian's Docker packages, the ECR credential helper, the backup tool's boto3). apt still installs
# them for real at boot; it only finds them already fetched (the mirror is slow from inside the VM).
PREFETCHED = ("docker.io", "docker-cli", "containerd", "docker-buildx", "amazon-ecr-credential-helper",
              "python3-boto3")
USER = "ubuntu"
EBS_UDEV_RULE = (
    '# EC2 (Nitro) names an EBS volume by its NVMe model and serial; QEMU\'s NVMe has its own model.\n'
    'KERNEL=="nvme*[0-9]n*[0-9]", ENV{DEVTYPE}=="disk", ATTRS{model}=="QEMU NVMe Ctrl*", ATTRS{serial}=="vol*", '
    'SYMLINK+="disk/by-id/nvme-Amazon_Elastic_Block_Store_$attr{serial}"\n'
)
CLOUD_CFG = f"""# What an EC2 image brings: its datasource (here NoCloud, never a probe of 169.254.169.254)
# and its default user, as on Ubuntu's and AWS's images.
datasource_list: [NoCloud, None]
system_info:
  default_user:
    name: {USER}
    lock_passwd: true
    gecos: Default user
    groups: [adm, sudo]
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
"""
# Debian's cloud images bring the network up with systemd-networkd (cloud-init writes its config);
# Debian leaves it disabled otherwise, and cloud-init's network stage would find no network.
HOOKS = ('chroot "$1" systemctl enable systemd-networkd.service',
         f'chroot "$1" apt-get install --download-only --no-install-recommends -y -qq {" ".join(PREFETCHED)}')
FILES = {
    "etc/udev/rules.d/60-ebs-volume-names.rules": EBS_UDEV_RULE,
    "etc/cloud/cloud.cfg.d/05-berth-test-host.cfg": CLOUD_CFG,
    "etc/fstab": "LABEL=berth-root / ext4 defaults,discard 0 1\n",
    "etc/hostname": "localhost\n",
    "etc/hosts": "127.0.0.1 localhost\n",
}


@dataclass(frozen=True)
class Image:
    """A built image: the root disk (raw ext4, label `berth-root`) and the kernel and initrd that boot it."""

    directory: Path

    @property
    def disk(self) -> Path:
        return self.directory / "root.img"

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"


def sources() -> str:
    """This machine's apt sources for trixie (as the stand-ins' roots take them)."""
    return Root(SUITE, PACKAGES).sources()


def image_path() -> Path:
    key = hashlib.sha256(json.dumps([RECIPE_VERSION, SUITE, PACKAGES, PREFETCHED, HOOKS, FILES, DISK_GIB, sources()]).encode())
    return cache_dir() / f"host-image-{SUITE}-{key.hexdigest()[:16]}"


def _run(cmd: list[str], what: str, timeout: int) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def _root_tree(mmdebstrap: str, tree: Path) -> None:
    """The Debian system, with the files that stand in for EC2's image."""
    with tempfile.NamedTemporaryFile("w", suffix=".sources") as apt_sources:
        apt_sources.write(sources())
        apt_sources.flush()
        # the package lists stay, as the apt cache does: the first boot's `apt-get update` then fetches
        # only what changed since the image was built
        _run([mmdebstrap, "--variant=minbase", "--mode=root", "--format=directory", "--quiet", "--skip=cleanup/apt",
              f"--include={','.join(PACKAGES)}", *(f"--customize-hook={hook}" for hook in HOOKS),
              SUITE, str(tree), apt_sources.name], "mmdebstrap", 1800)
    for relative, text in FILES.items():
        path = tree / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for listed in (tree / "etc/apt/sources.list.d").glob("0000*.sources"):  # mmdebstrap's temporary name
        listed.unlink()
    (tree / "etc/apt/sources.list.d/debian.sources").write_text(sources(), encoding="utf-8")
    (tree / "etc/machine-id").write_text("")  # systemd makes one on first boot, as on an AMI


def _boot_files(tree: Path, out: Path) -> None:
    """The newest kernel and its initrd, copied out to boot the image directly."""
    kernels = sorted((tree / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise RuntimeError("the image has no kernel in /boot")
    version = kernels[-1].name.removeprefix("vmlinuz-")
    shutil.copyfile(kernels[-1], out / "vmlinuz")
    shutil.copyfile(tree / "boot" / f"initrd.img-{version}", out / "initrd.img")


def build(mmdebstrap: str) -> tuple[Image, float | None]:
    """The cached image, built first if missing: (image, seconds the build took, or None if it was there)."""
    final = image_path()
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.with_name(final.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another builder's image is this one's too
        if (final / "root.img").is_file():
            return Image(final), None
        started = time.monotonic()
        partial = final.with_name(f"{final.name}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        tree = Path(tempfile.mkdtemp(prefix="berth-host-image-", dir=final.parent))
        try:
            _root_tree(mmdebstrap, tree)
            _boot_files(tree, partial)
            _run(["mkfs.ext4", "-q", "-F", "-L", "berth-root", "-d", str(tree), str(partial / "root.img"),
                  f"{DISK_GIB}G"], "mkfs.ext4", 600)
            partial.rename(final)  # whole or not at all: a cut-short build never looks like the cache
        finally:
            shutil.rmtree(tree, ignore_errors=True)
            shutil.rmtree(partial, ignore_errors=True)
        return Image(final), time.monotonic() - started


if __name__ == "__main__":
    tool = shutil.which("mmdebstrap")
    if tool is None:
        sys.exit("mmdebstrap is not installed; the host tier reports it")
    built, seconds = build(tool)
    print(f"{built.directory.name}: " + (f"built in {seconds:.0f} s" if seconds is not None else "already built"))
