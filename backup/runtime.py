"""The host's containers and volumes, through the Docker CLI: what the backup tool may do to them.

Containers are found by their `berth.service` label (stateless ones have generated names), except
the shared Postgres, which has a fixed name. Volumes are read and written in their directory under
Docker's data root (the tool runs as root), so no helper image is ever pulled.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import IO, Protocol
from collections.abc import Sequence

from backup.manifest import BackupError

HEALTHY_WITHIN_S = 300


class Runtime(Protocol):
    def run_in(self, container: str, argv: Sequence[str], *, stdin: IO[bytes] | None = None,
               stdout: IO[bytes] | None = None) -> str: ...

    def running(self, services: Sequence[str]) -> list[str]: ...

    def stop(self, containers: Sequence[str]) -> None: ...

    def start(self, containers: Sequence[str]) -> None: ...

    def volume_dir(self, volume: str) -> Path: ...


def run(argv: Sequence[str], *, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None, what: str,
        env: dict[str, str] | None = None) -> str:
    """Run a command; a failure raises with its own error output. Returns stdout when not redirected."""
    result = subprocess.run(list(argv), stdin=stdin, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if result.returncode != 0:
        raise BackupError(f"{what} failed (exit {result.returncode}): {result.stderr.decode(errors='replace').strip()}")
    return "" if stdout else result.stdout.decode(errors="replace")


class DockerRuntime:
    def __init__(self, docker: str = "docker") -> None:
        self.docker = docker

    def run_in(self, container: str, argv: Sequence[str], *, stdin: IO[bytes] | None = None,
               stdout: IO[bytes] | None = None) -> str:
        return run([self.docker, "exec", "-i", container, *argv], stdin=stdin, stdout=stdout,
                   what=f"{argv[0]} in {container}")

    def running(self, services: Sequence[str]) -> list[str]:
        """The running containers of these services (by label), in the services' order."""
        return [c for service in services
                for c in run([self.docker, "ps", "-q", "--filter", f"label=berth.service={service}"], what="docker ps").split()]

    def stop(self, containers: Sequence[str]) -> None:
        """Stop containers, last-started first (a frontend before the backend it calls)."""
        for container in reversed(list(containers)):
            run([self.docker, "stop", container], what=f"stopping {container}")

    def start(self, containers: Sequence[str]) -> None:
        """Start containers in order, each healthy before the next (a service waits for what it depends on)."""
        for container in containers:
            run([self.docker, "start", container], what=f"starting {container}")
            deadline = time.monotonic() + HEALTHY_WITHIN_S
            while True:
                status = run([self.docker, "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}"
                              "{{else}}{{.State.Status}}{{end}}", container], what="docker inspect").strip()
                if status in ("healthy", "running"):
                    break
                if time.monotonic() > deadline or status in ("exited", "dead", "unhealthy"):
                    raise BackupError(f"container {container} did not become healthy after start ({status}); "
                                      "see `docker logs` for it")
                time.sleep(2)

    def volume_dir(self, volume: str) -> Path:
        mountpoint = run([self.docker, "volume", "inspect", "-f", "{{.Mountpoint}}", volume],
                         what=f"finding volume {volume} (is the stack deployed?)").strip()
        return Path(mountpoint)
