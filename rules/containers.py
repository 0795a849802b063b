"""What a container may hold on the host: the capabilities berth grants, the host paths it never mounts.

The policy pack judges every registered container by these lists and config refuses app files that
ask for more, so the two can never disagree.
"""

from __future__ import annotations

# Capabilities a container may add back after dropping ALL, each reviewed for what it lets a process in
# the container do to the host (CIS Docker Benchmark v1.2.0, 5.3).
REVIEWED_CAPABILITIES = frozenset({"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
                                   "NET_BIND_SERVICE", "SETFCAP"})
# Capabilities that let a container reach past its own walls (as good as privileged): named so a
# refusal can say why.
ESCAPE_CAPABILITIES = frozenset({"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "SYS_BOOT", "SYS_TIME",
                                 "DAC_READ_SEARCH", "BPF", "PERFMON", "NET_ADMIN", "NET_RAW", "MAC_ADMIN",
                                 "MAC_OVERRIDE", "SYSLOG", "LINUX_IMMUTABLE", "SYS_RESOURCE", "MKNOD",
                                 "AUDIT_CONTROL", "CHECKPOINT_RESTORE", "SETPCAP", "IPC_OWNER", "LEASE",
                                 "WAKE_ALARM", "BLOCK_SUSPEND", "SYS_CHROOT", "SYS_PACCT", "SYS_TTY_CONFIG"})

# Host directories no container mounts, nor anything under them (CIS Docker 5.5, 5.31): the host's
# system, Docker's and containerd's state, and the EC2 host's Docker data root.
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/var/run", "/var/lib/docker", "/var/lib/containerd",
                "/root", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/srv/berth/docker")


def capability_name(value: str) -> str:
    """`cap_net_bind_service` and `CAP_NET_BIND_SERVICE` mean NET_BIND_SERVICE, as Docker reads them."""
    return value.strip().upper().removeprefix("CAP_")


def is_system_path(path: str) -> bool:
    """The root, a Docker socket, or a system tree or anything under it (`path` already normalised)."""
    return path == "/" or path.endswith(".sock") or any(path == tree or path.startswith(tree + "/")
                                                        for tree in SYSTEM_TREES)
