"""Routes from published ports (importer/routes.py): without a proxy config, the front page is the web
app, an API its /api/, and a streaming or worker service never takes the web app's /api/; ports that
carry no HTTP (DNS, game servers, VPNs, log shippers) are no routes and get no HTTP healthcheck."""

from __future__ import annotations

from tests.support.compose_import import import_fixture


def test_a_streaming_server_gets_the_prefix_its_own_health_path_names_not_the_apps_api(tmp_path):
    result = import_fixture(tmp_path, "routes-streaming")
    routes = result.apps["social"]["routes"]
    assert routes == {"/api/v1/streaming/": {"service": "streaming", "websocket": True}, "/": {"service": "web"}}
    assert any("GUESSED websocket" in t for t in result.todos)
    assert "port" not in result.apps["social"]["services"]["sidekiq"]


def test_without_a_health_path_a_streaming_server_gets_its_own_prefix(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  web:\n    image: example/web:1.0.0\n    ports: ['3000:3000']\n"
        "  api:\n    image: example/api:1.0.0\n    ports: ['8000:8000']\n"
        "  realtime:\n    image: example/realtime:1.0.0\n    ports: ['4000:4000']\n")
    from tests.support.compose_import import run_import
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "chat")
    assert result.apps["chat"]["routes"] == {"/": {"service": "web"}, "/api/": {"service": "api"},
                                             "/realtime/": {"service": "realtime", "websocket": True}}


def test_tcp_and_udp_ports_are_no_web_routes_and_get_no_http_check(tmp_path):
    result = import_fixture(tmp_path, "tcp-udp")
    app = result.apps["lan"]
    assert app["routes"] == {"/": {"service": "dns"}}  # its web console on 80; DNS itself is not HTTP
    for name in ("game", "logs"):
        assert "path" not in app["services"][name]["healthcheck"], name
    unreachable = [t for t in result.todos if "which is not HTTP" in t]
    assert [t.split(":")[0] for t in unreachable] == ["apps/lan.yaml services.dns", "apps/lan.yaml services.game",
                                                      "apps/lan.yaml services.logs"]
    assert "53/udp, 53/tcp" in unreachable[0] and "5044/tcp, 50000/udp" in unreachable[2]
