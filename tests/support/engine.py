"""A real Docker engine for the engine tier: our own `dockerd`, started for the session, stopped by its PID.

Why our own daemon: the tier must behave as a server's engine does (internal networks, aliases,
read-only roots, capabilities) without touching whatever engine the machine may run, and leave
nothing behind. It runs with the `overlay2` storage driver where the kernel mounts overlayfs on the
cache's file system (as a server's engine does), else `vfs` (works on any file system, but copies
the whole image for every container and layer: several times slower); `BERTH_ENGINE_STORAGE_DRIVER`
forces one. Its own socket, exec root and address pools. The data root lives in a cache directory
(`$BERTH_ENGINE_CACHE`, default `~/.cache/berth/engine`, one per driver) so the stand-in images built
into it survive between runs; containers, networks and volumes are removed at start and at stop.

One engine at a time per machine: an exclusive `flock` on /tmp/berth-engine.lock makes a second
session wait (two daemons would fight over iptables chains and the bridge).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from collections.abc import Iterator

LOCK = Path("/tmp/berth-engine.lock")
BRIDGE_ADDRESS = "10.209.0.1/24"  # the default bridge (containers never stay on it; see tests/support/apply.py)
ADDRESS_POOL = "base=10.210.0.0/16,size=24"  # every network berth creates gets a /24 from here
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 180  # a container may take its own stop timeout (Postgres: 120 s) to shut down cleanly


def cache_dir() -> Path:
    configured = os.environ.get("BERTH_ENGINE_CACHE")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "berth" / "engine"


def storage_driver(cache: Path) -> str:
    """`overlay2` if an overlay mount works on the cache's file system here, else `vfs`."""
    forced = os.environ.get("BERTH_ENGINE_STORAGE_DRIVER")
    if forced:
        return forced
    cache.mkdir(parents=True, exist_ok=True)
    probe = Path(tempfile.mkdtemp(dir=cache, prefix=".overlay-probe-"))
    try:
        for name in ("lower", "upper", "work", "merged"):
            (probe / name).mkdir()
        options = f"lowerdir={probe / 'lower'},upperdir={probe / 'upper'},workdir={probe / 'work'}"
        mounted = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(probe / "merged")],
                                 capture_output=True, timeout=30).returncode == 0
        if mounted:
            subprocess.run(["umount", str(probe / "merged")], capture_output=True, timeout=30, check=True)
        return "overlay2" if mounted else "vfs"
    except (OSError, subprocess.SubprocessError):
        return "vfs"
    finally:
        shutil.rmtree(probe, ignore_errors=True)


class EngineUnavailable(RuntimeError):
    """The daemon could not be started here; the message says why and what it logged."""


class Engine:
    """One running dockerd: `.client` (Docker SDK), `.url` (for the provider's `host`), `.env` (for the CLI)."""

    def __init__(self, dockerd: str, data_root: Path, run_dir: Path, driver: str = "vfs"):
        self.dockerd, self.data_root, self.run_dir, self.driver = dockerd, data_root, run_dir, driver
        self.url = f"unix://{run_dir / 'docker.sock'}"
        self.env = {**os.environ, "DOCKER_HOST": self.url}
        self.log = run_dir / "dockerd.log"
        self._process: subprocess.Popen | None = None
        self._client = None

    # --- the daemon ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.data_root.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [self.dockerd, "--data-root", str(self.data_root), "--exec-root", str(self.run_dir / "exec"),
                 "--pidfile", str(self.run_dir / "docker.pid"), "-H", self.url, "--storage-driver", self.driver,
                 "--bip", BRIDGE_ADDRESS, "--default-address-pool", ADDRESS_POOL, "--log-level", "warn"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise EngineUnavailable(f"dockerd exited with {self._process.returncode}:\n{self._log_tail()}")
            with contextlib.suppress(Exception):
                if self.client.ping():
                    return
            time.sleep(0.3)
        self.stop_daemon()
        raise EngineUnavailable(f"dockerd did not answer within {START_TIMEOUT_S}s:\n{self._log_tail()}")

    def stop_daemon(self) -> None:
        """SIGTERM by PID (dockerd stops its containers and containerd), SIGKILL if it hangs."""
        process, self._process = self._process, None
        if self._client is not None:
            self._client.close()
            self._client = None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop the daemon and start it again on the same data root and socket (what a host reboot does)."""
        self.stop_daemon()
        self.start()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    @property
    def client(self):
        if self._client is None:
            import docker

            self._client = docker.DockerClient(base_url=self.url, timeout=120)
        return self._client

    # --- what the daemon holds ----------------------------------------------------------------------

    def clean(self) -> None:
        """Remove every container, network and volume (a previous run's leftovers); keep images (the cache)."""
        client = self.client
        for container in client.containers.list(all=True):
            container.remove(force=True, v=True)
        for network in client.networks.list():
            if network.name not in ("bridge", "host", "none"):
                network.remove()
        for volume in client.volumes.list():
            volume.remove(force=True)

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@contextlib.contextmanager
def running_engine(dockerd: str) -> Iterator[Engine]:
    """An engine for the duration of the block, under the machine-wide lock; always stopped and cleaned."""
    if os.geteuid() != 0:
        raise EngineUnavailable("the engine tier starts its own dockerd, which needs root (CI runs as root)")
    LOCK.touch(exist_ok=True)
    with LOCK.open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session's engine run finishes first
        run_dir = Path(tempfile.mkdtemp(prefix="berth-engine-", dir="/tmp"))  # short: socket paths are limited
        driver = storage_driver(cache_dir())
        engine = Engine(dockerd, cache_dir() / f"data-{driver}", run_dir, driver)
        atexit.register(engine.stop_daemon)  # an interrupted session never leaves a daemon behind
        try:
            engine.start()
            engine.clean()
            yield engine
        finally:
            try:
                if engine.pid:
                    engine.clean()
            finally:
                engine.stop_daemon()
                atexit.unregister(engine.stop_daemon)
                shutil.rmtree(run_dir, ignore_errors=True)
