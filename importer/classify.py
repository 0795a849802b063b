"""What each Compose service is to berth: the app's own service, Postgres or Redis (which berth
provides), the proxy (berth's replaces it), or a one-off job. A job that runs the image of one of the
app's services becomes that service's `afterDeploy` hook; any other job is not imported as a service
that runs forever: a TODO says what it did (a permissions fix becomes `volumeOwner`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from importer import images
from importer.compose import ComposeProject

PROXY_NAMES = re.compile(r"(nginx|caddy|traefik|haproxy|proxy|reverse-proxy|web-proxy|gateway)")
# What a job's name or command says it does once: migrations, set-up, permissions, buckets.
ONE_OFF = re.compile(r"migrat|upgrade|\binit\b|init-|-init|initcontainer|setup|seed|bootstrap|\bchown\b|\bchmod\b|"
                     r"fix-?permission|create-?buckets?|provision", re.IGNORECASE)


@dataclass(frozen=True)
class Roles:
    postgres: tuple[str, ...]
    redis: tuple[str, ...]
    proxy: tuple[str, ...]
    jobs: dict[str, str]  # one-off service -> the service whose image it runs (its hook's home)
    app: tuple[str, ...]  # everything else: services of the app(s)
    helpers: tuple[str, ...] = ()  # one-off services with no home: a TODO each, never a permanent service

    def kind(self, name: str) -> str:
        for kind in ("postgres", "redis", "proxy"):
            if name in getattr(self, kind):
                return kind
        return "job" if name in self.jobs or name in self.helpers else "app"


def _publishes(svc: dict) -> bool:
    return any(p.get("published") for p in svc.get("ports") or [])


def _is_proxy(name: str, svc: dict) -> bool:
    image = svc.get("image")
    dockerfile = (svc.get("build") or {}).get("dockerfile", "")
    if image and images.is_one_of(image, images.PROXY_IMAGES + images.CERTIFICATE_IMAGES):
        return True
    named = bool(PROXY_NAMES.fullmatch(name)) or bool(re.search(r"nginx|caddy|traefik", dockerfile, re.IGNORECASE))
    return named and _publishes(svc)


def image_key(svc: dict) -> tuple:
    build = svc.get("build")
    if build:
        return ("build", build.get("context"), build.get("dockerfile"), build.get("target"))
    return ("image", svc.get("image"))


def job_command(svc: dict) -> list[str]:
    """What a one-off service runs: its entrypoint (when Compose sets one) and its command."""
    return [str(w) for w in (svc.get("entrypoint") or []) + (svc.get("command") or [])]


def _one_off(name: str, svc: dict, completed: set[str]) -> bool:
    """Compose waits for it to finish, or it never restarts and its name or command says it runs once."""
    if name in completed:
        return True
    if svc.get("ports") or svc.get("restart") not in (None, "no", "on-failure"):
        return False
    return bool(ONE_OFF.search(name) or ONE_OFF.search(" ".join(job_command(svc))))


def _kind(name: str, svc: dict) -> str:
    image = svc.get("image") or ""
    if svc.get("build") is None and images.is_postgres(image):
        return "postgres"
    if svc.get("build") is None and images.is_redis(image):
        return "redis"
    return "proxy" if _is_proxy(name, svc) else "app"


def classify(project: ComposeProject) -> Roles:
    services = project.services
    kinds = {name: _kind(name, svc) for name, svc in services.items()}
    completed = {dep for svc in services.values() for dep, spec in (svc.get("depends_on") or {}).items()
                 if (spec or {}).get("condition") == "service_completed_successfully"}
    jobs, helpers = {}, []
    for name in [n for n, k in kinds.items() if k == "app"]:
        svc = services[name]
        if not _one_off(name, svc, completed):
            continue
        home = [other for other, k in kinds.items() if k == "app" and other != name and other not in completed
                and image_key(services[other]) == image_key(svc)]
        if home:
            jobs[name] = sorted(home, key=lambda o: (not services[o].get("ports") and not services[o].get("expose"), o))[0]
        else:
            helpers.append(name)
    return Roles(
        postgres=tuple(n for n, k in kinds.items() if k == "postgres"),
        redis=tuple(n for n, k in kinds.items() if k == "redis"),
        proxy=tuple(n for n, k in kinds.items() if k == "proxy"),
        jobs=jobs,
        app=tuple(n for n, k in kinds.items() if k == "app" and n not in jobs and n not in helpers),
        helpers=tuple(helpers))
