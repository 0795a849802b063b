"""Postgres and Redis shared by a stack's apps, each app fenced off from the others.

Each app that uses a shared service gets its own internal data network (no route out; on it only
the databases and that app's services that use them), its own Postgres role and database, and its
own Redis ACL user. Credentials are generated and kept only as Pulumi secrets. Frontends join no
data network, so they cannot reach a database at all.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker
import pulumi_random as random

from components.container import Attachment, ContainerSpec, hardened_container, healthcheck_args
from components.host import DockerHost
from components.images import pinned_image
from render import datastores
from config.app import App, HealthCheck
from config.deployment import Deployment

POSTGRES_CAPS = ["CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"]  # entrypoint chowns PGDATA, drops to postgres
# The image's STOPSIGNAL: SIGINT is Postgres's "fast" shutdown (roll back sessions, checkpoint, exit).
# The checkpoint writes every dirty buffer, so it gets more than Docker's 10 s.
POSTGRES_STOP = {"stop_signal": "SIGINT", "stop_timeout_s": 120}
REDIS_CAPS = ["CHOWN", "SETGID", "SETUID"]  # entrypoint chowns /data, drops to redis


def generated_password(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A generated credential, secret in state. No special characters: it goes into URLs unescaped."""
    generated = random.RandomPassword(name, length=32, special=False, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


class SharedServices(pulumi.ComponentResource):
    def __init__(self, name: str, deployment: Deployment, host: DockerHost, opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:data:SharedServices", name, None, opts)
        self._deployment, self._host = deployment, host
        self._passwords: dict[tuple[str, str], pulumi.Output[str]] = {}
        self._ready: dict[str, list[pulumi.Resource]] = {}
        users = {s: [a for a in deployment.apps.values() if a.uses_shared(s)] for s in ("postgres", "redis")}

        using_any = {a.name for group in users.values() for a in group}
        self.networks: dict[str, docker.Network] = {}
        for app in deployment.apps.values():
            if app.name in using_any:
                self.networks[app.name] = docker.Network(
                    f"{app.name}-data", name=f"berth-{app.name}-data", internal=True,
                    labels=[docker.NetworkLabelArgs(label="berth.app", value=app.name)], opts=self._on_host(),
                )
        outputs = {}
        if users["postgres"]:
            outputs["postgres"] = self._postgres(name, users["postgres"]).name
        if users["redis"]:
            outputs["redis"] = self._redis(name, users["redis"]).name
        self.register_outputs(outputs)

    def _on_host(self, **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=self._host.provider, depends_on=list(self._host.ready),
                                      **extra)

    def _data_volume(self, name: str) -> docker.Volume:
        prod = self._deployment.is_prod
        return docker.Volume(name, name=name.replace("-", "_"), opts=self._on_host(protect=prod, retain_on_delete=prod))

    def _attachments(self, apps: list[App], alias: str) -> list[Attachment]:
        return [Attachment(self.networks[a.name], [alias]) for a in apps]

    def _postgres(self, name: str, apps: list[App]) -> docker.Container:
        settings = self._deployment.settings.shared.postgres
        volume = self._data_volume("shared-postgres")
        superuser = generated_password(f"{name}-postgres-superuser", self)
        container = hardened_container("shared-postgres", ContainerSpec(
            image=pinned_image("shared-postgres", settings.image, self._host, self),
            networks=self._attachments(apps, "postgres"),
            healthcheck=healthcheck_args(HealthCheck(command=datastores.POSTGRES_HEALTHCHECK, start_period_s=30), None),
            memory_mb=settings.memory_mb,
            env=superuser.apply(lambda pw: ["POSTGRES_USER=postgres", f"POSTGRES_PASSWORD={pw}"]),
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/var/lib/postgresql/data")],
            tmpfs=["/var/run/postgresql", "/tmp"],
            cap_add=POSTGRES_CAPS,
            labels={"berth.service": "shared/postgres"},
            stateful=True,
            init=False,  # the entrypoint execs postgres as PID 1 (see components/container.py)
            **POSTGRES_STOP,
        ), provider=self._host.provider, parent=self, depends_on=self._host.ready)

        passwords = [generated_password(f"{app.name}-postgres-password", self) for app in apps]
        self._passwords.update({(app.name, "postgres"): pw for app, pw in zip(apps, passwords, strict=True)})
        script = pulumi.Output.all(*passwords).apply(lambda pws: datastores.provision_sql([
            datastores.AppDatabase(app.name, pw, tuple(app.database.extensions) if app.database else (),
                                   self._init_sql(app))
            for app, pw in zip(apps, pws, strict=True)
        ]))
        provision = self._host.run(
            f"{name}-postgres-provision",
            container.name.apply(lambda c: f"docker exec -i {c} psql -q -X -U postgres -d postgres"),
            stdin=pulumi.Output.secret(script), triggers=[container.id], parent=self, depends_on=[container],
        )
        for app in apps:
            self._ready.setdefault(app.name, []).append(provision)
        return container

    def _init_sql(self, app: App) -> str | None:
        if not (app.database and app.database.init_sql):
            return None
        return (self._deployment.project_dir / "apps" / app.database.init_sql).read_text(encoding="utf-8")

    def _redis(self, name: str, apps: list[App]) -> docker.Container:
        settings = self._deployment.settings.shared.redis
        volume = self._data_volume("shared-redis")
        passwords = {a.name: generated_password(f"{a.name}-redis-password", self) for a in apps}
        self._passwords.update({(app, "redis"): pw for app, pw in passwords.items()})
        env = pulumi.Output.all(*passwords.values()).apply(lambda pws: [
            f"{datastores.redis_password_env(app)}={pw}" for app, pw in zip(passwords, pws, strict=True)])
        container = hardened_container("shared-redis", ContainerSpec(
            image=pinned_image("shared-redis", settings.image, self._host, self),
            networks=self._attachments(apps, "redis"),
            healthcheck=healthcheck_args(HealthCheck(command=datastores.REDIS_HEALTHCHECK, start_period_s=10), None),
            memory_mb=settings.memory_mb,
            env=pulumi.Output.secret(env),
            command=datastores.redis_command([a.name for a in apps], settings.memory_mb),
            volumes=[docker.ContainerVolumeArgs(volume_name=volume.name, container_path="/data")],
            tmpfs=["/tmp"],
            cap_add=REDIS_CAPS,
            labels={"berth.service": "shared/redis"},
            stateful=True,
        ), provider=self._host.provider, parent=self, depends_on=self._host.ready)
        for app in apps:
            self._ready.setdefault(app.name, []).append(container)
        return container

    # --- what app stacks ask of the shared services -------------------------------------------------

    def network_for(self, app: App) -> docker.Network | None:
        return self.networks.get(app.name)

    def ready_for(self, app: App) -> list[pulumi.Resource]:
        """What must be up (and provisioned) before this app's services start."""
        return self._ready.get(app.name, [])

    def url_for(self, app: App, shared: str, scheme: str | None) -> pulumi.Output[str]:
        render = datastores.postgres_url if shared == "postgres" else datastores.redis_url
        return pulumi.Output.secret(self._passwords[(app.name, shared)].apply(lambda pw: render(app.name, pw, scheme)))
