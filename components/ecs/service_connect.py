"""How long Service Connect's proxy lets a request and a connection last, per endpoint.

Every task of a service with a port runs AWS's Service Connect proxy (Envoy). It sits on both ends of
each hop: the caller's proxy takes the request for the alias, and the callee's listens on the
container port, so the load balancer's requests pass through it too ("By default, the Service Connect
proxy listens on the containerPort from the task definition port mapping": AWS, Amazon ECS Developer
Guide, "Service Connect components", Networking). Unset, its timeouts are 15 s per request and 5 min
idle (AWS, ECS API reference, TimeoutConfiguration: `perRequestTimeoutSeconds`, `idleTimeoutSeconds`,
0 disables either, at most 2147483647; an idle timeout below the per-request one ends the request),
so a 180 s AI stream through two services was cut at 15 s. berth sets both on every endpoint:

- **per request**: the longest any request reaching the service may take. A route's `timeoutS` bounds
  it; a stream, a WebSocket or a route without `timeoutS` does not (one host puts no limit between two
  containers), and neither does a call from a service nothing bounds (a worker). A service called by
  another inherits every bound of its caller's requests, along the app's call graph (config/calls.py).
  0 (no per-request limit of the proxy's own) where anything unbounded reaches it.
- **idle**: longer than the load balancer's idle timeout. The proxy is the load balancer's target, and
  AWS requires a target's keep-alive to be longer than the load balancer's idle timeout (ELB User
  Guide, "Connection idle timeout"); a connection the target closes first turns the next request on
  it into a 502. The same value covers every internal hop, since no route may be silent longer; never
  below Envoy's own 5 minutes, so a caller that keeps idle connections for 2 minutes (the edge's Caddy,
  its transport's default) always closes them first.
"""

from __future__ import annotations

from dataclasses import dataclass

from config import conventions
from config.app import App, Route
from config.edge_routes import through_edge
from config.calls import call_order, callees

KEEP_ALIVE_MARGIN_S = 60  # how much longer than the load balancer the proxies keep an idle connection
DEFAULT_IDLE_S = 300  # Service Connect's idle timeout for HTTP when unset (AWS, ECS API reference, TimeoutConfiguration)
EDGE = conventions.EDGE_SERVICE


@dataclass(frozen=True)
class HopTimeout:
    per_request_s: int  # 0: the proxy sets no limit of its own
    idle_s: int


def route_bound(route: Route) -> int | None:
    """The longest a request on `route` may take; None: nothing bounds it (a stream, a socket, no timeoutS)."""
    if route.stream or route.websocket:
        return None
    return route.timeout_s


def request_bounds(app: App) -> dict[str, set[int | None]]:
    """service (and `edge`) -> the bounds of every request that may wait on it."""
    bounds: dict[str, set[int | None]] = {name: set() for name in app.services}
    bounds[EDGE] = set()
    for route in app.routes.values():
        bound = route_bound(route) if app.services[route.service].kind == "server" else None
        bounds[route.service].add(bound)
        if through_edge(app, route):
            bounds[EDGE].add(bound)
    graph = callees(app)
    for caller in reversed(call_order(app)):  # every caller before what it calls
        bounds[caller] = bounds[caller] or {None}  # reached by no route: nothing of berth's bounds it
        for callee in graph[caller]:
            bounds[callee] |= bounds[caller]
    return bounds


def hop_timeouts(app: App, load_balancer_idle_s: int) -> dict[str, HopTimeout]:
    """The Service Connect timeouts of each of the app's endpoints (its servers with a port, and the edge)."""
    idle = max(load_balancer_idle_s + KEEP_ALIVE_MARGIN_S, DEFAULT_IDLE_S)
    out = {}
    for name, bounds in request_bounds(app).items():
        svc = app.services.get(name)
        if svc is not None and not (svc.kind == "server" and svc.port):
            continue
        per_request = 0 if None in bounds or not bounds else max(b for b in bounds if b is not None)
        out[name] = HopTimeout(per_request_s=per_request, idle_s=idle)
    return out
