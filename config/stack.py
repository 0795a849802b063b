"""What one `Pulumi.<stack>.yaml` says: where to deploy, which apps, and what differs per environment."""

from __future__ import annotations

import re
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import BeforeValidator, Field, ValidationInfo, create_model, field_validator
from pydantic.fields import FieldInfo

from config.app import App, Camel, HostName, ImageRef, Name, Positive, Service, UsablePath, memory, shaped
from rules import caddy, environments

Environment = environments.Environment
Email = Annotated[str, shaped(r"[^@\s]+@[^@\s]+\.[^@\s]+", "an e-mail address")]
# The proxy's CA contact: what Caddy starts with and Let's Encrypt registers (rules/caddy.py).
AcmeEmail = Annotated[str, shaped(caddy.ACME_EMAIL.pattern, "an e-mail address the certificate authority accepts",
                                  caddy.acme_email_problem)]
UserName = Annotated[str, shaped(r"[a-z_][a-z0-9_-]{0,31}", "a Linux user name such as ubuntu")]
SnapshotId = Annotated[str, shaped(r"snap-[0-9a-f]{8,17}", "an EBS snapshot id such as snap-0123456789abcdef0")]
Domain = Annotated[str, shaped(r"(\$\{stack\}\.)?[a-z0-9]([a-z0-9.-]*[a-z0-9])?",
                               "a DNS domain such as chmedia.com (optionally starting with ${stack}.)")]


def _cidr(value: object) -> IPv4Network | IPv6Network:
    """CIDR notation, written out: a bare address or integer silently meaning a /32 is refused."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"{value!r} is not a network in CIDR notation; write it as address/prefix, e.g. 203.0.113.7/32")
    try:
        return ip_network(value.strip(), strict=True)
    except ValueError as err:
        raise ValueError(f"{value!r} is not a network in CIDR notation ({err}); e.g. 203.0.113.0/24") from None


Cidr = Annotated[IPv4Network | IPv6Network, BeforeValidator(_cidr)]
# What CloudWatch Logs accepts as a log group's retention, in days
LogRetentionDays = Literal[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1827, 3653]


class LocalHostSettings(Camel):
    """dev: the Docker engine on this machine; ports bind to 127.0.0.1 only."""

    kind: Literal["local"] = Field(description="`local`: the Docker engine on this machine (dev)")
    docker_host: str = Field(default="unix:///var/run/docker.sock", description="the engine's address (DOCKER_HOST)")
    data_dir: UsablePath = Field(default=".berth-data", description="host dirs live here (relative to the project)")


class Ec2HostSettings(Camel):
    """staging/prod: one EC2 instance berth creates and hardens."""

    kind: Literal["ec2"] = Field(description="`ec2`: one EC2 instance berth creates (staging, prod)")
    instance_type: Annotated[str, shaped(r"[a-z][a-z0-9-]*\.[a-z0-9-]+", "an EC2 instance type such as t3.large")] = Field(
        description="any type AWS offers in the region; berth asks AWS its memory, GPUs and architecture")
    access: Literal["ssh", "ssm"] = Field(default="ssh", description="how pulumi reaches the host (host_access.py)")
    ssh_user: UserName = Field(default="ubuntu", description="the login user (Ubuntu's: ubuntu); may use Docker")
    ssh_public_key: str | None = Field(default=None, description="OpenSSH public key allowed to log in")
    admin_cidrs: dict[Name, Cidr] = Field(default={}, description="SSH allowed from, by name")
    root_volume_gib: Positive = Field(
        description="size of the root volume (the OS), in GiB", default=20, alias="rootVolumeGiB")
    data_volume_gib: Positive = Field(
        default=50, alias="dataVolumeGiB",
        description="size of the encrypted data volume (Docker, volumes, host dirs), in GiB")
    snapshot_retention_days: Positive = Field(default=7, description=(
        "prod: daily snapshots of the data volume kept this many days"))
    data_volume_snapshot_id: SnapshotId | None = Field(
        default=None, description="restore: create the data volume from this snapshot (docs/host.md)")
    availability_zone: str | None = Field(default=None, description=(
        "zone of the instance and its data volume; default: the region's first (<region>a)"))
    log_retention_days: LogRetentionDays = Field(default=30, description=(
        "CloudWatch Logs retention of the containers' and the proxy's logs, in days (docs/operate.md)"))

    @field_validator("ssh_public_key")
    @classmethod
    def _public_key(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ssh-ed25519 ", "ssh-rsa ", "ecdsa-sha2-")):
            raise ValueError("give an OpenSSH public key line (`ssh-ed25519 AAAA... you@host`), never a private key")
        return value


class EcsNetworkSettings(Camel):
    """An existing VPC to deploy into; without one berth creates a VPC with public and private subnets."""

    vpc_id: Annotated[str, shaped(r"vpc-[0-9a-f]{8,17}", "a VPC id such as vpc-0123456789abcdef0")] = Field(
        description="the VPC's id")
    public_subnet_ids: list[Annotated[str, shaped(r"subnet-[0-9a-f]{8,17}", "a subnet id")]] = Field(
        min_length=2, description="two or more subnets in different zones, routed to an internet gateway (the load balancer)")
    private_subnet_ids: list[Annotated[str, shaped(r"subnet-[0-9a-f]{8,17}", "a subnet id")]] = Field(
        min_length=2, description="two or more subnets with outbound access (NAT) for tasks and databases")


class RdsSettings(Camel):
    """Amazon RDS for PostgreSQL, standing in for the shared Postgres container on ECS stacks."""

    instance_class: str = Field(default="db.t4g.small", description="RDS instance class")
    allocated_storage_gib: Positive = Field(
        description="storage at creation, in GiB", default=20, alias="allocatedStorageGiB")
    max_allocated_storage_gib: Positive = Field(default=100, alias="maxAllocatedStorageGiB",
                                                   description="storage autoscaling ceiling")
    multi_az: bool = Field(default=False, description="a standby in a second zone (prod: recommended)")
    backup_retention_days: int = Field(description="automated backups kept this many days", default=7, ge=1, le=35)


class ElastiCacheSettings(Camel):
    """Amazon ElastiCache for Redis: one replication group per app that uses Redis (as on one host)."""

    node_type: str = Field(default="cache.t4g.micro", description="ElastiCache node type")
    snapshot_retention_days: int = Field(default=7, ge=0, le=35, description="apps using Redis as a store; caches keep none")


class EcsHostSettings(Camel):
    """Amazon ECS: the same apps on a cluster (Fargate; GPU services on EC2 capacity), behind an ALB."""

    kind: Literal["ecs"] = Field(description="`ecs`: an ECS cluster berth creates")
    network: EcsNetworkSettings | None = Field(default=None, description="an existing VPC; unset: berth creates one")
    availability_zones: Positive = Field(default=2, ge=2, le=3, description="zones of the VPC berth creates")
    gpu_instance_type: str | None = Field(default=None, description=(
        "EC2 instance type of the GPU capacity provider (e.g. g4dn.xlarge); GPU services cannot run on Fargate"))
    log_retention_days: LogRetentionDays = Field(
        default=30, description="CloudWatch Logs retention of the services' logs, in days")
    database: RdsSettings = Field(default=RdsSettings(), description=(
        "the RDS instance standing in for the shared Postgres"))
    cache: ElastiCacheSettings = Field(default=ElastiCacheSettings(), description=(
        "the ElastiCache groups standing in for the apps' Redis"))


HostSettings = Annotated[LocalHostSettings | Ec2HostSettings | EcsHostSettings, Field(discriminator="kind")]


class ProxySettings(Camel):
    """The one container that publishes ports. Caddy: automatic HTTPS, upstreams resolved per request."""

    image: ImageRef = Field(default="caddy:2.10.2-alpine", description="the Caddy image (pinned)")
    http_port: int = Field(
        description="port published for HTTP (redirects to HTTPS outside dev)", default=80, ge=1, le=65535)
    https_port: int = Field(description="port published for HTTPS (not in dev)", default=443, ge=1, le=65535)
    acme_email: AcmeEmail | None = Field(default=None, description=(
        "e-mail the certificate authority warns about expiring certificates"))
    acme_staging: bool = Field(default=False, description="use the CA's staging endpoint (throwaway stacks)")
    memory_mb: Annotated[Positive, memory("proxy")] = Field(default=256, description="the proxy's memory limit, in MiB")


class PostgresSettings(Camel):
    """The one Postgres container apps share: a database and a role of its own per app."""

    image: ImageRef = Field(default="postgres:17.6-alpine", description=(
        "the Postgres image (pinned; a major version change needs a dump and restore)"))
    memory_mb: Annotated[Positive, memory("postgres")] = Field(default=1024, description=(
        "the shared Postgres container's memory limit, in MiB"))


class RedisSettings(Camel):
    """Each app that uses Redis runs its own, from this image; `memoryMb` is each one's (an app may set its own)."""

    image: ImageRef = Field(default="redis:7.4.5-alpine", description="the Redis image (pinned)")
    memory_mb: Annotated[Positive, memory("redis")] = Field(default=256, description=(
        "each app's Redis memory, in MiB (an app file's redis.memoryMb wins)"))

    def memory_mb_for(self, app: App) -> int:
        """The memory of `app`'s own Redis: the app file's `redis.memoryMb`, else this default."""
        return (app.redis.memory_mb if app.redis else None) or self.memory_mb


class SharedSettings(Camel):
    """The stack's data services: one Postgres (a database and role per app), a Redis per app that uses one."""

    postgres: PostgresSettings | None = Field(default=None, description=(
        "the shared Postgres (needed when an app has a database)"))
    redis: RedisSettings | None = Field(default=None, description=(
        "the apps' Redis containers (needed when an app uses redis)"))

    # For a stack whose apps use the service: config/checks.py (check_shared_services) refuses one without it.
    def used_postgres(self) -> PostgresSettings:
        if self.postgres is None:
            raise ValueError("berth:shared.postgres is not set, and an app uses it (check_shared_services)")
        return self.postgres

    def used_redis(self) -> RedisSettings:
        if self.redis is None:
            raise ValueError("berth:shared.redis is not set, and an app uses it (check_shared_services)")
        return self.redis


class EcrSettings(Camel):
    """Built images live in one ECR repository per service; older ones expire past `keepImages`.

    The host keeps the image it runs and the newest others up to `keepOnHost` per built service, so
    a rollback to a recent version starts without a pull; older ones are pruned so the disk never fills.
    """

    keep_images: Positive = Field(default=20, description="images kept per ECR repository; older ones expire")
    keep_on_host: Positive = Field(default=3, description=(
        "built images kept on the host per service (the running one included), for rollbacks"))


class DnsSettings(Camel):
    """When set, berth points an A record per app host name at the EC2 host's public IP (prod: its Elastic IP)."""

    zone_name: str = Field(description="the public Route 53 hosted zone holding the apps' host names, e.g. chmedia.com")

    @field_validator("zone_name")
    @classmethod
    def _domain(cls, value: str) -> str:
        """Route 53 names zones with a trailing dot; berth compares host names without it."""
        name = value.removesuffix(".")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+", name):
            raise ValueError(f"{value!r} is not a domain name; give the hosted zone's name in lowercase, e.g. chmedia.com")
        return name


class BackupSettings(Camel):
    """Logical backups of every app: its database, its Redis store, its volumes (docs/backups.md).

    staging/prod keep them in an S3 bucket of the stack's own, on a schedule; dev writes `localDir`
    when `scripts/backup` is run. A run starts at `at` (UTC) and then every `everyHours` hours.
    """

    enabled: bool = Field(default=True, description="false: no scheduled backups (the stack's data is recreatable)")
    every_hours: Literal[1, 2, 3, 4, 6, 8, 12, 24] = Field(default=24, description="hours between runs (divides a day)")
    at: Annotated[str, shaped(r"([01][0-9]|2[0-3]):[0-5][0-9]", "a UTC time of day such as 03:30")] = Field(
        default="03:30", description="UTC time of the day's first run")
    retention_days: Positive = Field(default=14, description="backups older than this are deleted by the bucket")
    alarm_email: Email | None = Field(default=None, description=(
        "older name of berth:monitoring.alarmEmail (told of every alarm, a missed backup's too)"))
    local_dir: UsablePath = Field(default=".berth-backups", description="dev: where backups go (relative to the project)")

    @property
    def on_calendar(self) -> str:
        """The systemd OnCalendar expression: `at`, then every `everyHours` hours, in UTC."""
        hour, minute = self.at.split(":")
        first = int(hour) % self.every_hours
        hours = hour if self.every_hours == 24 else f"{first:02d}/{self.every_hours}"
        return f"*-*-* {hours}:{minute}:00 UTC"


class MonitoringSettings(Camel):
    """Alarms on what users would notice, sent to the stack's alarm topic (docs/operate.md).

    staging/prod on EC2: the data volume filling, host memory, a container unhealthy or restarting
    repeatedly, the proxy's 5xx rate per app, a certificate close to expiry, the host no longer
    reporting. ECS: running below desired tasks, unhealthy targets, 5xx. A missed backup alarms
    whenever backups run. dev has none (it runs on this machine).
    """

    alarms: bool | None = Field(default=None, description=(
        "alarm on the host's (or cluster's) health; default: on in prod, off in staging; dev has none"))
    alarm_email: Email | None = Field(default=None, description=(
        "subscribed to the stack's alarm topic: told of every alarm (confirm the e-mail AWS sends)"))

    def alarms_on(self, environment: str) -> bool:
        return self.alarms if self.alarms is not None else environments.policy(environment).alarms_by_default


# What a stack may change about a service: its image, its size, its dev-time wiring.
OVERRIDABLE = ("image", "build", "version", "command", "env", "host_dirs", "memory_mb", "cpus", "replicas",
               "max_replicas", "gpu")


def _as_in_the_app_file(name: str) -> tuple[Any, FieldInfo]:
    """A service field as `Service` declares it (type, constraints, meaning), unset unless the stack sets it."""
    field = Service.model_fields[name]
    annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    # what Field() builds (pydantic/fields.py); Field itself is typed as returning its default, for class bodies
    return annotation, FieldInfo.from_field(None, description=field.description)


# Derived from Service, so an overridable field cannot drift from the app file's (load.py merges the
# fields a stack sets over the app file's service and validates the result as a Service).
if TYPE_CHECKING:
    # mypy cannot see fields made at run time, so to it an overlay's fields are untyped; what they hold
    # is Service's, and tests/test_layout.py holds the two schemas together.
    ServiceOverlay: TypeAlias = Any
else:
    ServiceOverlay = create_model(
        "ServiceOverlay", __base__=Camel, __module__=__name__,
        __doc__="What this stack changes about one service of the app; every other field is the app file's.",
        **{name: _as_in_the_app_file(name) for name in OVERRIDABLE},
    )


class AppOverlay(Camel):
    """An app deployed by this stack, with what differs here from `apps/<name>.yaml`."""

    hostname: HostName | None = Field(default=None, description=(
        "this stack's host name for the app; default: the app file's"))
    services: dict[Name, ServiceOverlay] = Field(default={}, description="per service, what this stack changes")


class StackSettings(Camel):
    """All non-secret `berth:*` settings of a stack. Secrets are separate top-level keys."""

    environment: Environment = Field(description=(
        "dev (local engine), staging or prod: what is protected, how it is reached"))
    domain: Domain = Field(default="localhost", description=(
        "domain the apps' host names are under (`${stack}.` gives a PR stack its own)"))
    host: HostSettings = Field(description="where the apps run: `kind` local, ec2 or ecs, and its settings")
    apps: dict[Name, AppOverlay] = Field(
        description="the apps this stack deploys (apps/<name>.yaml), with what differs here", min_length=1)
    proxy: ProxySettings = Field(default=ProxySettings(), description="the reverse proxy")
    shared: SharedSettings = Field(default=SharedSettings(), description="the data services apps share")
    dns: DnsSettings | None = Field(default=None, description=(
        "Route 53 records for the apps' host names (EC2 stacks)"))
    ecr: EcrSettings = Field(default=EcrSettings(), description="where built images are kept")
    backups: BackupSettings = Field(default=BackupSettings(), description="scheduled backups of the apps' data")
    monitoring: MonitoringSettings = Field(default=MonitoringSettings(), description=(
        "alarms to the stack's alarm topic (docs/operate.md)"))

    @field_validator("monitoring")
    @classmethod
    def _alarms_need_aws(cls, value: MonitoringSettings, info: ValidationInfo) -> MonitoringSettings:
        environment = info.data.get("environment")
        if value.alarms and environment and environments.policy(environment).on_this_machine:
            raise ValueError("dev runs on this machine and has no alarms; remove `alarms` (staging and prod have them)")
        backups = info.data.get("backups")
        if value.alarm_email and backups and backups.alarm_email not in (None, value.alarm_email):
            raise ValueError("alarmEmail is set here and in berth:backups.alarmEmail (its older place) to different "
                             "addresses; one topic tells every alarm: keep it here only")
        return value

    @property
    def alarm_email(self) -> str | None:
        """Who is told of every alarm: `monitoring.alarmEmail`, or its older place `backups.alarmEmail`."""
        return self.monitoring.alarm_email or self.backups.alarm_email
