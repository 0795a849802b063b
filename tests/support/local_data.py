"""A real Postgres and Redis as local processes (Debian's binaries, unix sockets only), a real S3 API on
loopback (moto's server), and the backup tool's Runtime over them, for the backup round trip.

What the tool does in a container on the host (`docker exec shared-postgres pg_dump ...`, stop and
start a service, read a volume's directory) it does here to these processes and directories: the
same commands, the same files. Every process started here is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from backup.runtime import run
from tests.support import tiers
from tests.support.stacks import require_tool


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    if os.environ.get("CI"):
        pytest.fail("Postgres is not installed; .ci/run installs `postgresql`, so CI must have it")
    pytest.skip("Postgres is not installed here (CI installs it)")


def stop_pid(process: subprocess.Popen, timeout: float = 30, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class LocalPostgres:
    """A throwaway cluster: superuser `postgres`, trust over its unix socket, no TCP at all."""

    def __init__(self):
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="berth-pg-"))
        # Postgres refuses to run as root: as root, the server runs as the `postgres` user Debian's package
        # creates, started directly as that user so the PID we hold is the postmaster's own.
        self.as_postgres = {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.data, self.socket_dir, self.port = self.root / "data", str(self.root), free_port()
        self.env = {**os.environ, "PGHOST": self.socket_dir, "PGPORT": str(self.port),
                    "PATH": f"{self.bindir}:{os.environ['PATH']}"}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        tiers.starting("a Postgres cluster")
        # A throwaway cluster: neither initdb nor the server waits for the disk (`--no-sync`, fsync=off).
        subprocess.run([str(self.bindir / "initdb"), "--no-sync", "-U", "postgres", "--auth=trust", "-E", "UTF8", "-D", str(self.data)],
                       check=True, capture_output=True, cwd=self.root, **self.as_postgres)
        self.process = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(self.data), "-k", self.socket_dir, "-p", str(self.port),
             "-c", "listen_addresses=", "-c", "fsync=off"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root, **self.as_postgres)
        for _ in range(100):
            if subprocess.run([str(self.bindir / "pg_isready"), "-q"], env=self.env).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError("the local Postgres did not start")

    def psql(self, sql: str, user: str = "postgres", db: str = "postgres") -> str:
        return run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", user, "-d", db, "-c", sql],
                   env=self.env, what="psql").strip()

    def stop(self) -> None:
        if self.process:
            stop_pid(self.process, 60, signal.SIGINT)  # Postgres's fast shutdown, to the postmaster's PID
        shutil.rmtree(self.root, ignore_errors=True)


class LocalService:
    """A service of the app as a process that can be stopped and started again, like its container."""

    def __init__(self, argv_at_start, ready=lambda: True):
        self.argv_at_start, self.ready = argv_at_start, ready
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        tiers.starting(f"a local {self.argv_at_start()[0]}")
        self.process = subprocess.Popen(self.argv_at_start(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.starts += 1
        for _ in range(100):
            if self.ready():
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv_at_start()[0]} did not become ready")

    def stop(self) -> None:
        if self.process:
            stop_pid(self.process)


class LocalRedis(LocalService):
    """redis-server in berth's `store` mode (AOF on, nothing else saved) on a unix socket, data in a volume dir."""

    def __init__(self, volume_dir: Path, socket_path: Path):
        self.binary, self.cli_path = require_tool("redis-server"), require_tool("redis-cli")
        self.socket_path = socket_path
        super().__init__(lambda: [self.binary, "--port", "0", "--unixsocket", str(socket_path), "--dir", str(volume_dir),
                                  "--appendonly", "yes", "--save", "", "--daemonize", "no",
                                  "--enable-debug-command", "local"],  # DEBUG DIGEST: one checksum of every key
                         ready=lambda: self.cli_ok("PING") == "PONG")

    def cli_ok(self, *args: str) -> str:
        result = subprocess.run([self.cli_path, "-s", str(self.socket_path), *args], capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else ""

    def cli(self, *args: str) -> str:
        return run([self.cli_path, "-s", str(self.socket_path), *args], what="redis-cli").strip()

    def pipe(self, commands: list[str]) -> None:
        """Many commands through one redis-cli (each a line of space-separated words)."""
        subprocess.run([self.cli_path, "-s", str(self.socket_path)], input="\n".join(commands) + "\n", text=True,
                       check=True, capture_output=True)


class LocalRuntime:
    """The tool's Runtime (backup/runtime.py) over local processes: `shared-postgres` is the local
    Postgres; services are local processes found by their `berth.service` label; volumes are directories
    laid out like Docker's (`<root>/<volume>/_data`)."""

    def __init__(self, postgres: LocalPostgres, volumes_root: Path):
        self.postgres, self.volumes_root = postgres, volumes_root
        self.services: dict[str, LocalService] = {}
        self.events: list[str] = []

    def run_in(self, container, argv, *, stdin=None, stdout=None):
        assert container == "shared-postgres", f"the tool asked for container {container!r}"
        return run(argv, stdin=stdin, stdout=stdout, env=self.postgres.env, what=f"{argv[0]} in {container}")

    def running(self, services):
        return [name for name in services if self.services[name].running]

    def stop(self, containers):
        for name in reversed(list(containers)):
            self.services[name].stop()
            self.events.append(f"stop {name}")

    def start(self, containers):
        for name in containers:
            self.services[name].start()
            self.events.append(f"start {name}")

    def volume_dir(self, volume):
        return self.volumes_root / volume / "_data"
