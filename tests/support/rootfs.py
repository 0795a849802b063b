"""The Debian root file systems the stand-in images are cut from (tests/support/standins.py).

Two roots, each for the Debian release that packages the server versions berth pins: Debian 12
(bookworm: Postgres 15, Python 3.11 as in `python:3.11-slim-bookworm`, Node) and Debian 13 (trixie:
Postgres 17, Redis 8.0). Each is built once per package list with `mmdebstrap` from this machine's own
apt mirrors (its `debian.sources`, with the suite names changed to the root's release) and cached as a
tar by the hash of what went into it. Standard library only, so `scripts/test` can start building them
(`python3 -m tests.support.rootfs`, both at once) while it installs the Python requirements; a build
in progress holds a lock that any other builder of the same root waits on, then finds the tar.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.support.engine import cache_dir

APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
HOST_SUITE = "bookworm"  # the release APT_SOURCES names (this machine's and CI's)


@dataclass(frozen=True)
class Root:
    suite: str
    packages: tuple[str, ...]

    def sources(self) -> str:
        """This machine's apt sources, for this root's release (`bookworm-security` -> `trixie-security`)."""
        return re.sub(rf"\b{HOST_SUITE}\b", self.suite, APT_SOURCES.read_text())

    def path(self) -> Path:
        key = hashlib.sha256(json.dumps([self.suite, self.packages, self.sources()]).encode()).hexdigest()[:16]
        return cache_dir() / f"rootfs-{self.suite}-{key}.tar"


ROOTS = {
    "bookworm": Root("bookworm", ("bash", "busybox", "curl", "python3", "nodejs", "postgresql-15")),
    "trixie": Root("trixie", ("bash", "busybox", "postgresql-17", "redis-server", "redis-tools")),
}


def build(mmdebstrap: str, root: Root) -> tuple[Path, float | None]:
    """The root's cached tar, built first if missing: (path, seconds the build took, or None if it was there)."""
    path = root.path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another builder's tar is this one's too
        if path.is_file():
            return path, None
        started = time.monotonic()
        # mmdebstrap picks its output format from the name: the partial file must end in .tar too
        partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.tar")
        with tempfile.NamedTemporaryFile("w", suffix=".sources") as sources:
            sources.write(root.sources())
            sources.flush()
            done = subprocess.run([mmdebstrap, "--variant=minbase", "--format=tar", "--quiet",
                                   f"--include={','.join(root.packages)}", root.suite, str(partial), sources.name],
                                  capture_output=True, text=True, timeout=1200)
        if done.returncode != 0 or not partial.is_file():
            partial.unlink(missing_ok=True)
            raise RuntimeError(f"mmdebstrap ({root.suite}) failed:\n{done.stderr[-3000:]}")
        partial.rename(path)  # whole or not at all: a cut-short build never looks like the cache
        return path, time.monotonic() - started


def build_all(mmdebstrap: str) -> dict[str, tuple[Path, float | None]]:
    """Every root, built at once (mostly waiting on the mirror and on dpkg's fsyncs)."""
    with ThreadPoolExecutor(len(ROOTS)) as pool:
        futures = {name: pool.submit(build, mmdebstrap, root) for name, root in ROOTS.items()}
        return {name: future.result() for name, future in futures.items()}


if __name__ == "__main__":
    tool = shutil.which("mmdebstrap")
    if tool is None:
        sys.exit("mmdebstrap is not installed; the engine tier reports it")
    for built, seconds in build_all(tool).values():
        print(f"{built.name}: " + (f"built in {seconds:.0f} s" if seconds is not None else "already built"))
