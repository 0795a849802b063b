"""Every name berth derives from an app's names, claimed in one place: two things never get one name.

App, service, volume, route and env names become Docker container, network and volume names, proxy
upstreams, ECR repositories, ECS resources and Pulumi resource names (config/conventions.py says how:
`chat-bot` + `data` -> `chat_bot_data`, app `x` -> network `berth-x-data`, which is also app `x-data`'s).
Two different things deriving one name would fail half-way through a real deploy or, worse, be one
thing: one app's upstream answering for another's, one volume mounted by two apps. berth's own names
(the proxy's, the shared services', its ECS edge proxy's) are not free either.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config import conventions
from config.app import SHARED_SERVICES, App
from config.errors import Problems

# App names berth uses for itself: the `berth.service` owner of the proxy and the shared Postgres
# (labels, log groups: /berth/<stack>/<owner>), and berth's own prefix (its volumes, its ECS log group).
RESERVED_APPS = {conventions.PROXY_SERVICE: "the proxy's own name (its labels and log group)",
                 conventions.SHARED_APP: "the shared services' name (their labels and log group)",
                 "berth": "berth's own prefix (its volumes, networks and log group)"}
# Service names an app's other services would reach instead of berth's: the shared Postgres and the
# app's Redis are `postgres` and `redis` on the app's data network, and ECS runs the app's edge proxy
# as a service named `edge`.
RESERVED_SERVICES = {"postgres": "the shared Postgres's name on the app's data network",
                     "redis": "the app's Redis's name on its data network",
                     conventions.EDGE_SERVICE: "the app's edge proxy on ECS"}
RESERVED = {
    ("Docker volume", conventions.SHARED_POSTGRES_VOLUME): "the shared Postgres data",
    ("Docker volume", conventions.PROXY_DATA_VOLUME): "the proxy's certificates",
    ("Docker volume", conventions.PROXY_CONFIG_VOLUME): "the proxy's state",
    ("Docker container and upstream", conventions.SHARED_POSTGRES): "the shared Postgres",
    ("Docker container and upstream", "proxy"): "the proxy",
}


@dataclass
class Claims:
    """Names taken so far, by kind; a second, different claimant of one is a problem at its path."""

    problems: Problems
    taken: dict[tuple[str, str], str] = field(default_factory=lambda: dict(RESERVED))

    def claim(self, kind: str, name: str, what: str, where: str) -> None:
        holder = self.taken.setdefault((kind, name), what)
        if holder != what:
            self.problems.add(where, f"{what} would be the {kind} {name!r}, which is already {holder}; rename one")


def check_names(apps: dict[str, App], on_ecs: bool, problems: Problems) -> None:
    """Reserved names refused, and every derived name claimed once across the stack."""
    claims = Claims(problems)
    for app in apps.values():
        _reserved(app, problems)
        _docker_names(app, claims)
        if on_ecs:
            _ecs_names(app, claims)


def _reserved(app: App, problems: Problems) -> None:
    if app.name in RESERVED_APPS:
        problems.add(f"apps/{app.name}.yaml: name", f"{app.name!r} is {RESERVED_APPS[app.name]}; rename the app "
                                                    "(and its file)")
    for svc_name in app.services:
        if svc_name in RESERVED_SERVICES:
            problems.add(f"apps/{app.name}.yaml: services.{svc_name}",
                         f"{svc_name!r} is {RESERVED_SERVICES[svc_name]}; rename the service")


def _docker_names(app: App, claims: Claims) -> None:
    where = f"apps/{app.name}.yaml: name"
    for name, what in ((conventions.app_network(app.name), "network"), (conventions.edge_network(app.name), "edge network"),
                       (conventions.data_network(app.name), "data network")):
        claims.claim("Docker network", name, f"app {app.name!r}'s {what}", where)
    if app.uses_shared("redis"):
        claims.claim("Docker volume", conventions.redis_volume(app.name), f"app {app.name!r}'s Redis data",
                     f"apps/{app.name}.yaml: redis")
        claims.claim("Docker container and upstream", conventions.redis(app.name), f"app {app.name!r}'s Redis",
                     f"apps/{app.name}.yaml: redis")
    for svc_name, svc in app.services.items():
        at = f"apps/{app.name}.yaml: services.{svc_name}"
        for vol in svc.mounted_volumes:
            claims.claim("Docker volume", conventions.volume(app.name, vol), f"volume {vol!r} of app {app.name!r}",
                         f"{at}.volumes.{vol}")
        if svc.kind == "static":
            claims.claim("Docker volume", conventions.site_volume(app.name, svc_name),
                         f"the site of {app.name}.{svc_name}", at)
        for replica in conventions.replica_numbers(svc.replicas):
            claims.claim("Docker container and upstream", conventions.edge_alias(app.name, svc_name, replica),
                         f"service {svc_name!r} of app {app.name!r}", at)


def _ecs_names(app: App, claims: Claims) -> None:
    """ECS resources named after routes, services and env names, each kind under one Pulumi parent type."""
    for path in app.routes:
        claims.claim("load balancer rule", conventions.listener_rule(app.name, path),
                     f"route {path!r} of app {app.name!r}", f"apps/{app.name}.yaml: routes.{path}")
    routed = {r.service for r in app.routes.values() if app.services[r.service].kind == "server"}
    for key in [*sorted(routed), conventions.EDGE_SERVICE]:
        claims.claim("target group", conventions.target_group(app.name, key),
                     f"the target group of {app.name}.{key}", f"apps/{app.name}.yaml: services.{key}")
    for svc_name, svc in app.services.items():
        sources = {env: f"secret {secret!r}" for env, secret in svc.secret_env.items()}
        sources |= {use.env: (f"the {used} URL" if used in SHARED_SERVICES else f"external {used!r}")
                    for used, use in svc.uses.items()}
        for env, source in sources.items():
            claims.claim("Secrets Manager entry", conventions.ecs_secret(app.name, env),
                         f"{source} of app {app.name!r} (as {env})", f"apps/{app.name}.yaml: services.{svc_name}")
    if app.uses_shared("redis") and len(conventions.redis(app.name)) > conventions.REPLICATION_GROUP_NAME_MAX:
        claims.problems.add(f"apps/{app.name}.yaml: name",
                            f"{app.name!r} is too long for its ElastiCache group on ECS (named "
                            f"{conventions.redis(app.name)!r} plus 8 random characters, at most 40); shorten it to "
                            f"{conventions.REPLICATION_GROUP_NAME_MAX - len('-redis')} characters")
