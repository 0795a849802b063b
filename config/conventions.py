"""berth's conventions on a host, in one place so components, renderers and checks agree: the names
it gives networks, volumes and containers, where its data lives, how containers log, how they are labelled.
"""

from __future__ import annotations

import re

# --- where data lives ---------------------------------------------------------------------------------

from rules.containers import DATA_ROOT, app_host_dirs  # noqa: F401 - berth's layout, named here with the rest

EC2_DATA_ROOT = DATA_ROOT  # the EC2 host's encrypted EBS data volume is mounted here (render/cloud_init.py)
DOCKER_ROOT = f"{EC2_DATA_ROOT}/docker"  # Docker's data root on it: images, containers, named volumes

# --- logs ---------------------------------------------------------------------------------------------

# Rotated json-file logs: the EC2 daemon's default (render/cloud_init.py) and set on every container too
# (components/single_host/container.py), since a daemon default the container lacks shows as drift
# (kreuzwerker/terraform-provider-docker#473) and dev's engine has its own defaults.
LOG_DRIVER = "json-file"
LOG_OPTS = {"max-size": "10m", "max-file": "5"}

# --- labels -------------------------------------------------------------------------------------------

APP_LABEL = "berth.app"  # on an app's networks and containers
SERVICE_LABEL = "berth.service"  # `<app>/<service>`: how hooks and the backup tool find a service's containers
PROXY_SERVICE = "proxy"  # the proxy's `berth.service` (it belongs to no app)
SHARED_APP = "shared"  # what stands for the app in the shared Postgres's `berth.service` (`shared/postgres`)

# --- the shared pieces' names on the host ---------------------------------------------------------------

SHARED_POSTGRES = "shared-postgres"  # the shared Postgres's container (and the backup plan's name for it)
SHARED_POSTGRES_VOLUME = "shared_postgres"  # its data
PROXY_DATA_VOLUME = "berth_proxy_data"  # Caddy's /data: certificates and their keys
PROXY_CONFIG_VOLUME = "berth_proxy_config"  # Caddy's /config: its autosaved state
POSTGRES_PORT = 5432  # the shared Postgres in a container and RDS alike
REDIS_PORT = 6379  # an app's Redis in a container and ElastiCache alike


def service_label(app: str, service: str) -> str:
    """The `berth.service` value of an app's service (stateless containers have generated names)."""
    return f"{app}/{service}"


# --- names --------------------------------------------------------------------------------------------


def dev_image(app: str, service: str) -> str:
    """The tag a dev build of a service gets on the local engine."""
    return f"berth-dev/{app}-{service}:dev"


def ecr_repository(stack: str, app: str, service: str) -> str:
    """This stack's ECR repository of a built service; its images are tagged with the service's version."""
    return f"berth/{stack}/{app}-{service}"


def log_group(stack: str, owner: str) -> str:
    """The CloudWatch log group of an app (or of `proxy`, `shared`, berth's own tasks) in a stack."""
    return f"/berth/{stack}/{owner}"


def app_network(app: str) -> str:
    return f"berth-{app}"


def data_network(app: str) -> str:
    """The internal network an app shares with its database and its Redis."""
    return f"berth-{app}-data"


def edge_network(app: str) -> str:
    """The network an app shares with the proxy: only its routed services join it."""
    return f"berth-{app}-edge"


def edge_alias(app: str, service: str, replica: int | None = None) -> str:
    """How the proxy finds a service: app-qualified, because the proxy sits on every app's edge network."""
    return f"{app}-{service}" + (f"-{replica}" if replica is not None else "")


def replica_numbers(replicas: int) -> list[int | None]:
    """One container is just `<app>-<service>`; several are `-1`, `-2`, ..."""
    return [None] if replicas == 1 else list(range(1, replicas + 1))


def volume(app: str, name: str) -> str:
    """Docker volume name: `chatbot_chroma`, as in the seed's migration plan."""
    return f"{app}_{name}".replace("-", "_")


def site_volume(app: str, service: str) -> str:
    return volume(app, f"{service}_site")


def site_root(app: str, service: str) -> str:
    """Where the proxy finds a static service's files."""
    return f"/srv/sites/{app}-{service}"


def redis(app: str) -> str:
    """An app's own Redis: its container (found as `redis` on the app's data network)."""
    return f"{app}-redis"


# --- ECS (components/ecs/): Pulumi resource names built from an app's own names ------------------------

EDGE_SERVICE = "edge"  # the app's edge proxy on ECS: its service, task family and target group key
# A target group's name has at most 32 characters (the Elastic Load Balancing API); Pulumi names it
# after the resource with "-" and 7 random characters (pulumi-terraform-bridge AutoNameTransform), and
# refuses one longer than that (pulumi sdk resource.NewUniqueName), so the resource name has at most 24.
TARGET_GROUP_NAME_MAX = 24
# An ElastiCache replication group id has at most 40 characters (pulumi-aws: AutoNameTransform(
# "replicationGroupId", 40, ToLower)), the resource name plus "-" and 7 random ones: at most 32.
REPLICATION_GROUP_NAME_MAX = 32


def listener_rule(app: str, path: str) -> str:
    """The load balancer rule of one route: its path in lowercase words (`/api/ai` -> `api-ai`, `/` -> root)."""
    return f"{app}-route-" + (re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root")


def target_group(app: str, key: str) -> str:
    """The target group of a service (or the app's edge proxy), cut to what its physical name allows."""
    return f"{app}-{key}"[:TARGET_GROUP_NAME_MAX]


def ecs_secret(app: str, env: str) -> str:
    """The Secrets Manager entry an app's tasks read `env` from (Pulumi resource name)."""
    return f"{app}-{env.lower().replace('_', '-')}"


def redis_volume(app: str) -> str:
    """Where a Redis in `store` mode keeps its append-only file."""
    return volume(app, "redis")
