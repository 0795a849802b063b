"""Routes from the Compose proxy's nginx config (importer/nginx.py, importer/proxies.py): nginx's own
semantics for prefixes, WebSockets and streams; upstreams named by variables; a config found where the
proxy keeps it (mounted, or built into its image); regex locations a TODO; one upstream over copies of
one image is one service with replicas."""

from __future__ import annotations

from importer import nginx
from tests.support.compose_import import import_fixture


def test_nginx_prefix_stripping_follows_proxy_pass_semantics():
    conf = """
    http { upstream api { ip_hash; server api:8000; }
      server { server_name shop.example.com; client_max_body_size 20M;
        location /api/ { proxy_pass http://api/; proxy_read_timeout 3m; }
        location /keep/ { proxy_pass http://api; proxy_buffering off; }
        location /ws { proxy_pass http://web:3000; proxy_set_header Upgrade $http_upgrade; }
        location /plain/ { proxy_pass http://docs; }
        location ~* \\.js$ { expires 1y; } } }"""
    (server,) = nginx.servers(conf)
    by_path = {loc.path: loc for loc in server.locations}
    assert (by_path["/api/"].strip_prefix, by_path["/api/"].sticky, by_path["/api/"].timeout_s) == (True, True, 180)
    assert (by_path["/keep/"].strip_prefix, by_path["/keep/"].stream) == (False, True)
    assert (by_path["/ws"].service, by_path["/ws"].port, by_path["/ws"].websocket) == ("web", 3000, True)
    assert by_path["/plain/"].port == 80  # nginx's default for http://
    assert server.max_body_mb == 20 and server.regex == ["~* \\.js$"]


def test_upstreams_named_by_variables_are_read(tmp_path):
    result = import_fixture(tmp_path, "nginx-variables")
    routes = result.apps["library"]["routes"]
    assert routes == {"/api/": {"service": "api", "stripPrefix": True}, "/docs/": {"service": "docs"}}
    assert result.apps["library"]["services"]["api"]["port"] == 9091
    assert "routes read from default.conf.template, the config of the Compose proxy service" in \
        " ".join(result.texts["library"].replace("#", " ").split())


def test_a_regex_location_is_a_todo(tmp_path):
    result = import_fixture(tmp_path, "nginx-variables")
    assert any("nginx `location ~* \\.(png|jpg)$` is a regex or exact-match location, not converted" in t
               for t in result.todos)


def test_one_upstream_over_copies_of_one_image_is_one_service_with_replicas(tmp_path):
    result = import_fixture(tmp_path, "upstream-replicas")
    app = result.apps["counter"]
    assert list(app["services"]) == ["web1"] and app["services"]["web1"]["replicas"] == 2
    assert app["routes"] == {"/": {"service": "web1"}}
    assert result.problems == []


def test_an_upstream_over_different_services_sends_the_route_to_one_with_a_todo(tmp_path):
    (tmp_path / "nginx.conf").write_text(
        "upstream app { server blue:3000; server green:3000; }\nserver { location / { proxy_pass http://app; } }\n")
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  blue:\n    image: example/app:1.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "  green:\n    image: example/app:2.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "  nginx:\n    image: nginx:1.27.2\n    ports: ['80:80']\n"
        "    volumes: ['./nginx.conf:/etc/nginx/conf.d/default.conf:ro']\n")
    from tests.support.compose_import import run_import
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "shop")
    assert result.apps["shop"]["routes"] == {"/": {"service": "blue"}}
    assert any("its upstream balanced over blue, green, which are not one service" in t for t in result.todos)
