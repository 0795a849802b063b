"""The app's routes: from its nginx `server` block when the config is given, else from the ports
Compose published (the only way the service was reached from outside)."""

from __future__ import annotations

import re

from importer import images, probes
from importer.draft import AppDraft
from importer.nginx import Location, Server

FRONTEND = re.compile(r"front|web|ui|site|client|app|next|portal")
API = re.compile(r"api|back|server|core")
# Services that hold connections open or work off a queue: never the web app's /api/.
STREAMING = re.compile(r"stream|socket|\bws\b|-ws|ws-|realtime|events|push|live")


def from_nginx(draft: AppDraft, server: Server) -> dict[str, int | None]:
    """Routes of one server block; returns the port each routed Compose service was reached on."""
    routes = draft.data.setdefault("routes", {})
    ports: dict[str, int | None] = {}
    for text in server.regex:
        draft.notes.todo(("routes",), f"nginx `location {text}` is a regex or exact-match location, not converted: "
                                      "berth routes path prefixes; add a route for each prefix it matched")
    for loc in sorted(server.locations, key=lambda location: -len(location.path)):
        if loc.static_root:
            _static(draft, loc, routes)
            continue
        routed = _routed(draft, loc)
        if routed is None:
            continue
        compose_name, name = routed
        routes[loc.path] = _route(loc, name)
        ports[compose_name] = loc.port
        _note_location(draft, loc, name)
    _published_frontend(draft, routes, ports)
    if server.max_body_mb:
        draft.data["maxBodyMb"] = server.max_body_mb
        draft.notes.add(("maxBodyMb",), "nginx client_max_body_size")
    _headers(draft, server)
    for item in server.dropped:
        draft.notes.add(("routes",), f"nginx `{item}` dropped: berth's proxy handles TLS, logging and compression itself")
    return ports


def _routed(draft: AppDraft, loc: Location) -> tuple[str, str] | None:
    """(Compose service, berth service) a location proxies to, or None (noted) when it cannot be a route."""
    compose_name = draft.project.service_for_host(loc.service) or loc.service
    name = draft.berth_name(compose_name) if compose_name else None
    if compose_name is None or name is None:
        where = f"proxy_pass to {loc.service}" if loc.service else "no proxy_pass"
        draft.notes.todo(("routes",), f"nginx location {loc.path} ({where}) is not a service of this app; dropped")
        return None
    if not re.fullmatch(r"/([A-Za-z0-9._~-]+/)*[A-Za-z0-9._~-]*", loc.path):
        draft.notes.todo(("routes",), f"nginx location {loc.path} is not a plain path prefix; dropped")
        return None
    return compose_name, name


def _route(loc: Location, name: str) -> dict[str, str | int | bool]:
    route: dict[str, str | int | bool] = {"service": name}
    for key, value in (("stripPrefix", loc.strip_prefix), ("websocket", loc.websocket), ("stream", loc.stream),
                       ("timeoutS", loc.timeout_s), ("sticky", loc.sticky), ("maxBodyMb", loc.max_body_mb)):
        if value:
            route[key] = value
    return route


def _note_location(draft: AppDraft, loc: Location, name: str) -> None:
    """What the route kept of the location, and what it could not."""
    at = ("routes", loc.path)
    said = [f"`location {loc.path}` -> {loc.service}" + (":" + str(loc.port) if loc.port else "")]
    hosts = {draft.project.service_for_host(h) or h for h in loc.upstream}
    if len(hosts) > 1 and not any(hosts <= {kept, *others} for kept, others in draft.replicas.items()):
        draft.notes.todo(at, f"its upstream balanced over {', '.join(sorted(hosts))}, which are not one "
                             f"service: berth sends the route to {name} only")
    if loc.strip_prefix:
        said.append(f"proxy_pass ends in '/': nginx drops {loc.path} before passing on (stripPrefix)")
    elif loc.path != "/":
        said.append("proxy_pass has no path: the service gets the full path, prefix included")
    if loc.websocket:
        said.append("it upgraded WebSockets")
    if loc.stream:
        said.append("proxy_buffering off: a stream, passed on unbuffered")
    draft.notes.add(at, "; ".join(said))
    for item in loc.unsupported:
        draft.notes.todo(at, f"nginx `{item}` has no berth equivalent; dropped")


def _published_frontend(draft: AppDraft, routes: dict, ports: dict) -> None:
    """A frontend Compose published itself, beside an nginx that served only the API (an api.<domain> site):
    the frontend takes `/` on the app's one host name and the API's catch-all moves to /api/."""
    reached = {s for s in ports}
    for compose_name, name in draft.services.items():
        svc = draft.project.services[compose_name]
        published = [p for p in svc.get("ports") or [] if p.get("published")]
        if compose_name in reached or not published or not FRONTEND.search(compose_name):
            continue
        catch_all = routes.pop("/", None)
        if catch_all and "/api/" not in routes:
            routes["/api/"] = catch_all
            draft.notes.todo(("routes", "/api/"), f"nginx sent everything else to {catch_all['service']} on its own "
                                                  "host name; on the app's one host name it gets /api/ (check its "
                                                  "paths start with /api, else add stripPrefix: true)")
        routes["/"] = {"service": name}
        ports[compose_name] = int(published[0]["target"])
        draft.notes.add(("routes", "/"), f"{compose_name} was published on port {published[0]['published']}, outside "
                                         "nginx: it is the site's front page")
        return


def _static(draft: AppDraft, loc: Location, routes: dict) -> None:
    name = "frontend" if "frontend" not in draft.services.values() else "site"
    draft.service(name).update({"kind": "static"})
    routes[loc.path] = {"service": name, **({"spa": True} if loc.spa else {})}
    draft.notes.todo(("services", name), f"nginx served {loc.path} from files in {loc.static_root}. In berth the proxy "
                                         "serves them from an image: set `build` (a stage that holds the built site) "
                                         "and `sitePath` (where the files are in it)")
    if loc.spa:
        draft.notes.add(("routes", loc.path), "try_files ... /index.html: a single-page app (spa)")


def _headers(draft: AppDraft, server: Server) -> None:
    headers = {k.lower(): v for k, v in server.headers.items()}
    out = {}
    frame = headers.get("x-frame-options", "").upper()
    if frame in ("DENY", "SAMEORIGIN"):
        out["frameOptions"] = frame
    referrer = headers.get("referrer-policy")
    if referrer in ("no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"):
        out["referrerPolicy"] = referrer
    elif referrer:
        draft.notes.add(("headers",), f"Referrer-Policy {referrer} sends full URLs to other origins; berth's "
                                      "default strict-origin-when-cross-origin applies")
    if headers.get("content-security-policy"):
        out["contentSecurityPolicy"] = headers["content-security-policy"]
    if out:
        draft.data["headers"] = out
        draft.notes.add(("headers",), "from nginx add_header")


def from_ports(draft: AppDraft, proxied: bool) -> dict[str, int | None]:
    """Without an nginx config: the services Compose published (bar data stores) get routes."""
    project = draft.project
    published = [s for s in draft.services if _web_ports(project.services[s])
                 and not images.is_one_of(project.services[s].get("image") or "", images.INTERNAL_IMAGES)]
    routes = draft.data.setdefault("routes", {})
    ports: dict[str, int | None] = {}
    if not published:
        if draft.services:
            draft.notes.todo(("routes",), "no service was published or proxied in Compose, so nothing is routed: add "
                                          "routes (path -> service) for what the public reaches")
        return ports
    fronts = [s for s in published if FRONTEND.search(s) and not STREAMING.search(s)] or published[:1]
    front = fronts[0]
    apis = [s for s in published if s != front and API.search(s) and not STREAMING.search(s)]
    for compose_name in published:
        name = draft.berth_name(compose_name)
        path = "/" if compose_name == front else _served_under(project.services[compose_name]) or (
            "/api/" if apis[:1] == [compose_name] else f"/{name}/")
        routes[path] = {"service": name}
        if STREAMING.search(compose_name):
            routes[path]["websocket"] = True
            draft.notes.todo(("routes", path), f"GUESSED websocket: {compose_name}'s name says it holds connections "
                                               "open (WebSocket or server-sent events); set stream: true for SSE")
        target = _web_ports(project.services[compose_name])[0]
        ports[compose_name] = target
        draft.notes.todo(("routes", path), f"GUESSED from the published port {target} of {compose_name}"
                                           + ("" if path == "/" else ": check whether its paths start with "
                                              f"{path} (else add stripPrefix: true)")
                                           + ("; pass --nginx-conf to read the proxy's own routes" if proxied else ""))
    return ports


def _served_under(svc: dict) -> str | None:
    """The prefix a service's own healthcheck says it serves under (`/api/v1/streaming/health` ->
    `/api/v1/streaming/`), when that path is deeper than a health endpoint of its own."""
    test = (svc.get("healthcheck") or {}).get("test")
    match = re.search(r"(?:localhost|127\.0\.0\.1)(?::\d+)?(/[^\s'\"|]*)", " ".join(test) if isinstance(test, list) else
                      str(test or ""))
    parts = [p for p in (match.group(1) if match else "").split("/") if p]
    if len(parts) >= 2 and re.fullmatch(r"health|healthz|ping|ready|readyz|live|livez|status", parts[-1]):
        return "/" + "/".join(parts[:-1]) + "/"
    return None


def _web_ports(svc: dict) -> list[int]:
    """The container ports Compose published over TCP that may carry HTTP (not DNS, mail, databases, ...)."""
    return [int(p["target"]) for p in svc.get("ports") or [] if p.get("published") and
            p.get("protocol", "tcp") == "tcp" and int(p["target"]) not in probes.NON_HTTP_PORTS]
