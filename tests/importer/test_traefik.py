"""Routes from Traefik's Docker labels (importer/traefik.py): a router's PathPrefix is the route, its
Host the site, a stripprefix middleware stripPrefix, the service's load balancer port its port."""

from __future__ import annotations

from tests.support.compose_import import import_fixture


def test_traefik_routers_become_routes(tmp_path):
    result = import_fixture(tmp_path, "traefik-labels")
    app = result.apps["flows"]
    assert app["routes"] == {"/flows": {"service": "editor", "stripPrefix": True}, "/": {"service": "site"}}
    assert app["services"]["editor"]["port"] == 5678 and app["services"]["site"]["port"] == 8080
    assert app["hostname"] == "flows" and "traefik" not in app["services"]
    assert "metrics" not in str(app["routes"])  # traefik.enable=false


def test_a_prod_import_keeps_the_host_name_traefik_served(tmp_path):
    result = import_fixture(tmp_path, "traefik-labels", "--stack", "prod")
    assert result.overlay["berth:apps"]["flows"]["hostname"] == "flows.acme.dev"
