"""One place that turns "run this image" into a hardened docker.Container, and the gate a deploy waits on.

Every container berth runs gets the same floor: restart `unless-stopped`, a healthcheck every deploy
waits on, a memory limit, rotated logs set on the container itself (config/conventions.py),
`no-new-privileges`, every capability dropped but those named, a read-only root with tmpfs for writable
paths, never privileged, never the Docker socket, never `uploads` (the provider copies them by
extracting an archive at `/` before start, which the daemon refuses on a read-only root).

PID 1 is Docker's init (tini), which reaps zombies and forwards signals, unless the spec says the
image's entrypoint execs its server as PID 1 itself (`init=False`). Datastores must: their entrypoint
starts as root and drops to the server's own user, and tini, root without `KILL`, cannot signal a
process of another user, so `docker stop` would end in SIGKILL and crash recovery on every start.
A datastore names its stop signal (otherwise the image's STOPSIGNAL applies, as Docker keeps it) and
gets time for a clean shutdown (`stop_timeout_s`, also the grace before a destroy).

The second `pulumi up` (what the pinned provider does, config/docker_provider.py):
- Replacement: pulumi-docker maps containers with `DeleteBeforeReplace: true`; berth says which it
  wants. A stateful container (data volume, singleton, fixed port) must never run twice: delete-first,
  under a fixed name. A stateless one is create-first (`delete_before_replace=False` overrides the
  provider): auto-named, found by its network alias, the new one healthy before the old one goes.
- Every change reaches the container: the provider's Update applies only restart policy, memory and
  CPU shares, so a change to what it records but never applies (healthcheck, tmpfs, init) replaces the
  container (`replace_on_changes`); a setting the program stops giving (`command`, `user`, all env)
  is one the provider keeps (Optional+Computed), so a `replacement_trigger` of them replaces it.
- Memory can rise in place: Docker sets MemorySwap to twice the limit at create and refuses an update
  above it without a new swap value, so every container gets `memory_swap` equal to its limit (no swap
  beyond it), which Update sends along.
- A refresh shows no change: healthcheck durations and `cpus` are written as Read returns them
  (`60s` is `1m0s`; `10.0` CPUs is `10.`), and `memory_swap` is set.
- The deploy waits on a gate of its own (render/health_gate.py), not the provider's `wait`, which a
  retry skips: it runs whenever the container is new, fails until it is healthy with its last health
  check outputs, and retires the container a create-first replacement replaced.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence

import pulumi
import pulumi_docker as docker

from components.common import probe_command
from components.single_host.host import DockerHost, on_host
from config import conventions, docker_provider
from config.app import HealthCheck
from render import health_gate

SECURITY_OPTS = ["no-new-privileges:true"]
HEALTHY_WITHIN_S = 300
STOP_TIMEOUT_S = 30


def healthcheck_args(check: HealthCheck, port: int | None) -> docker.ContainerHealthcheckArgs:
    return docker.ContainerHealthcheckArgs(
        tests=probe_command(check, port),
        interval=docker_provider.go_duration(check.interval_s),
        timeout=docker_provider.go_duration(check.timeout_s),
        retries=check.retries,
        start_period=docker_provider.go_duration(check.start_period_s),
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
    replicas: Sequence[str] = ()  # the resource names of its service's replicas (this one among them)


@dataclass
class GatedContainer:
    """A container and the gate after which it is healthy: what depends on the service depends on `healthy`."""

    container: docker.Container
    healthy: pulumi.Resource


# Inputs the provider records but never applies to a running container: a change to them replaces it.
REPLACE_ON_CHANGES = sorted(docker_provider.UPDATE_IGNORES)


def hardened_container(name: str, spec: ContainerSpec, *, host: DockerHost, parent: pulumi.Resource | None,
                       depends_on: Sequence[pulumi.Resource] = ()) -> GatedContainer:
    """The container on `host`, after its readiness gate and `depends_on`, and the gate the deploy waits on."""
    container = docker.Container(
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
        memory=spec.memory_mb,
        memory_swap=spec.memory_mb,
        cpus=docker_provider.cpus_as_read(spec.cpus) if spec.cpus else None,
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
        opts=on_host(host, parent, depends_on=depends_on, delete_before_replace=spec.stateful,
                     replace_on_changes=REPLACE_ON_CHANGES, replacement_trigger=kept_when_removed(spec)),
    )
    return GatedContainer(container, _health_gate(name, spec, container, host, parent))


def kept_when_removed(spec: ContainerSpec) -> dict:
    """What the provider keeps when the program stops giving it (Optional+Computed: `command`, all of
    `envs`; `user` ignores an empty value): a change here replaces the container."""
    return {"command": spec.command, "user": spec.user, "noEnv": isinstance(spec.env, (list, tuple)) and not spec.env}


def gate_probe(check: docker.ContainerHealthcheckArgs) -> list[str]:
    """The healthcheck's test without "CMD", which the gate runs itself. healthcheck_args() gives the test as
    plain strings (probe_command); the Args type allows any Input, which no shell line can hold."""
    tests = check.tests
    if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
        raise TypeError(f"the healthcheck's test is {tests!r}; the gate runs only a list of strings (healthcheck_args)")
    return [t for t in tests[1:] if isinstance(t, str)]


def _health_gate(name: str, spec: ContainerSpec, container: docker.Container, host: DockerHost,
                 parent: pulumi.Resource | None) -> pulumi.Resource:
    service = spec.labels.get(conventions.SERVICE_LABEL)
    retire = None if spec.stateful or not service else (conventions.SERVICE_LABEL, service, spec.stop_timeout_s)
    siblings = tuple(r for r in spec.replicas if r != name)
    probe = gate_probe(spec.healthcheck)
    script = container.id.apply(lambda cid: health_gate.gate_script(cid, name, timeout_s=HEALTHY_WITHIN_S, probe=probe,
                                                                     retire=retire, siblings=siblings))
    return host.run(f"{name}-healthy", script, triggers=[container.id], parent=parent,
                    depends_on=[container])
