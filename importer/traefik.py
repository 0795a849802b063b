"""Routes out of Traefik's Docker labels on the app's services (Traefik v2 and v3 share these):

    traefik.http.routers.<r>.rule = Host(`example.com`) && PathPrefix(`/api`)
    traefik.http.routers.<r>.service / .middlewares
    traefik.http.services.<s>.loadbalancer.server.port = 8080
    traefik.http.middlewares.<m>.stripprefix.prefixes = /api

A router's PathPrefix is a berth route's path (`/` without one), its Host the site's name, a
stripprefix middleware `stripPrefix`. A container with `traefik.enable=false` is not routed; TCP and
UDP routers carry no HTTP and are not routes.
"""

from __future__ import annotations

import re

from importer.compose import ComposeProject
from importer.nginx import Location, Server

ROUTER = re.compile(r"^traefik\.http\.routers\.([^.]+)\.(rule|service|middlewares)$")
PORT = re.compile(r"^traefik\.http\.services\.([^.]+)\.loadbalancer\.server\.port$")
STRIP = re.compile(r"^traefik\.http\.middlewares\.([^.]+)\.stripprefix\.prefixes$")


def _labels(svc: dict) -> dict[str, str]:
    labels = svc.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(item.split("=", 1) if "=" in item else (item, "") for item in labels)
    return {str(k): str(v) for k, v in labels.items()}


def _strips(project: ComposeProject) -> set[str]:
    """Middlewares (any service may define one) that strip a prefix."""
    return {m.group(1) for svc in project.services.values() for key in _labels(svc) if (m := STRIP.match(key))}


def _routers(labels: dict[str, str]) -> dict[str, dict[str, str]]:
    routers: dict[str, dict[str, str]] = {}
    for key, value in labels.items():
        match = ROUTER.match(key)
        if match:
            routers.setdefault(match.group(1), {})[match.group(2)] = value
    return routers


def servers(project: ComposeProject) -> list[Server]:
    """One berth site per Host the labels route, with a location per router path."""
    strips = _strips(project)
    sites: dict[str, Server] = {}
    for name, svc in project.services.items():
        labels = _labels(svc)
        if labels.get("traefik.enable", "").lower() == "false":
            continue
        ports = [int(v) for k, v in labels.items() if PORT.match(k) and v.isdigit()]
        for router in _routers(labels).values():
            rule = router.get("rule", "")
            hosts = re.findall(r"Host\(\s*`([^`]+)`", rule) or [""]
            paths = re.findall(r"PathPrefix\(\s*`([^`]+)`", rule) or re.findall(r"Path\(\s*`([^`]+)`", rule) or ["/"]
            middlewares = {m.split("@")[0].strip() for m in router.get("middlewares", "").split(",") if m.strip()}
            for host in hosts:
                site = sites.setdefault(host, Server([host] if host else [], []))
                for path in paths:
                    strip = bool(middlewares & strips) and path != "/"
                    site.locations.append(Location(path=path, service=name, port=ports[0] if ports else None,
                                                   strip_prefix=strip))
    return list(sites.values())
