"""One app: its networks, volumes, images and containers, wired from `apps/<name>.yaml`.

Networks: every service joins the app's own network (found there by its service name); services the
proxy routes to also join the app's edge network (found there as `<app>-<service>`); services that
use a shared database join the app's internal data network. Nothing publishes a port.

A service with a `port` gets `HOSTNAME=0.0.0.0` unless its file sets HOSTNAME: Docker sets HOSTNAME
to the container id, and servers that bind to `$HOSTNAME` (Next.js standalone's `server.js`) would
then listen on the container's own address only, never on 127.0.0.1 where the healthcheck asks.
"""

from __future__ import annotations

import shlex
from functools import partial

import pulumi
import pulumi_docker as docker

from components.common import copy_site, health_check, required
from components.images import Builder
from components.options import kept_in_prod
from components.secrets import Secrets
from components.single_host.container import (Attachment, ContainerSpec, GatedContainer, hardened_container,
                                               healthcheck_args)
from components.single_host.host import DockerHost, on_host
from components.single_host.images import ServiceImage
from components.single_host.shared_services import HostAppData, SharedServices
from config import conventions
from config.app import SHARED_SERVICES, App, Service
from config.deployment import StackApp


LISTEN_EVERYWHERE = "0.0.0.0"


def start_order(app: App) -> list[str]:
    """Services in an order where each comes after what it depends on (App validation rejects cycles)."""
    return app.start_order


def hook_script(label: str, who: str, command: list[str], ref: str) -> str:
    """Shell run on the host: `command` in a running container of image `ref` labelled `label` (`who`'s)."""
    return (
        f"c=$(docker ps -q --filter {shlex.quote('label=' + label)} --filter {shlex.quote('ancestor=' + ref)}"
        f" --filter status=running | head -n 1); "
        f'[ -n "$c" ] || {{ echo {shlex.quote(f"no running {who} container runs {ref}")} '
        f'>&2; exit 1; }}; '
        f'docker exec "$c" {shlex.join(command)}')


class AppStack(pulumi.ComponentResource):
    """App `name` on the host: given its own StackApp, it reads no other app's settings."""

    def __init__(self, name: str, target: StackApp, host: DockerHost, shared: SharedServices,
                 secrets: Secrets, builder: Builder, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:app:AppStack", name, None, opts)
        app = target.app
        self._target, self._host, self._secrets, self._app = target, host, secrets, app
        self._data = shared.for_app(app)  # its data network, what must be up first, its connection URLs
        labels = [docker.NetworkLabelArgs(label=conventions.APP_LABEL, value=name)]

        # A fixed subnet (apps/<app>.yaml `network.subnet`) for apps whose peers or rules expect one.
        ipam = [docker.NetworkIpamConfigArgs(subnet=str(app.network.subnet))] if app.network else None
        self.network = docker.Network(name, name=conventions.app_network(name), labels=labels, ipam_configs=ipam,
                                      opts=on_host(host, self))
        routed = {r.service for r in app.routes.values()}
        self.edge_network = None
        if any(app.services[s].kind == "server" for s in routed):
            self.edge_network = docker.Network(f"{name}-edge", name=conventions.edge_network(name), labels=labels,
                                               opts=on_host(host, self))
        kept = on_host(host, self, **kept_in_prod(target.policy))  # volumes hold the app's data
        self.volumes = {
            vol: docker.Volume(f"{name}-{vol}", name=conventions.volume(name, vol), opts=kept)
            for svc in app.services.values() for vol in svc.mounted_volumes
        }
        self._owned: dict[str, pulumi.Resource] = {}  # volume -> the run that gave it its owner
        self.site_volumes: dict[str, docker.Volume] = {}
        self.containers: dict[str, list[GatedContainer]] = {}
        for svc_name in start_order(app):
            svc = app.services[svc_name]
            image = ServiceImage(f"{name}-{svc_name}", target, host, builder, svc_name, svc,
                                 opts=pulumi.ResourceOptions(parent=self))
            if svc.kind == "static":
                self._publish_site(svc_name, svc, image)
                continue
            edge = self.edge_network if svc_name in routed else None
            self.containers[svc_name] = [
                self._container(svc_name, svc, image, replica, edge)
                for replica in conventions.replica_numbers(svc.replicas)
            ]
            self._hooks(svc_name, svc, image)
        self.url = target.url
        self.register_outputs({
            "url": self.url,
            "containers": {s: [c.container.name for c in cs] for s, cs in self.containers.items()},
        })

    # --- containers ----------------------------------------------------------------------------------

    def _env(self, svc: Service) -> pulumi.Input[list[str]]:
        """Plain env, then secrets and connection URLs; the whole list is secret if any part is."""
        app = self._app
        plain = {k: self._target.substitute(v) for k, v in svc.env.items()}
        if svc.port is not None and "HOSTNAME" not in svc.env and "HOSTNAME" not in svc.secret_env:
            plain["HOSTNAME"] = LISTEN_EVERYWHERE
        secret: dict[str, pulumi.Output[str]] = {k: self._secrets.get(n) for k, n in svc.secret_env.items()}
        for used, use in svc.uses.items():
            if used in SHARED_SERVICES:
                secret[use.env] = self._data_tier().url(used, use.scheme)
            else:
                secret[use.env] = self._secrets.get(app.external[used].secret)
        if not secret:
            return [f"{k}={v}" for k, v in sorted(plain.items())]
        keys = sorted(secret)
        return pulumi.Output.secret(pulumi.Output.all(*[secret[k] for k in keys]).apply(
            lambda values: [f"{k}={v}" for k, v in sorted({**plain, **dict(zip(keys, values, strict=True))}.items())]))

    def _data_tier(self) -> HostAppData:
        """The app's data network, readiness and URLs, which SharedServices makes for every app that uses a
        shared database: asked only for a service that does (Service.uses_data)."""
        return required(self._data, f"{self._app.name}'s data network (SharedServices, Service.uses_data)")

    def _attachments(self, svc_name: str, replica: int | None, edge: docker.Network | None,
                     svc: Service) -> list[Attachment]:
        app = self._app.name
        inside = [svc_name] + ([f"{svc_name}-{replica}"] if replica else [])
        out = [Attachment(self.network, inside)]
        if edge is not None:  # routed: the proxy finds it there
            out.append(Attachment(edge, sorted({conventions.edge_alias(app, svc_name),
                                                             conventions.edge_alias(app, svc_name, replica)})))
        if svc.uses_data:
            out.append(Attachment(self._data_tier().network, [svc_name]))
        return out

    def _container(self, svc_name: str, svc: Service, image: ServiceImage, replica: int | None,
                   edge: docker.Network | None) -> GatedContainer:
        app = self._app
        resource = f"{app.name}-{svc_name}" + (f"-{replica}" if replica else "")
        volumes = [docker.ContainerVolumeArgs(volume_name=self.volumes[v].name, container_path=path)
                   for v, path in svc.mounted_volumes.items()]
        volumes += [docker.ContainerVolumeArgs(host_path=self._target.host_dir_source(svc, d), container_path=h.target,
                                               read_only=h.read_only)
                    for d, h in svc.host_dirs.items()]
        depends = [c.healthy for dep in svc.depends_on for c in self.containers[dep]]
        if (owner := svc.volume_owner_ids) is not None:
            depends += [self._own_volume(v, path, owner, image) for v, path in svc.mounted_volumes.items()]
        if svc.uses_data:
            depends += self._data_tier().ready
        return hardened_container(resource, ContainerSpec(
            image=image.ref,
            networks=self._attachments(svc_name, replica, edge, svc),
            healthcheck=healthcheck_args(health_check(svc), svc.port),
            memory_mb=svc.memory_mb,
            cpus=svc.cpus,
            env=self._env(svc),
            command=svc.command,
            volumes=volumes,
            tmpfs=svc.tmpfs,
            read_only=svc.read_only,
            cap_add=svc.cap_add,
            user=svc.user,
            gpu=svc.gpu,
            labels={conventions.APP_LABEL: app.name, conventions.SERVICE_LABEL: conventions.service_label(app.name, svc_name)},
            stateful=svc.stateful,
            replicas=[f"{app.name}-{svc_name}" + (f"-{r}" if r else "") for r in conventions.replica_numbers(svc.replicas)],
        ), host=self._host, parent=self, depends_on=depends)

    # --- what runs beside the containers ----------------------------------------------------------------

    def _hooks(self, svc_name: str, svc: Service, image: ServiceImage) -> None:
        """After-deploy commands (migrations): run in a container of this image, once per image, after the
        service's health gates passed (Docker's own verdict may still say `starting`: render/health_gate.py)."""
        label = f"{conventions.SERVICE_LABEL}={conventions.service_label(self._app.name, svc_name)}"
        for i, hook in enumerate(svc.after_deploy, start=1):
            create = image.ref.apply(partial(hook_script, label, f"{self._app.name}/{svc_name}", hook.command))
            self._host.run(f"{self._app.name}-{svc_name}-after-deploy-{i}", create, triggers=[image.ref],
                           parent=self, depends_on=[c.healthy for c in self.containers[svc_name]])

    def _own_volume(self, volume_name: str, path: str, owner: tuple[int, int], image: ServiceImage) -> pulumi.Resource:
        """Give a fresh volume's top directory to the service's user, before the service first starts.

        A fresh named volume is root-owned unless the image has the mount point, so a service running as
        a user cannot write it. A one-off container of the service's own image (for its `chown`) runs
        as root with CHOWN alone, no network and a read-only root; it runs again only for a new volume
        or owner (or a new image, harmlessly: only the top directory changes hands, never the contents).
        """
        if volume_name in self._owned:
            return self._owned[volume_name]
        uid, gid = owner
        volume = self.volumes[volume_name]
        create = pulumi.Output.all(volume.name, image.ref).apply(lambda a: (
            f"docker run --rm --network none --user 0:0 --read-only --cap-drop ALL --cap-add CHOWN "
            f"--security-opt no-new-privileges --entrypoint chown -v {shlex.quote(a[0] + ':' + path)} "
            f"{shlex.quote(a[1])} {uid}:{gid} {shlex.quote(path)}"))
        self._owned[volume_name] = self._host.run(f"{self._app.name}-{volume_name}-owner", create, triggers=[volume.id],
                                                  parent=self, depends_on=[volume])
        return self._owned[volume_name]

    def _publish_site(self, svc_name: str, svc: Service, image: ServiceImage) -> None:
        """Copy a static site's files out of its image into a volume the proxy serves read-only.

        The copy runs as root (the fresh volume is root's; many frontend images run as a user) but with
        no capabilities, no network and a read-only root: it can write the volume and nothing else.
        """
        app = self._app.name
        volume = docker.Volume(f"{app}-{svc_name}-site", name=conventions.site_volume(app, svc_name),
                               opts=on_host(self._host, self))
        self.site_volumes[conventions.site_root(app, svc_name)] = volume
        create = pulumi.Output.all(volume.name, image.ref).apply(lambda a: (
            f"docker run --rm --network none --user 0:0 --read-only --cap-drop ALL --security-opt no-new-privileges "
            f"-v {shlex.quote(a[0] + ':/out')} {shlex.quote(a[1])} sh -c {shlex.quote(copy_site(svc.site_path))}"))
        self._host.run(f"{app}-{svc_name}-publish", create, triggers=[image.ref], parent=self, depends_on=[volume])
