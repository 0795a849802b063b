"""Python packages a stand-in runs (the Chroma server), installed from PyPI into a cached tar.

The packages are pinned, every one (a lock file under standin_servers/), and installed for the stand-in's
interpreter, Debian 12's CPython 3.11 on x86_64 (pip's `--python-version`/`--platform`: wheels only,
whatever Python runs pip), as `/usr/local/lib/python3.11/dist-packages` (on Debian's Python's path) and
their commands in `/usr/local/bin`. The tar is cached under `$BERTH_ENGINE_CACHE` by the lock's hash and
built once, under a lock, like the root file systems (tests/support/rootfs.py). Bytecode is compiled
only when pip runs on CPython 3.11 (its `.pyc` are the stand-in's); else the server compiles on import.

`python -m tests.support.pip_layer` builds every layer (scripts/test starts it beside the tiers).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from tests.support.engine import cache_dir

SERVERS = Path(__file__).parent / "standin_servers"
LAYERS = {"chroma": SERVERS / "chroma-requirements.txt"}
PYTHON_VERSION, GLIBC_MINOR = "3.11", 36  # Debian 12: python3.11, glibc 2.36
SITE = "usr/local/lib/python3.11/dist-packages"
SHEBANG = b"#!/usr/bin/python3.11"
# pip does not widen a `--platform manylinux_2_36` to the older manylinux tags a wheel may carry
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(5, GLIBC_MINOR + 1)] + [
    "manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "linux_x86_64"]
SDIST_ONLY = ("PyPika",)  # pure Python, published as a source archive only: built into a wheel first


def compiles() -> bool:
    return sys.version_info[:2] == tuple(int(n) for n in PYTHON_VERSION.split("."))


def layer_path(name: str) -> Path:
    key = hashlib.sha256(LAYERS[name].read_bytes() + repr((PYTHON_VERSION, PLATFORMS, compiles())).encode())
    return cache_dir() / f"pip-{name}-{key.hexdigest()[:16]}.tar"


def _pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"pip {args[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")


def _install(lock: Path, work: Path) -> Path:
    """`pip install --target` of the lock, for the stand-in's Python: the installed tree."""
    wanted = [line.strip() for line in lock.read_text().splitlines() if line.strip() and not line.startswith("#")]
    sdists = [r for r in wanted if r.split("==")[0] in SDIST_ONLY]
    if sdists:
        _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(work / "wheels"), *sdists, cwd=work)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    _pip("install", "--quiet", "--no-deps", "--only-binary=:all:", "--target", str(work / "target"),
         "--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", "cp311", "--abi", "abi3",
         "--abi", "none", *platforms, "--find-links", str(work / "wheels"),
         *([] if compiles() else ["--no-compile"]), "-r", str(lock), cwd=work)
    return work / "target"


def _tar(target: Path, out: Path) -> None:
    """The tree as image paths: modules under SITE, commands in /usr/local/bin with Debian's python."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("usr/local/lib/python3.11", SITE, "usr/local/bin"):
            info = tarfile.TarInfo("./" + directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for path in sorted(target.rglob("*")):
            relative = path.relative_to(target).as_posix()
            name = f"usr/local/{relative}" if relative.startswith("bin/") or relative == "bin" else f"{SITE}/{relative}"
            info = tar.gettarinfo(str(path), "./" + name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if path.is_file() and relative.startswith("bin/"):
                data = path.read_bytes()
                if data.startswith(b"#!"):
                    data = SHEBANG + data[data.index(b"\n"):]
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif path.is_file() and not path.is_symlink():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)


def build(name: str) -> tuple[Path, float | None]:
    """The layer's cached tar, built first if missing: (path, seconds the build took, or None)."""
    path = layer_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return path, None
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"berth-pip-{name}-") as tmp:
            partial = path.with_name(f"{path.stem}.{os.getpid()}.partial.tar")
            try:
                _tar(_install(LAYERS[name], Path(tmp)), partial)
                partial.rename(path)
            finally:
                partial.unlink(missing_ok=True)
        return path, time.monotonic() - started


if __name__ == "__main__":
    for layer in LAYERS:
        built, seconds = build(layer)
        print(f"{built.name}: " + (f"built in {seconds:.0f} s" if seconds is not None else "already built"))
