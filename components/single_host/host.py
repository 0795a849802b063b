"""The Docker host every other component deploys onto, and the local engine used by dev.

A host gives the rest of berth three things: one explicit `docker.Provider` (no Docker resource ever
uses the ambient default), the address published ports bind to, and `run()` for commands on the host
(database provisioning, image pulls, post-deploy hooks); `on_host()` gives a Docker resource that
provider, created only after the host's readiness gate. `LocalHost` is dev's engine on this machine;
`Ec2Host` (components/single_host/ec2_host.py) is the instance staging and prod run on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pulumi
import pulumi_command as command
import pulumi_docker as docker

from config.stack import LocalHostSettings


# What `run()` registers: a local command (dev, and the EC2 host over SSM) or one over SSH; both have `stdout`.
HostCommand = command.local.Command | command.remote.Command


class DockerHost(Protocol):
    """What a component needs of the host it deploys onto (read-only: `LocalHost` and `Ec2Host` give each
    as a plain attribute of a narrower type)."""

    @property
    def provider(self) -> docker.Provider: ...
    @property
    def bind_address(self) -> str: ...
    @property
    def platform(self) -> str | None: ...  # what images are pulled for: `linux/amd64`, `linux/arm64`; None: the engine's own
    @property
    def ready(self) -> Sequence[pulumi.Resource]: ...

    def run(self, name: str, create: pulumi.Input[str], *, triggers: Sequence[pulumi.Input[str]] = (),
            stdin: pulumi.Input[str] | None = None, parent: pulumi.Resource | None,
            depends_on: Sequence[pulumi.Resource] = ()) -> HostCommand: ...


def on_host(host: DockerHost, parent: pulumi.Resource | None, *, depends_on: Sequence[pulumi.Resource] = (),
            **extra: Any) -> pulumi.ResourceOptions:
    """Options of a Docker resource on `host`: its provider, after the host is ready (and `depends_on`)."""
    return pulumi.ResourceOptions(parent=parent, provider=host.provider, depends_on=[*host.ready, *depends_on],
                                  **extra)


class LocalHost(pulumi.ComponentResource):
    """dev: the Docker engine on this machine. Published ports bind to 127.0.0.1 only."""

    bind_address = "127.0.0.1"
    platform = None  # this machine's engine pulls for its own architecture

    def __init__(self, name: str, settings: LocalHostSettings, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:host:LocalHost", name, None, opts)
        engine = settings.docker_host
        self.provider = docker.Provider(f"{name}-docker", host=engine, opts=pulumi.ResourceOptions(parent=self))
        self.ready: list[pulumi.Resource] = []
        self.register_outputs({"dockerHost": engine})

    def run(self, name: str, create: pulumi.Input[str], *, triggers: Sequence[pulumi.Input[str]] = (),
            stdin: pulumi.Input[str] | None = None, parent: pulumi.Resource | None,
            depends_on: Sequence[pulumi.Resource] = ()) -> command.local.Command:
        """Run `create` in a shell here; it runs again when `triggers` (or the command) change."""
        return command.local.Command(
            name,
            create=create,
            stdin=stdin,
            triggers=list(triggers),
            logging=command.local.Logging.STDERR,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
        )
