"""What a container may hold on the host: the capabilities berth grants, the host paths it never mounts.

The policy pack judges every registered container by these lists and config refuses app files that
ask for more, so the two can never disagree.
"""

from __future__ import annotations

import posixpath
import re

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

# A berth server's data volume (config/conventions.py): Docker's data root, the backup tool's work, and
# each app's host directories, one directory of its own per app (`app_host_dirs`).
DATA_ROOT = "/srv/berth"
# Host directories no container mounts, nor anything under them (CIS Docker 5.5, 5.31): the host's
# system, Docker's and containerd's state, and the EC2 host's Docker data root.
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/etc", "/boot", "/run", "/var/run", "/var/lib/docker", "/var/lib/containerd",
                "/root", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", f"{DATA_ROOT}/docker")


def capability_name(value: str) -> str:
    """`cap_net_bind_service` and `CAP_NET_BIND_SERVICE` mean NET_BIND_SERVICE, as Docker reads them."""
    return value.strip().upper().removeprefix("CAP_")


def is_system_path(path: str) -> bool:
    """The root, a Docker socket, or a system tree or anything under it (`path` already normalised)."""
    return path == "/" or path.endswith(".sock") or any(path == tree or path.startswith(tree + "/")
                                                        for tree in SYSTEM_TREES)


def app_host_dirs(data_root: str, app: str) -> str:
    """The directory an app's host dirs live in, each one level below it (`own_directory_problem`)."""
    return f"{data_root}/host-dirs/{app}"


def read_only_root_problem(read_only: object) -> str | None:
    """Every container's root file system is read-only (CIS Docker 5.12), in config and policy alike."""
    if read_only is True:
        return None
    return ("a writable root file system is refused: berth runs every container on a read-only root (CIS Docker "
            "5.12); write to volumes and `tmpfs` paths instead, and leave readOnly out")


def own_directory_problem(path: str, own: str) -> str | None:
    """Why `path` is not one of an app's own host directories on a server (`own/<name>`), or None.

    Judged normalised (`..` climbs resolved), and one level deep only: no container of the app then
    mounts the directory its other host directories live in, where it could plant a link to another
    app's data (Docker follows links in a bind mount's source).
    """
    normal = posixpath.normpath(path)
    parent, name = posixpath.split(normal)
    if parent == own and name not in ("", ".", ".."):
        return None
    shown = path if normal == path else f"{path} is {normal}, which"
    return (f"{shown} is not a directory of the app's own: on this host an app mounts only {own}/<name> (on the "
            f"data volume, which outlives the instance); leave source unset for {own}/<this host dir's key>")


# The least memory, in MiB, berth gives a container of each kind. Docker refuses a limit under 6 MiB
# (moby v20.10.24 and v28.5.2, daemon/daemon_unix.go: linuxMinMemory = 6291456 bytes); above that a
# container still has to hold what it runs: Caddy 2.10.2 serving one site is about 50 MiB resident and
# redis-server about 12 MiB (measured on this machine), and Postgres maps 128 MiB of shared buffers by
# default, which count against the limit as they fill.
MIN_MEMORY_MB = {"service": 16, "redis": 32, "proxy": 128, "postgres": 256}


def memory_problem(memory_mb: int, kind: str) -> str | None:
    """Why `memory_mb` is too little for a container of `kind`, or None."""
    floor = MIN_MEMORY_MB[kind]
    if memory_mb >= floor:
        return None
    return (f"{memory_mb} MiB is too little for {'a ' + kind if kind != 'service' else 'any container'} (Docker refuses "
            f"less than 6 MiB; berth gives a {kind} at least {floor} MiB); raise it")


# A uid or gid: an unsigned 32-bit number, less the one Linux reserves as "no id" (2^32 - 1, chown's -1).
MAX_ID = 2 ** 32 - 2
ID_NAME = r"[A-Za-z_][A-Za-z0-9_.-]{0,31}"  # a user or group name (shadow-utils' NAME_REGEX, relaxed)


def owner_problem(value: str, names: bool = True) -> str | None:
    """Why `value` is not a user[:group] a container can run as (`names`: or a volume owned by: numbers
    only), or None. Numbers must be real ids; names are looked up in the image, where berth cannot look."""
    part = rf"(?:\d+|{ID_NAME})" if names else r"\d+"
    if not re.fullmatch(rf"{part}(?::{part})?", value):
        what = "a user or uid, optionally :group or :gid (e.g. node or 1000:1000)" if names else "uid or uid:gid"
        return f"{value!r} is not {what}"
    too_big = [i for i in value.split(":") if i.isdigit() and int(i) > MAX_ID]
    if too_big:
        return f"{too_big[0]} is not a uid or gid Linux has (at most {MAX_ID}); use the id the image's user has"
    return None
