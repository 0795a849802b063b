"""Healthchecks (importer/healthchecks.py, importer/probes.py): Compose's check where it is one berth can
run (a plain GET becomes `path` + `probe`); else the check berth knows for the image, from the image's
own HEALTHCHECK or a probe with a tool it ships; else a guess a human must confirm, never an HTTP check
of a port that speaks no HTTP."""

from __future__ import annotations

import pytest

from importer import healthchecks, probes
from tests.support.compose_import import import_fixture


@pytest.mark.parametrize("test,port,expected", [
    (["CMD", "curl", "-f", "http://localhost:8000/health"], 8000, {"path": "/health", "probe": "curl"}),
    (["CMD-SHELL", "wget -qO- http://127.0.0.1:3000/ || exit 1"], 3000, {"path": "/", "probe": "wget"}),
    (["CMD-SHELL", "pg_isready -U x"], None, {"command": ["sh", "-c", "pg_isready -U x"]}),
    (["CMD", "curl", "-f", "http://localhost:9000/health"], 8000, {"command": ["curl", "-f", "http://localhost:9000/health"]}),
])
def test_healthchecks_become_paths_where_they_are_a_plain_get(test, port, expected):
    check, _ = healthchecks.convert({"test": test, "interval": "1m30s"}, port)
    assert check == {**expected, "intervalS": 90}


def test_a_compose_check_left_to_the_image_is_not_called_disabled():
    assert healthchecks.convert({"disable": False}, 2283) == (None, ["Compose keeps the image's own HEALTHCHECK"])
    assert healthchecks.convert({"disable": True}, 2283) == (None, ["Compose disables this healthcheck"])


def test_well_known_images_get_the_check_berth_knows_works_in_them(tmp_path):
    result = import_fixture(tmp_path, "known-images")
    services = result.apps["stack"]["services"]
    assert services["db"]["healthcheck"]["command"][2].startswith("healthcheck.sh --connect --innodb_initialized")
    assert services["docs"]["healthcheck"]["command"][2].startswith("mongosh --quiet")
    assert services["queue"]["healthcheck"] == {"command": ["rabbitmq-diagnostics", "-q", "ping"]}
    assert services["photos"]["healthcheck"] == {"command": ["immich-healthcheck"]}  # the image's HEALTHCHECK
    assert services["sso-worker"]["healthcheck"] == {"command": ["ak", "healthcheck"], "startPeriodS": 60}
    assert (services["runner"]["port"], services["runner"]["healthcheck"]) == (5680, {"path": "/healthz", "probe": "node"})
    # an n8n worker answers /healthz only when told to: the import turns it on
    assert services["worker"]["env"] == {"QUEUE_HEALTH_CHECK_ACTIVE": "true"}
    assert services["worker"]["healthcheck"] == {"path": "/healthz", "probe": "node"}
    assert not any("healthcheck" in t for t in result.todos) and result.problems == []


def test_every_known_probe_says_where_it_comes_from():
    for name, probe in {**probes.PROBES, **{"/".join(k): v for k, v in probes.COMMAND_PROBES.items()}}.items():
        assert probe.source and (probe.port or probe.check), name


def test_a_worker_with_no_port_gets_a_process_check_to_confirm(tmp_path):
    result = import_fixture(tmp_path, "routes-streaming")
    sidekiq = result.apps["social"]["services"]["sidekiq"]
    assert sidekiq["healthcheck"] == {"command": ["sh", "-c", "kill -0 1"], "startPeriodS": 10}
    assert any(t.startswith("apps/social.yaml services.sidekiq.healthcheck: GUESSED") for t in result.todos)


def test_an_image_with_no_shell_gets_no_guess(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services:\n  bus:\n    image: nats:2.10.22\n")
    from tests.support.compose_import import run_import
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "bus")
    assert "healthcheck" not in result.apps["bus"]["services"]["bus"]
    assert any("has no shell to run one in" in t for t in result.todos)
