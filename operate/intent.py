"""What a stack file asks to run on its host, read from the validated Deployment.

Every long-running container berth creates carries a `berth.service` label (config/conventions.py):
`<app>/<service>` for an app's services and its Redis, `shared/postgres`, `proxy`. This module says,
per label, how many containers should run, with which limits and which image, and which routes the
proxy should answer. The mock tier checks it against what the program registers for every stack,
so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import conventions
from config.deployment import Deployment


@dataclass(frozen=True)
class Image:
    """The image a service should run: a reference the host keeps by name (a pinned pull, a dev build),
    or a version in this stack's ECR repository (pulled by digest, so found by asking ECR)."""

    reference: str  # `postgres:17.6-alpine`, `berth-dev/chatbot-backend:dev`, `berth/prod/chatbot-backend:5be2a1f`
    version: str  # what people call it: the tag, or the built service's version
    in_ecr: bool = False


@dataclass(frozen=True)
class Intended:
    service: str  # the `berth.service` label
    app: str | None  # None for the proxy and the shared Postgres
    replicas: int
    memory_mb: int
    cpus: float | None
    image: Image


@dataclass(frozen=True)
class Route:
    app: str
    host: str
    path: str
    service: str
    tls: bool


def version_of(reference: str) -> str:
    """`postgres:17.6-alpine` -> `17.6-alpine`; a digest reference -> its short digest."""
    if "@" in reference:
        return reference.rsplit("@", 1)[1].removeprefix("sha256:")[:12]
    name = reference.rsplit("/", 1)[-1]
    return name.split(":", 1)[1] if ":" in name else "latest"


def pinned(reference: str) -> Image:
    return Image(reference, version_of(reference))


def intended(deployment: Deployment) -> list[Intended]:
    """Every service that should run a container on the host, in a stable order: apps, shared, proxy."""
    settings, out = deployment.settings, []
    for app in deployment.apps.values():
        for name in app.start_order:
            svc = app.services[name]
            if svc.kind != "server":
                continue  # a static site is files the proxy serves; its copy runs once per deploy
            if svc.image is not None:
                image = pinned(svc.image)
            elif deployment.on_ec2:
                version = svc.pushed_version()
                image = Image(f"{conventions.ecr_repository(deployment.stack, app.name, name)}:{version}", version,
                              in_ecr=True)
            else:
                image = Image(conventions.dev_image(app.name, name), "dev")
            out.append(Intended(conventions.service_label(app.name, name), app.name, svc.replicas, svc.memory_mb,
                                svc.cpus, image))
        if app.uses_shared("redis"):
            redis = settings.shared.used_redis()
            out.append(Intended(conventions.service_label(app.name, "redis"), app.name, 1, redis.memory_mb_for(app),
                                None, pinned(redis.image)))
    if any(app.uses_shared("postgres") for app in deployment.apps.values()):
        postgres = settings.shared.used_postgres()
        out.append(Intended(conventions.service_label(conventions.SHARED_APP, "postgres"), None, 1,
                            postgres.memory_mb, None, pinned(postgres.image)))
    out.append(Intended(conventions.PROXY_SERVICE, None, 1, settings.proxy.memory_mb, None,
                        pinned(settings.proxy.image)))
    return out


def routes(deployment: Deployment) -> list[Route]:
    tls = deployment.policy.serves_https
    return [Route(app.name, deployment.hostname(app), path, route.service, tls)
            for app in deployment.apps.values() for path, route in app.routes.items()]
