"""The proxy's Caddyfile, rendered from the apps' routes.

Why Caddy: automatic HTTPS with certificates kept on a volume, a one-line switch to the CA's staging
endpoint, upstreams resolved per request (the proxy starts and serves every other app while one
upstream is down or not yet created; nginx refuses to start on an unknown upstream name), WebSocket
upgrades without configuration, and `caddy validate` to prove the rendered file in tests.

How routes become Caddy config (docs/proxy.md tells the whole story):
- A route path matches itself and everything below it: `/api/` (or `/api`) matches `/api` and
  `/api/x`, never `/apix`. The longest path wins; `/` is the fallback.
- Each route is one `handle` block with its own body limit and compression. Caddy nests body limits
  (the smallest wins), so a site-wide limit would cap a route that asks for more.
- Streaming routes (Server-Sent Events) are flushed at once and never compressed: Caddy's `encode`
  holds back an event stream's headers and small events (caddyserver/caddy#6293).
- `timeoutS` bounds how long a service may stay silent (nginx's proxy_read_timeout). Unset, Caddy
  sets no limit, so WebSockets and long streams are never cut by the proxy.

Values from app and stack files never become Caddy syntax or placeholders: header values and the
ACME contact are written as quoted tokens with `"`, `{` and `}` escaped (rules/caddy.py says why that
is literal in Caddy 2.10.2, and refuses what cannot be); host names, paths and upstreams are written
bare only when they are plain words, else rendering stops.

`plan()` turns a Deployment into plain data; `render()` turns that data into text. Both are pure.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from pydantic.alias_generators import to_camel

from config import conventions
from config.app import App
from config.deployment import Deployment
from rules.routes import route_precedence
from rules.caddy import quoted, word

LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
HEALTH_BODY = "healthy"
COMPRESSION = "encode zstd gzip"
HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
# Content-hashed files never change under their name: a year, and no revalidation.
IMMUTABLE = "public, max-age=31536000, immutable"
# Upstreams see the client's address as nginx's `proxy_set_header X-Real-IP $remote_addr` gave it
# (seeds 000, 001, 003); Caddy sets X-Forwarded-For/-Proto/-Host itself. Set, never appended: a
# client cannot pass its own value through.
REAL_IP = ("X-Real-IP", "{remote_host}")
# A request the proxy could not hand to a service is tried again for this long, every 250 ms (Caddy
# 2.10.2 modules/caddyhttp/reverseproxy/reverseproxy.go `tryAgain`, and Provision's default
# `TryInterval`): always when the dial failed (the container is being replaced or restarted, or its name
# does not resolve yet), and for a GET also when the connection broke before an answer. So a request that
# arrives while a service's old container goes (a create-first replacement: Docker's DNS may still hand
# out its address) or while it restarts waits for it instead of failing, and one that cannot be served
# answers 502 after this long (and its last try's dial, up to CADDY_DIAL_TIMEOUT_S). No other request that
# may have reached a service is sent again. A request with a body (a POST, a PUT) is not saved this way in
# 2.10.2: the transport closes its body on the failed dial, so the next try answers 502 at once
# (caddyserver/caddy#7546; fixed after 2.10.2 by #7547).
# Several replicas: the next try goes to another replica, and the failed one is left out of rotation (and
# out of the sticky hash) for `FAIL_DURATION`. One replica has nothing to fail over to: no fail duration,
# which would leave its only upstream out for that long (503).
TRY_DURATION_S = 5
CADDY_DIAL_TIMEOUT_S = 3  # one try's dial, when the transport sets none (httptransport.go, Provision)
FAIL_DURATION = "30s"
# On stop (a config change replaces the proxy) Caddy stops listening at once and lets requests in flight
# finish for this long. Without a bound an open event stream holds the old proxy, and ports 80/443,
# until Docker kills it.
GRACE_PERIOD_S = 5
# Every site's access log: one JSON line per request on the proxy's stdout (`docker logs proxy`,
# scripts/logs, CloudWatch Logs), its `status` and `request.host` per app. Headers are left out:
# Caddy blanks only Cookie, Set-Cookie, Authorization and Proxy-Authorization
# (modules/caddyhttp/marshalers.go, v2.6.2 and v2.10.2), and an app may carry a key in another one.
# `wrap` and `fields` read the same in both versions (modules/logging/filterencoder.go).
ACCESS_LOG = ["log {", "\toutput stdout", "\tformat filter {", "\t\twrap json", "\t\tfields {",
              "\t\t\trequest>headers delete", "\t\t\tresp_headers delete", "\t\t}", "\t}", "}"]


@dataclass(frozen=True)
class Rule:
    """One path of one site: where requests go and how they are carried."""

    path: str
    max_body_mb: int
    upstreams: tuple[str, ...] = ()
    strip_prefix: bool = False
    stream: bool = False
    timeout_s: int | None = None
    sticky: bool = False
    static_root: str | None = None
    spa: bool = False


@dataclass(frozen=True)
class Headers:
    """What a site's responses carry besides the content (apps/<app>.yaml `headers`)."""

    frame_options: str = "DENY"
    referrer_policy: str = "strict-origin-when-cross-origin"
    content_security_policy: str | None = None
    immutable: tuple[str, ...] = ()


@dataclass(frozen=True)
class Site:
    host: str
    rules: tuple[Rule, ...]
    headers: Headers = Headers()


@dataclass(frozen=True)
class ProxyPlan:
    sites: tuple[Site, ...]
    tls: bool = True
    hsts: bool = False
    acme_email: str | None = None
    acme_staging: bool = False
    http_port: int = 80  # ECS's edge proxy listens on 8080 behind the load balancer
    # X-Real-IP to upstreams: the client's address. Behind ECS's load balancer the proxy's peer is the
    # load balancer, whose X-Forwarded-For carries the client instead.
    real_ip: bool = True


def _rules(app: App) -> tuple[Rule, ...]:
    rules = []
    for path, route in app.routes.items():
        svc = app.services[route.service]
        body = route.max_body_mb or app.max_body_mb
        if svc.kind == "static":
            # A static site's files are relative to its route (`vite build --base /docs/`): strip the path.
            rules.append(Rule(path=path, max_body_mb=body, strip_prefix=True, spa=route.spa,
                              static_root=conventions.site_root(app.name, route.service)))
            continue
        upstreams = tuple(f"{conventions.edge_alias(app.name, route.service, n)}:{svc.port}"
                          for n in conventions.replica_numbers(svc.replicas))
        rules.append(Rule(path=path, max_body_mb=body, upstreams=upstreams, strip_prefix=route.strip_prefix,
                          stream=route.stream, timeout_s=route.timeout_s, sticky=route.sticky))
    return tuple(rules)


def site_headers(app: App) -> Headers:
    h = app.headers
    return Headers(frame_options=h.frame_options, referrer_policy=h.referrer_policy,
                   content_security_policy=h.content_security_policy, immutable=tuple(h.immutable))


def plan(deployment: Deployment) -> ProxyPlan:
    tls = deployment.policy.serves_https
    proxy = deployment.settings.proxy
    return ProxyPlan(
        sites=tuple(Site(deployment.hostname(app), _rules(app), site_headers(app)) for app in deployment.apps.values()),
        tls=tls,
        hsts=deployment.policy.hsts,
        acme_email=proxy.acme_email if tls else None,
        acme_staging=proxy.acme_staging and tls,
    )


def route_table(plan_: ProxyPlan) -> dict[str, dict]:
    """Every route as plain data (`host/path` -> where it goes and how): the stack output `routes`.

    The offline plan reads it from the stack's outputs, so a plan never imports this module (one
    commit's plan tool can describe another commit's run).
    """
    routes = {}
    for site in plan_.sites:
        for rule in site.rules:
            fields = {to_camel(k): list(v) if isinstance(v, tuple) else v for k, v in asdict(rule).items()
                      if k != "path" and v not in (None, False, (), [])}
            routes[f"{site.host}{rule.path}"] = {"host": site.host, "path": rule.path, **fields}
    return routes


def proxy_summary(plan_: ProxyPlan) -> dict:
    """The proxy's stack-wide settings as plain data: the stack output `proxy`."""
    return {to_camel(k): v for k, v in asdict(plan_).items() if k != "sites"}


# --- text ----------------------------------------------------------------------------------------

def _block(lines: list[str], depth: int = 1) -> list[str]:
    return ["\t" * depth + line if line else "" for line in lines]


def _matcher_name(path: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_")
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def _reverse_proxy(rule: Rule, real_ip: bool) -> list[str]:
    inner = [f"header_up {REAL_IP[0]} {REAL_IP[1]}"] if real_ip else []
    # A GET that ran into the route's timeout is never sent again: no try starts after that long.
    try_duration = f"lb_try_duration {min(TRY_DURATION_S, rule.timeout_s or TRY_DURATION_S)}s"
    if len(rule.upstreams) > 1:
        # ip_hash: the client's address picks the replica, so Socket.IO's polling and upgrade requests
        # land on one replica without the client keeping a cookie (seed 002).
        inner += [f"lb_policy {'ip_hash' if rule.sticky else 'round_robin'}", try_duration,
                  f"fail_duration {FAIL_DURATION}"]
    else:
        inner.append(try_duration)
    if rule.stream:
        inner.append("flush_interval -1")  # Server-Sent Events: pass every chunk through at once
    if rule.timeout_s:
        inner += ["transport http {", f"\tread_timeout {rule.timeout_s}s", f"\twrite_timeout {rule.timeout_s}s", "}"]
    head = f"reverse_proxy {' '.join(map(word, rule.upstreams))}"
    return [head + " {", *_block(inner), "}"] if inner else [head]


def _static(rule: Rule, root: str, site: Site, taken: set[str]) -> list[str]:
    lines = [f"root * {word(root)}"]
    # the site's hashed-file paths as this route's files see them (its prefix stripped)
    prefix = rule.path.rstrip("/")
    immutable = [p[len(prefix):] for p in site.headers.immutable if p.startswith(prefix + "/")]
    if rule.spa and immutable:
        matcher = _matcher_name(f"{prefix}_spa", taken)
        # Client-side routes get the app's index.html, but a missing hashed file is a 404: index.html
        # under that name would be kept for a year (try_files, spelled out to leave those paths out).
        lines += [f"@{matcher} {{", "\tfile {path} {path}/ /index.html",
                  f"\tnot path {' '.join(map(word, immutable))}", "}",
                  f"rewrite @{matcher} {{http.matchers.file.relative}}"]
    elif rule.spa:
        lines.append("try_files {path} {path}/ /index.html")  # client-side routes get the app's index.html
    lines.append("file_server")
    return lines


def _handle(rule: Rule, matcher: str | None, site: Site, taken: set[str], plan_: ProxyPlan) -> list[str]:
    body = ["request_body {", f"\tmax_size {rule.max_body_mb}MB", "}"]
    if not rule.stream:
        body.append(COMPRESSION)
    if rule.strip_prefix and matcher:
        body.append(f"uri strip_prefix {word(rule.path.rstrip('/'))}")
    if rule.static_root:
        body += _static(rule, rule.static_root, site, taken)
    else:
        body += _reverse_proxy(rule, plan_.real_ip)
    return [f"handle{f' @{matcher}' if matcher else ''} {{", *_block(body), "}"]


def _headers(site: Site, plan_: ProxyPlan) -> list[str]:
    h = site.headers
    pairs = [HSTS] if plan_.hsts else []
    pairs += [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", h.frame_options),
              ("Referrer-Policy", h.referrer_policy)]
    if h.content_security_policy:
        pairs.append(("Content-Security-Policy", h.content_security_policy))
    lines = ["header {", *[f"\t{name} {quoted(value)}" for name, value in pairs], "\t-Server", "}"]
    if h.immutable:
        # `?`: only when the response does not say itself how to cache (Next.js marks a missing file no-store).
        lines += [f"@immutable path {' '.join(map(word, h.immutable))}",
                  f"header @immutable ?Cache-Control {quoted(IMMUTABLE)}"]
    return lines


def _site(site: Site, plan_: ProxyPlan) -> list[str]:
    address = word(site.host) if plan_.tls else f"http://{word(site.host)}"
    body = ACCESS_LOG + _headers(site, plan_)
    taken: set[str] = {"immutable"}  # the site's own matcher (_headers)
    for rule in sorted(site.rules, key=lambda r: route_precedence(r.path)):
        if rule.path == "/":
            body += _handle(rule, None, site, taken, plan_)
            continue
        prefix = word(rule.path.rstrip("/"))
        matcher = _matcher_name(prefix, taken)
        body += [f"@{matcher} path {prefix} {prefix}/*", *_handle(rule, matcher, site, taken, plan_)]
    if not any(r.path == "/" for r in site.rules):
        body += ["handle {", "\trespond 404", "}"]  # paths no route claims: not found, not an empty 200
    return [f"{address} {{", *_block(body), "}"]


def _globals(plan_: ProxyPlan) -> list[str]:
    lines = ["admin off", f"grace_period {GRACE_PERIOD_S}s"]  # config changes replace the container: no admin API
    if plan_.http_port != 80:
        lines.append(f"http_port {plan_.http_port}")
    if not plan_.tls:
        return lines + ["auto_https off"]
    if plan_.acme_email:
        lines.append(f"email {quoted(plan_.acme_email)}")
    if plan_.acme_staging:
        lines.append(f"acme_ca {LETS_ENCRYPT_STAGING}")
    # HTTP/3 needs UDP 443, which berth neither publishes nor opens: do not advertise it.
    return lines + ["servers {", "\tprotocols h1 h2", "}"]


def render(plan_: ProxyPlan) -> str:
    lines = ["# Rendered by berth from apps/*.yaml; edits here are overwritten.", "{", *_block(_globals(plan_)), "}", ""]
    # Requests for no known host name (and the proxy's own healthcheck) get the proxy's /health answer.
    # Named hosts still win on :80: their HTTPS redirects (and ACME challenges) come first.
    lines += [f":{plan_.http_port} {{", f'\trespond /health "{HEALTH_BODY}" 200', "\trespond 404", "}", ""]
    for site in plan_.sites:
        lines += _site(site, plan_) + [""]
    return "\n".join(lines)


def launch_command(caddyfile_path: str) -> list[str]:
    """The proxy container's command, on one host and on ECS alike: write the Caddyfile from the environment's
    `CADDYFILE` to `caddyfile_path`, then run Caddy on it as the official image's own command does
    (`caddy run --config /etc/caddy/Caddyfile --adapter caddyfile`)."""
    return ["sh", "-c", f'printf "%s" "$CADDYFILE" > {caddyfile_path} && '
                        f"exec caddy run --config {caddyfile_path} --adapter caddyfile"]
