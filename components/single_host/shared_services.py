"""The data tier of one host: a Postgres the stack's apps share, and a Redis of each app's own.

Each app that uses either gets its own internal data network (no route out; on it only its data
services and that app's services that use them) and hands its services one `HostAppData`: that network,
what must be up first, and its connection URLs. Credentials are generated and kept only as Pulumi
secrets. Frontends join no data network, so they cannot reach a database at all.

- Postgres: one container; each app gets its own role and database, provisioned by its own run of
  psql as the superuser (berth's text only), then its init SQL in a throwaway container logged in as
  the app's role (render/datastores.py), so one app's failing init SQL never keeps another app's
  database from being created, and no app's SQL ever runs as the superuser.
- Redis: one container per app, because Redis cannot fence one ACL user's keys from another's (any
  user with `~*` can read and FLUSHALL everything). It runs as the image's `redis` user with no
  capabilities at all: the official entrypoint's chown and privilege drop happen only when its first
  argument is `redis-server`, never for the `sh -c` that keeps the password out of the command line.
  Its mode comes from the app file: `cache` evicts and keeps nothing on disk; `store` never evicts
  and keeps an append-only file on a retained volume (fresh volumes copy the image's redis-owned /data).

Neither database runs under Docker's init (see components/single_host/container.py): each is PID 1 and stops
with its own signal and time to finish writing.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypedDict

import pulumi
import pulumi_docker as docker

from components.common import app_database, generated_password, required
from components.single_host.container import (
    Attachment,
    ContainerSpec,
    hardened_container,
    healthcheck_args,
)
from components.single_host.host import DockerHost
from components.options import kept_in_prod
from components.single_host.host import on_host
from components.single_host.images import pinned_image
from config import conventions
from config.app import App, HealthCheck
from config.deployment import StackApp
from config.stack import SharedSettings
from render import datastores
from rules.environments import EnvironmentPolicy
from rules.postgres import SUPERUSER

POSTGRES_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]  # entrypoint chowns PGDATA, drops to postgres


class Stop(TypedDict):
    """How a datastore's container stops: spread into its ContainerSpec."""

    stop_signal: str
    stop_timeout_s: int


# The image's STOPSIGNAL: SIGINT is Postgres's "fast" shutdown (roll back sessions, checkpoint, exit).
# The checkpoint writes every dirty buffer, so it gets more than Docker's 10 s.
POSTGRES_STOP = Stop(stop_signal="SIGINT", stop_timeout_s=120)
# SIGTERM, the image's own: Redis fsyncs its append-only file (and, if configured, saves) and exits.
REDIS_STOP = Stop(stop_signal="SIGTERM", stop_timeout_s=60)
REDIS_USER = "redis"  # the official image's user; it owns /data


def init_sql_command(app: App, image: str) -> str:
    """`docker run` of a throwaway psql that sends the app's init SQL as one query, logged in as the app's role.

    It runs on the app's own data network (internal: the shared Postgres and the app's Redis, no way
    out), as the image's `postgres` user with no capabilities, no new privileges and a read-only root,
    and is removed when it exits. Its password and query come on standard input, never a command line.
    """
    name = datastores.db_name(app.name)
    return " ".join([
        "docker run --rm -i", f"--network {shlex.quote(conventions.data_network(app.name))}",
        "--read-only --cap-drop ALL --security-opt no-new-privileges --user postgres --memory 64m --pids-limit 32",
        f"-e PGHOST=postgres -e PGUSER={name} -e PGDATABASE={name}",
        f"--entrypoint sh {shlex.quote(image)} -c {shlex.quote(datastores.RUN_INIT_SQL_FROM_STDIN)}",
    ])


@dataclass
class HostAppData:
    """What one app's services get from the data tier."""

    app: str
    network: docker.Network  # services that use a database join it
    ready: list[pulumi.Resource] = field(default_factory=list)  # up (and provisioned) before they start
    passwords: dict[str, pulumi.Output[str]] = field(default_factory=dict)  # "postgres"/"redis" -> secret

    def url(self, used: str, scheme: str | None = None) -> pulumi.Output[str]:
        """The secret connection URL of "postgres" or "redis", with the scheme the service asks for."""
        render = datastores.postgres_url if used == "postgres" else datastores.redis_url
        return pulumi.Output.secret(self.passwords[used].apply(lambda pw: render(self.app, pw, scheme)))


class SharedServices(pulumi.ComponentResource):
    """The data tier of the host. It serves every app (one Postgres for all, a network and a Redis for each
    that uses them), so it is given each app as the stack deploys it; `settings` are `berth:shared`."""

    def __init__(self, name: str, apps: Sequence[StackApp], settings: SharedSettings, policy: EnvironmentPolicy,
                 host: DockerHost, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:data:SharedServices", name, None, opts)
        self._settings, self._policy, self._host = settings, policy, host
        self._targets = {a.name: a for a in apps}
        self.apps: dict[str, HostAppData] = {}
        for app in (a.app for a in apps):
            if app.uses_shared("postgres") or app.uses_shared("redis"):
                network = docker.Network(
                    f"{app.name}-data", name=conventions.data_network(app.name), internal=True,
                    labels=[docker.NetworkLabelArgs(label=conventions.APP_LABEL, value=app.name)],
                    opts=on_host(host, self))
                self.apps[app.name] = HostAppData(app.name, network)
        outputs: dict[str, pulumi.Input[Any]] = {}
        postgres_users = [a.app for a in apps if a.app.uses_shared("postgres")]
        if postgres_users:
            outputs["postgres"] = self._postgres(name, postgres_users).name
        redis = {a.name: self._redis(a.app).name for a in apps if a.app.uses_shared("redis")}
        if redis:
            outputs["redis"] = redis
        self.register_outputs(outputs)

    def for_app(self, app: App) -> HostAppData | None:
        """The app's network, readiness and URLs; None when it uses no database."""
        return self.apps.get(app.name)

    def _data_volume(self, name: str, volume_name: str) -> docker.Volume:
        return docker.Volume(name, name=volume_name,
                             opts=on_host(self._host, self, **kept_in_prod(self._policy)))

    def _postgres(self, name: str, apps: list[App]) -> docker.Container:
        settings = self._settings.used_postgres()
        volume = self._data_volume(conventions.SHARED_POSTGRES, conventions.SHARED_POSTGRES_VOLUME)
        superuser = generated_password(f"{name}-postgres-superuser", self)
        postgres = hardened_container(conventions.SHARED_POSTGRES, ContainerSpec(
            image=pinned_image(conventions.SHARED_POSTGRES, settings.image, self._host, self),
            networks=[Attachment(self.apps[a.name].network, ["postgres"]) for a in apps],
            healthcheck=healthcheck_args(HealthCheck(command=datastores.POSTGRES_HEALTHCHECK, start_period_s=30), None),
            memory_mb=settings.memory_mb,
            env=superuser.apply(lambda pw: [f"POSTGRES_USER={SUPERUSER}", f"POSTGRES_PASSWORD={pw}"]),
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/var/lib/postgresql/data")],
            tmpfs=["/var/run/postgresql", "/tmp"],
            cap_add=POSTGRES_CAPS,
            labels={conventions.SERVICE_LABEL: conventions.service_label(conventions.SHARED_APP, "postgres")},
            stateful=True,
            init=False,  # the entrypoint execs postgres as PID 1 (see components/single_host/container.py)
            **POSTGRES_STOP,
        ), host=self._host, parent=self)
        container = postgres.container

        admin_psql = container.name.apply(lambda c: f"docker exec -i {shlex.quote(c)} psql -q -X -U {SUPERUSER} -d postgres")
        for app in apps:
            data = self.apps[app.name]
            data.passwords["postgres"] = generated_password(f"{app.name}-postgres-password", self)
            db = data.passwords["postgres"].apply(partial(app_database, self._targets[app.name]))
            provision = self._host.run(
                f"{app.name}-postgres-provision", admin_psql, stdin=pulumi.Output.secret(db.apply(datastores.provision_sql)),
                triggers=[container.id], parent=self, depends_on=[postgres.healthy])
            data.ready.append(provision)
            if app.database and app.database.init_sql:
                data.ready.append(self._host.run(
                    f"{app.name}-postgres-init", container.image.apply(partial(init_sql_command, app)),
                    stdin=pulumi.Output.secret(db.apply(datastores.init_sql_stdin)), triggers=[container.id],
                    parent=self, depends_on=[provision]))
        return container

    def _redis(self, app: App) -> docker.Container:
        """The app's own Redis, found as `redis` on its data network; see the module docstring."""
        settings = self._settings.used_redis()
        mode = required(app.redis, f"apps/{app.name}.yaml: redis (App validation)").mode
        memory_mb = settings.memory_mb_for(app)
        data = self.apps[app.name]
        data.passwords["redis"] = generated_password(f"{app.name}-redis-password", self)
        volumes = []
        if mode == "store":
            volume = self._data_volume(conventions.redis(app.name), conventions.redis_volume(app.name))
            volumes.append(docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/data"))
        redis = hardened_container(conventions.redis(app.name), ContainerSpec(
            image=pinned_image(conventions.redis(app.name), settings.image, self._host, self),
            networks=[Attachment(data.network, ["redis"])],
            healthcheck=healthcheck_args(HealthCheck(command=datastores.REDIS_HEALTHCHECK, start_period_s=10), None),
            memory_mb=memory_mb,
            env=pulumi.Output.secret(data.passwords["redis"].apply(lambda pw: [f"{datastores.REDIS_PASSWORD_ENV}={pw}"])),
            command=datastores.redis_command(app.name, mode, memory_mb),
            user=REDIS_USER,
            volumes=volumes,
            tmpfs=["/tmp"],
            labels={conventions.APP_LABEL: app.name, conventions.SERVICE_LABEL: conventions.service_label(app.name, "redis"),
                    "berth.redis-mode": mode},
            stateful=True,
            init=False,  # redis-server is PID 1 (the shell execs it) and handles SIGTERM itself
            **REDIS_STOP,
        ), host=self._host, parent=self)
        data.ready.append(redis.healthy)
        return redis.container
