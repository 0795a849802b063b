"""What each Compose service is to berth: the app's own service, a shared database, the proxy, or a
one-off job (migrations) that becomes another service's `afterDeploy` hook."""

from __future__ import annotations

import re
from dataclasses import dataclass

from importer import images
from importer.compose import ComposeProject

PROXY_NAMES = re.compile(r"(nginx|caddy|traefik|haproxy|proxy|reverse-proxy|web-proxy|gateway)")


@dataclass(frozen=True)
class Roles:
    postgres: tuple[str, ...]
    redis: tuple[str, ...]
    proxy: tuple[str, ...]
    jobs: dict[str, str]  # one-off service -> the service whose image it runs (its hook's home)
    app: tuple[str, ...]  # everything else: services of the app(s)

    def kind(self, name: str) -> str:
        for kind in ("postgres", "redis", "proxy"):
            if name in getattr(self, kind):
                return kind
        return "job" if name in self.jobs else "app"


def _publishes(svc: dict) -> bool:
    return any(p.get("published") for p in svc.get("ports") or [])


def _is_proxy(name: str, svc: dict) -> bool:
    image = svc.get("image")
    dockerfile = (svc.get("build") or {}).get("dockerfile", "")
    if image and images.is_one_of(image, images.PROXY_IMAGES):
        return True
    named = bool(PROXY_NAMES.fullmatch(name)) or bool(re.search(r"nginx|caddy|traefik", dockerfile, re.IGNORECASE))
    return named and _publishes(svc)


def _image_key(svc: dict) -> tuple:
    build = svc.get("build")
    if build:
        return ("build", build.get("context"), build.get("dockerfile"), build.get("target"))
    return ("image", svc.get("image"))


def classify(project: ComposeProject) -> Roles:
    services = project.services
    kinds = {}
    for name, svc in services.items():
        image = svc.get("image") or ""
        if image and images.is_one_of(image, images.POSTGRES_IMAGES):
            kinds[name] = "postgres"
        elif image and images.is_one_of(image, images.REDIS_IMAGES):
            kinds[name] = "redis"
        elif _is_proxy(name, svc):
            kinds[name] = "proxy"
        else:
            kinds[name] = "app"
    jobs = {}
    completed = {dep for svc in services.values() for dep, spec in (svc.get("depends_on") or {}).items()
                 if (spec or {}).get("condition") == "service_completed_successfully"}
    for name in [n for n, k in kinds.items() if k == "app"]:
        svc = services[name]
        one_off = name in completed or (svc.get("restart") in ("no", "on-failure") and svc.get("command")
                                        and re.search(r"migrat|upgrade|init|setup|seed", " ".join(svc["command"])))
        if not one_off or svc.get("ports"):
            continue
        home = [other for other, k in kinds.items()
                if k == "app" and other != name and _image_key(services[other]) == _image_key(svc)]
        if home:
            jobs[name] = sorted(home, key=lambda o: (not services[o].get("ports") and not services[o].get("expose"), o))[0]
    return Roles(
        postgres=tuple(n for n, k in kinds.items() if k == "postgres"),
        redis=tuple(n for n, k in kinds.items() if k == "redis"),
        proxy=tuple(n for n, k in kinds.items() if k == "proxy"),
        jobs=jobs,
        app=tuple(n for n, k in kinds.items() if k == "app" and n not in jobs))
