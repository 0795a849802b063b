"""Which of an app's routes the load balancer cannot serve itself on ECS, and so go through the app's edge
proxy (Caddy, components/ecs/edge.py): a prefix to strip, a single-page app's fallback to /index.html,
static files. The ECS backend deploys the edge from it and scripts/status expects the edge by it.
"""

from __future__ import annotations

from config.app import App, Route


def through_edge(app: App, route: Route) -> bool:
    """The route goes through the app's edge proxy: a prefix to strip, a SPA fallback, static files."""
    return bool(route.strip_prefix or route.spa or app.services[route.service].kind == "static")


def needs_edge(app: App) -> bool:
    """Some route of the app is one the load balancer cannot serve itself."""
    return any(through_edge(app, r) for r in app.routes.values())


def edge_callees(app: App) -> list[str]:
    """The servers the edge proxy forwards to."""
    return sorted({r.service for r in app.routes.values() if through_edge(app, r) and app.services[r.service].kind == "server"})
