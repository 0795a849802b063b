"""A real machine for the host tier: QEMU booting the cached Debian image (tests/support/host_image.py)
with cloud-init's NoCloud datasource, an NVMe disk standing in for the EBS data volume, and its SSH,
HTTP and HTTPS ports forwarded to loopback only. Stopped by its PID, whatever happens.

Why a VM and not a systemd container: what the user data must get right is the machine's own: a
block device appearing under udev's name for it, a file system made on it, an fstab mount that a
later boot brings up before Docker, a kernel whose cgroups, overlayfs and iptables Docker uses, and a
reboot. A container shares this machine's kernel and has no udev, block devices or boot of its own.

KVM is used when it works here (`accelerator()` boots the kernel once to find out: under nested
virtualisation KVM may fail with an emulation error); otherwise QEMU emulates the CPU (TCG).
`BERTH_HOST_ACCEL=tcg|kvm` forces one.
"""

from __future__ import annotations

import atexit
import functools
import http.server
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.host_image import USER, Image
from tests.support.local_data import free_port

GATEWAY = "10.0.2.2"  # QEMU's user network: the host's loopback as the VM sees it
EBS_SERIAL_LENGTH = 20  # an NVMe serial number: EBS puts the volume id there, without its dash
MEMORY_MIB = 3072
CPUS = 2
BOOT_TIMEOUT_S = 900


@functools.cache
def accelerator(kernel: Path) -> str:
    """`kvm` if a KVM guest boots this kernel here (to its panic for want of a root disk), else `tcg`."""
    forced = os.environ.get("BERTH_HOST_ACCEL")
    if forced:
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    with tempfile.TemporaryFile("w+") as output:
        probe = subprocess.Popen(
            ["qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256", "-display", "none", "-no-reboot",
             "-monitor", "none", "-serial", "stdio", "-kernel", str(kernel), "-append", "console=ttyS0 panic=-1"],
            stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline, seen = time.monotonic() + 60, ""
        while probe.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            output.seek(0)
            seen = output.read()
            if "KVM internal error" in seen or "Kernel panic" in seen:
                break  # a failed KVM guest stops and waits for ever; a working one has panicked
        stop_process(probe)
        output.seek(0)
        seen = output.read()
    return "kvm" if "Kernel panic" in seen and "KVM internal error" not in seen else "tcg"


class SeedServer:
    """NoCloud's seed over HTTP on loopback (the VM reaches it at the gateway): `meta-data`,
    `user-data` and an empty `vendor-data`, served for every boot and recorded as fetched."""

    def __init__(self, files: dict[str, str]):
        self.files = {name: text.encode() for name, text in files.items()}
        self.fetched: list[str] = []
        seed = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                name = self.path.strip("/")
                body = seed.files.get(name)
                seed.fetched.append(name)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self) -> str:
        return f"http://{GATEWAY}:{self.port}/"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Ssh:
    """SSH to the VM's forwarded port with a key of our own and a known-hosts file of our own."""

    workdir: Path
    port: int
    key: Path
    user: str = USER

    def options(self, shared: bool = True) -> list[str]:
        """Our own key and known-hosts file. `shared`: one connection carries every session (OpenSSH's
        ControlMaster): a login under TCG costs seconds; the master ends 30 s after its last session."""
        mux = ["-o", "ControlMaster=auto", "-o", f"ControlPath={self.workdir / 'ssh-%C'}", "-o", "ControlPersist=30"]
        return ["-o", "StrictHostKeyChecking=accept-new", "-o", f"UserKnownHostsFile={self.workdir / 'known_hosts'}",
                "-o", f"IdentityFile={self.key}", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4",
                "-o", "LogLevel=ERROR", *(mux if shared else ["-o", "ControlPath=none"])]

    def argv(self, command: str, user: str | None = None, extra: tuple[str, ...] = (), fresh: bool = False) -> list[str]:
        return ["ssh", *self.options(shared=not fresh and user is None and not extra), *extra, "-p", str(self.port),
                f"{user or self.user}@127.0.0.1", command]

    def run(self, command: str, *, user: str | None = None, input: str | bytes | None = None, check: bool = True,
            timeout: float = 300, extra: tuple[str, ...] = (), fresh: bool = False) -> subprocess.CompletedProcess:
        """`command` on the VM as `user` (the deploy user); `fresh`: in a login of its own."""
        text = not isinstance(input, bytes)
        done = subprocess.run(self.argv(command, user, extra, fresh), input=input, capture_output=True, text=text,
                              timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"on the VM: {command!r} exited {done.returncode}\n--- stdout\n{done.stdout}\n"
                                 f"--- stderr\n{done.stderr}")
        return done

    def root(self, command: str, **kwargs) -> str:
        """`command` as root (sudo, as the deploy user may); its stdout."""
        return self.run(f"sudo -n sh -c {shlex.quote(command)}", **kwargs).stdout

    def disconnect(self) -> None:
        """End the shared connection (before a reboot, and at the end)."""
        subprocess.run(["ssh", *self.options(), "-O", "exit", "-p", str(self.port), f"{self.user}@127.0.0.1"],
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL, check=False)


@dataclass
class Vm:
    """One QEMU machine. `start()` boots it; `stop()` ends the QEMU process by its PID."""

    image: Image
    workdir: Path
    seed: SeedServer
    data_disk: Path
    volume_serial: str
    key: Path
    ports: dict[int, int] = field(default_factory=dict)  # guest port -> loopback port
    process: subprocess.Popen | None = None

    def __post_init__(self):
        if len(self.volume_serial) > EBS_SERIAL_LENGTH:
            raise ValueError(f"an NVMe serial holds {EBS_SERIAL_LENGTH} characters: {self.volume_serial!r}")
        self.ports = self.ports or {22: free_port(), 80: free_port(), 443: free_port()}
        self.root_disk = self.workdir / "root.qcow2"
        self.serial_log = self.workdir / "serial.log"
        self.ssh = Ssh(self.workdir, self.ports[22], self.key)

    def command(self) -> list[str]:
        forwards = ",".join(f"hostfwd=tcp:127.0.0.1:{host}-:{guest}" for guest, host in self.ports.items())
        accel = accelerator(self.image.kernel)
        return [
            "qemu-system-x86_64", "-machine", "q35", "-accel", "kvm" if accel == "kvm" else "tcg,thread=multi",
            "-cpu", "host" if accel == "kvm" else "max", "-smp", str(CPUS), "-m", str(MEMORY_MIB),
            "-display", "none", "-monitor", "none", "-serial", f"file:{self.serial_log}",
            "-kernel", str(self.image.kernel), "-initrd", str(self.image.initrd),
            "-append", f"root=/dev/vda rw console=ttyS0 ds=nocloud;s={self.seed.url()}",
            "-drive", f"if=virtio,file={self.root_disk},format=qcow2",
            "-drive", f"if=none,id=ebs,file={self.data_disk},format=qcow2",
            "-device", f"nvme,drive=ebs,serial={self.volume_serial}",
            "-netdev", f"user,id=net0,{forwards}", "-device", "virtio-net-pci,netdev=net0",
        ]

    def start(self) -> None:
        """A fresh root disk over the image (the instance), then boot; returns once SSH answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.root_disk.exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(self.image.disk),
                            str(self.root_disk)], check=True, capture_output=True)
        with (self.workdir / "qemu.log").open("ab") as log:
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        atexit.register(self.stop)
        self.wait_for_ssh()

    def wait_for_ssh(self, timeout: float = BOOT_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is None or self.process.poll() is not None:
                raise AssertionError(f"QEMU exited ({self.process and self.process.returncode}):\n{self.log_tail()}")
            done = subprocess.run(self.ssh.argv("true", fresh=True), capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL, check=False)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"no SSH within {timeout}s ({done.stderr.strip()}):\n{self.log_tail()}")
            time.sleep(3)

    def boot_id(self) -> str:
        return self.ssh.run("cat /proc/sys/kernel/random/boot_id").stdout.strip()

    def reboot(self) -> None:
        """`systemctl reboot` in the guest (QEMU resets and boots the same kernel), until SSH answers again."""
        before = self.boot_id()
        self.ssh.run("sudo -n systemctl reboot", check=False, timeout=60)
        self.ssh.disconnect()
        deadline = time.monotonic() + BOOT_TIMEOUT_S
        while True:
            time.sleep(5)
            self.wait_for_ssh(max(1.0, deadline - time.monotonic()))
            if self.boot_id() != before:
                return

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.serial_log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no serial log)"

    def stop(self) -> None:
        """End QEMU by its PID (SIGTERM: QEMU quits; SIGKILL if it hangs)."""
        process, self.process = self.process, None
        atexit.unregister(self.stop)
        self.ssh.disconnect()
        if process is not None:
            stop_process(process)


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM by PID (QEMU quits at once), SIGKILL if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def deploy_key(workdir: Path) -> tuple[Path, str]:
    """A fresh ed25519 key pair: (private key path, public key line)."""
    key = workdir / "deploy_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-deploy", "-f", str(key)], check=True)
    return key, key.with_suffix(".pub").read_text().strip()


def data_disk(path: Path, gib: int) -> Path:
    """A blank disk (what a new EBS volume is: no partition table, no file system)."""
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), f"{gib}G"], check=True, capture_output=True)
    return path
