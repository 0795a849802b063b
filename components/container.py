"""One place that turns "run this image" into a hardened docker.Container.

Every container berth runs gets the same floor: restart `unless-stopped`, a healthcheck the deploy
waits on (`wait=True`), a memory limit, rotated logs set on the container itself (config/conventions.py), `no-new-privileges`, every
capability dropped but those named, a read-only root with tmpfs for writable paths, never
privileged, never the Docker socket, never `uploads` (the provider copies them by extracting an
archive at `/` before start, which the daemon refuses on a read-only root).

PID 1 is Docker's init (tini), which reaps zombies and forwards signals, unless the spec says the
image's entrypoint execs its server as PID 1 itself (`init=False`). Datastores must: their entrypoint
starts as root and drops to the server's own user, and tini, root without `KILL`, cannot signal a
process of another user, so `docker stop` would end in SIGKILL and crash recovery on every start.
A datastore also names its stop signal (the image's STOPSIGNAL, which the provider would otherwise
reset) and gets time for a clean shutdown (`stop_timeout_s`, also the grace before a destroy).

Replacement: the provider replaces containers create-first (pulumi/pulumi-docker#1356), which is
what a stateless service wants: the new container (auto-named, found by its network alias) is
healthy before the old one goes. A stateful one (data volume, singleton, fixed port) must never
run twice, so it is replaced delete-first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import pulumi
import pulumi_docker as docker

from components.host import DockerHost
from components.options import on_host
from config import conventions
from config.app import HealthCheck

SECURITY_OPTS = ["no-new-privileges:true"]
HEALTHY_WITHIN_S = 300
STOP_TIMEOUT_S = 30


def probe_command(check: HealthCheck, port: int | None) -> list[str]:
    """A Docker HEALTHCHECK test: the app's HTTP path via a tool its image has, or its own command."""
    if check.command is not None:
        return ["CMD", *check.command]
    url = f"http://127.0.0.1:{port}{check.path}"
    if check.probe == "curl":
        return ["CMD", "curl", "-fsS", "-o", "/dev/null", url]
    if check.probe == "wget":
        return ["CMD", "wget", "-q", "-O", "/dev/null", url]
    if check.probe == "python":
        return ["CMD", "python", "-c", f"import urllib.request; urllib.request.urlopen('{url}', timeout=4)"]
    return ["CMD", "node", "-e",
            f"fetch('{url}').then(r => process.exit(r.status < 500 ? 0 : 1)).catch(() => process.exit(1))"]


def healthcheck_args(check: HealthCheck, port: int | None) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=probe_command(check, port),
        interval=f"{check.interval_s}s",
        timeout=f"{check.timeout_s}s",
        retries=check.retries,
        start_period=f"{check.start_period_s}s",
    )


@dataclass
class Attachment:
    """A network the container joins, and the names it is found by there."""

    network: docker.Network
    aliases: list[str]


@dataclass
class ContainerSpec:
    image: pulumi.Input[str]
    networks: list[Attachment]
    healthcheck: docker.ContainerHealthcheckArgs
    memory_mb: int
    env: pulumi.Input[Sequence[pulumi.Input[str]]] = ()
    command: list[str] | None = None
    volumes: list[docker.ContainerVolumeArgs] = field(default_factory=list)
    tmpfs: list[str] = field(default_factory=list)
    read_only: bool = True
    cap_add: list[str] = field(default_factory=list)
    user: str | None = None
    cpus: float | None = None
    gpu: bool = False
    ports: list[docker.ContainerPortArgs] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    stateful: bool = False
    init: bool = True
    stop_signal: str | None = None
    stop_timeout_s: int = STOP_TIMEOUT_S


def hardened_container(name: str, spec: ContainerSpec, *, host: DockerHost, parent: pulumi.Resource | None,
                       depends_on: Sequence[pulumi.Resource] = ()) -> docker.Container:
    """The container on `host`, after its readiness gate and `depends_on`."""
    return docker.Container(
        name,
        # Stateful containers keep a stable name (operators `docker exec` into them); stateless ones are
        # auto-named so the replacement can start beside the old one.
        name=name if spec.stateful else None,
        image=spec.image,
        envs=spec.env,
        command=spec.command,
        user=spec.user,
        restart="unless-stopped",
        healthcheck=spec.healthcheck,
        wait=True,
        wait_timeout=HEALTHY_WITHIN_S,
        memory=spec.memory_mb,
        cpus=str(spec.cpus) if spec.cpus else None,
        gpus="all" if spec.gpu else None,
        log_driver=conventions.LOG_DRIVER,
        log_opts=conventions.LOG_OPTS,
        security_opts=SECURITY_OPTS,
        capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"], adds=sorted(spec.cap_add) or None),
        privileged=False,
        read_only=spec.read_only,
        tmpfs={path: "rw,noexec,nosuid,size=64m" for path in spec.tmpfs} or None,
        init=spec.init,
        stop_signal=spec.stop_signal,
        stop_timeout=spec.stop_timeout_s,
        volumes=spec.volumes or None,
        ports=spec.ports or None,
        labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(spec.labels.items())] or None,
        networks_advanced=[
            docker.ContainerNetworksAdvancedArgs(name=a.network.name, aliases=a.aliases) for a in spec.networks
        ],
        destroy_grace_seconds=spec.stop_timeout_s,
        opts=on_host(host, parent, depends_on=depends_on, delete_before_replace=spec.stateful),
    )
