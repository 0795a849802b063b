"""The host's containers and volumes, through the Docker CLI: what the backup tool may do to them.

Containers are found by their `berth.service` label (stateless ones have generated names), except
the shared Postgres, which has a fixed name. Volumes are read and written in their directory under
Docker's data root (the tool runs as root), so no helper image is ever pulled.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import IO, Protocol
from collections.abc import Sequence

from backup.manifest import BackupError

HEALTHY_WITHIN_S = 300
PROBE_TIMEOUT_S = 10  # one run of a container's own health check
LOOK_EVERY_S = 0.5  # between looks at a starting container: twice a second, as the deploy's gate probes


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
        """Start containers in order, each healthy before the next (a service waits for what it depends on).

        Healthy as the deploy's health gate judges it (render/health_gate.py): its own health check, run
        here with `docker exec` every LOOK_EVERY_S, passes; Docker would probe it first one `interval` after
        the start (15 s for the shared Postgres). Docker's verdict of unhealthy, or an exit, fails at once."""
        for container in containers:
            run([self.docker, "start", container], what=f"starting {container}")
            check = self._health_check(container)
            deadline = time.monotonic() + HEALTHY_WITHIN_S
            while True:
                status = run([self.docker, "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}"
                              "{{else}}{{.State.Status}}{{end}}", container], what="docker inspect").strip()
                if status in ("healthy", "running") or (status == "starting" and self._passes(container, check)):
                    break
                if time.monotonic() > deadline or status in ("exited", "dead", "unhealthy"):
                    raise BackupError(f"container {container} did not become healthy after start ({status}); "
                                      "see `docker logs` for it")
                time.sleep(LOOK_EVERY_S)

    def _health_check(self, container: str) -> list[str]:
        """The container's healthcheck as a command to exec ([] without one): Docker's `CMD` form runs its
        arguments, `CMD-SHELL` its string in `sh -c` (the Docker Engine API's HealthConfig.Test)."""
        config = json.loads(run([self.docker, "inspect", "-f", "{{json .Config.Healthcheck}}", container],
                                what="docker inspect").strip() or "null")
        test = (config or {}).get("Test") or []
        if test[:1] == ["CMD"]:
            return list(test[1:])
        if test[:1] == ["CMD-SHELL"] and len(test) == 2:
            return ["sh", "-c", test[1]]
        return []

    def _passes(self, container: str, check: list[str]) -> bool:
        if not check:
            return False
        try:
            done = subprocess.run([self.docker, "exec", container, *check], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, timeout=PROBE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def volume_dir(self, volume: str) -> Path:
        mountpoint = run([self.docker, "volume", "inspect", "-f", "{{.Mountpoint}}", volume],
                         what=f"finding volume {volume} (is the stack deployed?)").strip()
        return Path(mountpoint)
