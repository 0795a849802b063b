"""The proxy's Caddyfile, rendered from the apps' routes.

Why Caddy: automatic HTTPS with certificates kept on a volume, a one-line switch to the CA's staging
endpoint, upstreams resolved per request (the proxy starts and serves every other app while one
upstream is down or not yet created; nginx refuses to start on an unknown upstream name), WebSocket
upgrades without configuration, and `caddy validate` to prove the rendered file in tests.

`plan()` turns a Deployment into plain data; `render()` turns that data into text. Both are pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec import names
from spec.app import App
from spec.load import Deployment

LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
HEALTH_BODY = "healthy"


@dataclass(frozen=True)
class Rule:
    """One path of one site: where requests go and how they are carried."""

    path: str
    upstreams: tuple[str, ...] = ()
    strip_prefix: bool = False
    stream: bool = False
    timeout_s: int | None = None
    sticky: bool = False
    max_body_mb: int | None = None
    static_root: str | None = None
    spa: bool = False


@dataclass(frozen=True)
class Site:
    host: str
    rules: tuple[Rule, ...]
    max_body_mb: int = 10


@dataclass(frozen=True)
class ProxyPlan:
    sites: tuple[Site, ...]
    tls: bool = True
    hsts: bool = False
    acme_email: str | None = None
    acme_staging: bool = False


def _rules(app: App) -> tuple[Rule, ...]:
    rules = []
    for path, route in app.routes.items():
        svc = app.services[route.service]
        if svc.kind == "static":
            rules.append(Rule(path=path, static_root=names.site_root(app.name, route.service), spa=route.spa,
                              max_body_mb=route.max_body_mb))
            continue
        upstreams = tuple(f"{names.edge_alias(app.name, route.service, n)}:{svc.port}"
                          for n in names.replica_numbers(svc.replicas))
        rules.append(Rule(path=path, upstreams=upstreams, strip_prefix=route.strip_prefix, stream=route.stream,
                          timeout_s=route.timeout_s, sticky=route.sticky, max_body_mb=route.max_body_mb))
    return tuple(rules)


def plan(deployment: Deployment) -> ProxyPlan:
    tls = deployment.environment != "dev"
    proxy = deployment.settings.proxy
    return ProxyPlan(
        sites=tuple(Site(deployment.hostname(app), _rules(app), app.max_body_mb) for app in deployment.apps.values()),
        tls=tls,
        hsts=deployment.is_prod,
        acme_email=proxy.acme_email if tls else None,
        acme_staging=proxy.acme_staging and tls,
    )


# --- text ----------------------------------------------------------------------------------------

def _matcher(path: str) -> str:
    """`/` is the site's fallback; `/api/` and `/ws` are prefixes (as nginx `location` treats them)."""
    if path == "/":
        return ""
    return f" {path}*"


def _block(lines: list[str], depth: int) -> list[str]:
    return ["\t" * depth + line if line else "" for line in lines]


def _reverse_proxy(rule: Rule) -> list[str]:
    inner = []
    if len(rule.upstreams) > 1:
        inner += [f"lb_policy {'ip_hash' if rule.sticky else 'round_robin'}", "lb_try_duration 5s", "fail_duration 30s"]
    if rule.stream:
        inner.append("flush_interval -1")  # Server-Sent Events: pass every chunk through at once
    if rule.timeout_s:
        inner += ["transport http {", f"\tread_timeout {rule.timeout_s}s", f"\twrite_timeout {rule.timeout_s}s", "}"]
    head = f"reverse_proxy {' '.join(rule.upstreams)}"
    if not inner:
        return [head]
    return [head + " {", *_block(inner, 1), "}"]


def _static(rule: Rule) -> list[str]:
    lines = [f"root * {rule.static_root}"]
    if rule.spa:
        lines.append("try_files {path} {path}/ /index.html")
    lines.append("file_server")
    return lines


def _handle(rule: Rule) -> list[str]:
    body = []
    if rule.max_body_mb:
        body += ["request_body {", f"\tmax_size {rule.max_body_mb}MB", "}"]
    body += _static(rule) if rule.static_root else _reverse_proxy(rule)
    directive = "handle_path" if rule.strip_prefix else "handle"
    return [f"{directive}{_matcher(rule.path)} {{", *_block(body, 1), "}"]


def _headers(plan_: ProxyPlan) -> list[str]:
    lines = ["header {"]
    if plan_.hsts:
        lines.append('\tStrict-Transport-Security "max-age=31536000; includeSubDomains"')
    lines += [
        '\tX-Content-Type-Options "nosniff"',
        '\tX-Frame-Options "SAMEORIGIN"',
        '\tReferrer-Policy "strict-origin-when-cross-origin"',
        "\t-Server",
        "}",
    ]
    return lines


def _site(site: Site, plan_: ProxyPlan) -> list[str]:
    address = site.host if plan_.tls else f"http://{site.host}"
    body = ["encode zstd gzip", *_headers(plan_), "request_body {", f"\tmax_size {site.max_body_mb}MB", "}"]
    for rule in sorted(site.rules, key=lambda r: (r.path == "/", -len(r.path))):
        body += _handle(rule)
    return [f"{address} {{", *_block(body, 1), "}"]


def render(plan_: ProxyPlan) -> str:
    globals_ = ["admin off"]  # config changes replace the container; nothing needs the admin API
    if plan_.tls:
        if plan_.acme_email:
            globals_.append(f"email {plan_.acme_email}")
        if plan_.acme_staging:
            globals_.append(f"acme_ca {LETS_ENCRYPT_STAGING}")
    else:
        globals_.append("auto_https off")
    lines = ["# Rendered by berth from apps/*.yaml; edits here are overwritten.", "{", *_block(globals_, 1), "}", ""]
    # Requests for no known host name (and the proxy's own healthcheck) get the proxy's /health answer.
    lines += [":80 {", f'\trespond /health "{HEALTH_BODY}" 200', "\trespond 404", "}", ""]
    for site in plan_.sites:
        lines += _site(site, plan_) + [""]
    return "\n".join(lines)
