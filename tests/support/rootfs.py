"""The Debian root file system every stand-in image is cut from (tests/support/standins.py).

Built once per package list with `mmdebstrap` from this machine's own apt sources and cached as a tar
by the hash of what went into it. Standard library only, so `scripts/test` can start building it
(`python3 -m tests.support.rootfs`) while it installs the Python requirements; a build in progress
holds a lock that any other builder waits on, then finds the tar.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.support.engine import cache_dir

SUITE = "bookworm"
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
BASE_PACKAGES = ("bash", "busybox", "curl", "python3", "nodejs", "postgresql-15", "redis-server", "redis-tools",
                 "caddy")


def rootfs_path() -> Path:
    key = hashlib.sha256(json.dumps([SUITE, BASE_PACKAGES, APT_SOURCES.read_text()]).encode()).hexdigest()[:16]
    return cache_dir() / f"rootfs-{key}.tar"


def build(mmdebstrap: str) -> tuple[Path, float | None]:
    """The cached tar, built first if missing: (path, seconds the build took, or None if it was there)."""
    path = rootfs_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another builder's tar is this one's too
        if path.is_file():
            return path, None
        started = time.monotonic()
        # mmdebstrap picks its output format from the name: the partial file must end in .tar too
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.tar")
        done = subprocess.run([mmdebstrap, "--variant=minbase", "--format=tar", "--quiet",
                               f"--include={','.join(BASE_PACKAGES)}", SUITE, str(partial), str(APT_SOURCES)],
                              capture_output=True, text=True, timeout=1200)
        if done.returncode != 0 or not partial.is_file():
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"mmdebstrap failed:\n{done.stderr[-3000:]}")
        partial.rename(path)  # whole or not at all: a cut-short build never looks like the cache
        return path, time.monotonic() - started


if __name__ == "__main__":
    tool = shutil.which("mmdebstrap")
    if tool is None:
        sys.exit("mmdebstrap is not installed; the engine tier reports it")
    built, seconds = build(tool)
    print(f"{built}: " + (f"built in {seconds:.0f} s" if seconds is not None else "already built"))
