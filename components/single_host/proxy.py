"""The one container that publishes ports: Caddy, configured from the apps' routes.

Its Caddyfile travels in the container's environment (`CADDYFILE`, not a secret) and the command
writes it to a tmpfs at /etc/caddy before it execs Caddy, as the ECS edge proxy does. Not `uploads`:
the provider copies those by extracting an archive at `/` before start, which the daemon refuses on
a read-only root. Not a config volume written by a one-off container: that is a second resource to
keep in step, and a half-applied change leaves the old proxy running with the new file. An env change
replaces the container, so a content change replaces the proxy and no file on the host is managed by
hand. The proxy binds 80/443 and so is replaced delete-first: a few seconds without it per change.
Certificates live on a volume, so a replacement does not re-issue them against the CA's rate limits.

The proxy depends on no app container: it joins the apps' edge networks and Caddy resolves upstream
names per request, so it starts, and serves every other app, while one upstream is down or not yet
created. An app's redeploy leaves the proxy untouched (upstream names do not change).
"""

from __future__ import annotations

import hashlib

import pulumi
import pulumi_docker as docker

from components.single_host.container import Attachment, ContainerSpec, hardened_container, healthcheck_args
from components.single_host.host import DockerHost
from components.options import kept_in_prod
from components.single_host.host import on_host
from components.single_host.images import pinned_image
from config import conventions
from render import caddyfile
from config.app import HealthCheck
from config.stack import ProxySettings
from rules.environments import EnvironmentPolicy

CADDYFILE_PATH = "/etc/caddy/Caddyfile"
CAPS = ["NET_BIND_SERVICE"]  # bind 80/443 inside the container; nothing else
COMMAND = caddyfile.launch_command(CADDYFILE_PATH)


class Proxy(pulumi.ComponentResource):
    """The proxy serves every app, so it is given every app's routes, as `plan` (render/caddyfile.py), and
    their edge networks and sites; `settings` are `berth:proxy`."""

    def __init__(self, name: str, plan: caddyfile.ProxyPlan, settings: ProxySettings, policy: EnvironmentPolicy,
                 host: DockerHost, edge_networks: list[docker.Network], site_volumes: dict[str, docker.Volume],
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:proxy:Proxy", name, None, opts)
        kept = on_host(host, self, **kept_in_prod(policy))
        self.config = caddyfile.render(plan)
        self.routes, self.summary = caddyfile.route_table(plan), caddyfile.proxy_summary(plan)
        certificates = docker.Volume(f"{name}-data", name=conventions.PROXY_DATA_VOLUME, opts=kept)
        state = docker.Volume(f"{name}-config", name=conventions.PROXY_CONFIG_VOLUME, opts=kept)

        ports = [docker.ContainerPortArgs(internal=80, external=settings.http_port, ip=host.bind_address)]
        if policy.serves_https:
            ports.append(docker.ContainerPortArgs(internal=443, external=settings.https_port, ip=host.bind_address))
        volumes = [
            docker.ContainerVolumeArgs(volume_name=certificates.name, container_path="/data"),
            docker.ContainerVolumeArgs(volume_name=state.name, container_path="/config"),
            *[docker.ContainerVolumeArgs(volume_name=v.name, container_path=root, read_only=True)
              for root, v in site_volumes.items()],
        ]
        self.container = hardened_container(name, ContainerSpec(
            image=pinned_image(f"{name}-image", settings.image, host, self),
            networks=[Attachment(net, []) for net in edge_networks],
            healthcheck=healthcheck_args(HealthCheck(command=["wget", "-q", "-O", "/dev/null", "http://127.0.0.1/health"],
                                                     start_period_s=5), None),
            memory_mb=settings.memory_mb,
            volumes=volumes,
            env=[f"CADDYFILE={self.config}"],
            command=COMMAND,
            tmpfs=["/tmp", "/etc/caddy"],
            cap_add=CAPS,
            ports=ports,
            labels={conventions.SERVICE_LABEL: conventions.PROXY_SERVICE, "berth.caddyfile-sha256": hashlib.sha256(self.config.encode()).hexdigest()},
            stateful=True,  # fixed ports: the old container must let go of them first
        ), host=host, parent=self).container
        self.register_outputs({"container": self.container.name, "caddyfile": self.config})
