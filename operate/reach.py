"""Where the Docker CLI of a stack's host runs: this machine's engine, or the EC2 host over SSH.

EC2 hosts are reached the way `scripts/backup` reaches them (docs/backups.md): `BERTH_HOST=ubuntu@<ip>`
(plain SSH with the deploy key in ssh-agent), or `BERTH_SSH`, a whole ssh command line, for hosts
behind SSM (`ssh -o ProxyCommand='aws ssm start-session …' ubuntu@i-0123…`). Nothing here sends a
secret: commands name containers and labels only.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from config.deployment import Deployment
from config.stack import Ec2HostSettings, EcsHostSettings

HOST_FACTS = Path(__file__).with_name("host_facts.py")
TIMEOUT_S = 120


class ReachError(Exception):
    """The host cannot be reached (or was not said how): a message for people, no traceback."""


@dataclass(frozen=True)
class Reach:
    ssh: tuple[str, ...] | None = None  # None: this machine, with `docker_host`
    docker_host: str | None = None

    @property
    def where(self) -> str:
        return " ".join(self.ssh) if self.ssh else f"this machine's engine ({self.docker_host})"

    def argv(self, command: Sequence[str]) -> list[str]:
        """`command` as run on the host (over ssh, one quoted remote command line)."""
        return [*self.ssh, shlex.join(command)] if self.ssh else list(command)

    def env(self) -> dict[str, str]:
        return {**os.environ, "DOCKER_HOST": self.docker_host} if self.docker_host else dict(os.environ)

    def run(self, command: Sequence[str], stdin: str | None = None, timeout: float = TIMEOUT_S) -> str:
        done = subprocess.run(self.argv(command), check=False, input=stdin, capture_output=True, text=True, env=self.env(),
                              timeout=timeout)
        if done.returncode != 0:
            raise ReachError(f"{shlex.join(command[:2])} on {self.where} failed (exit {done.returncode}): "
                             f"{done.stderr.strip()[-500:]}")
        return done.stdout

    def popen(self, command: Sequence[str]) -> subprocess.Popen:
        return subprocess.Popen(self.argv(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=self.env(), errors="replace")

    def host_facts(self, request: str) -> str:
        """Run host_facts.py where the engine is: here, or on the host with its python3 (one round trip)."""
        if self.ssh:
            return self.run(["python3", "-", request], stdin=HOST_FACTS.read_text(encoding="utf-8"))
        return self.run(["python3", str(HOST_FACTS), request])


def reach_for(deployment: Deployment, environ: Mapping[str, str] = os.environ) -> Reach:
    ssh, host = environ.get("BERTH_SSH"), environ.get("BERTH_HOST")
    if ssh:
        return Reach(ssh=tuple(shlex.split(ssh)))
    if host:
        return Reach(ssh=("ssh", host))
    settings = deployment.settings.host
    if isinstance(settings, Ec2HostSettings):
        raise ReachError(
            f"stack {deployment.stack} runs on an EC2 host: say how to reach it, e.g. "
            f"BERTH_HOST={settings.ssh_user}@<hostPublicIp> (the stack output sshCommand), "
            "or BERTH_SSH='ssh -o ProxyCommand=… user@i-…' for a host reached through SSM (docs/operate.md)")
    if isinstance(settings, EcsHostSettings):
        raise ReachError(f"stack {deployment.stack} runs on ECS: it has no host of its own to reach")
    return Reach(docker_host=environ.get("DOCKER_HOST") or settings.docker_host)
