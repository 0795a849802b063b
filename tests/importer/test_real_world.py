"""Real-world-shaped Compose files (tests/fixtures/compose/README.md says what each mirrors): a web app,
its database, cache and workers, often a proxy, with the features that make imports hard. Each imports
without a traceback into files that validate or a list of fixes, and keeps what the app relies on."""

from __future__ import annotations

import pytest

from tests.support.compose_import import fixture, prose, run_import, with_checkouts

REAL_WORLD = {  # fixture -> extra arguments
    "plausible": [], "n8n": [], "outline": [], "mastodon": ["--nginx-conf", "{dir}/nginx.conf"],
    "sentry-lite": [], "django-celery": [],
}


def import_real_world(tmp_path, name: str, *more: str):
    where = fixture(tmp_path, name)
    with_checkouts(where / "docker-compose.yml")
    return run_import(tmp_path, where / "docker-compose.yml", *[a.format(dir=where) for a in REAL_WORLD[name]], *more)


@pytest.mark.parametrize("name", sorted(REAL_WORLD))
def test_a_real_world_file_imports_into_files_that_validate_or_a_list_of_fixes(tmp_path, name):
    result = import_real_world(tmp_path, name)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.apps, result.stderr
    if result.code == 0:
        assert "berth's loader accepts the files" in result.stdout and result.problems == []
    else:
        assert result.code == 1 and result.problems
        for problem in result.problems:  # each names a file or config path, then what to do
            assert problem.startswith(("apps/", "berth:")) and ": " in problem
    assert "Needs a human before the first deploy:" in result.stdout
    for app in result.apps.values():
        for svc in app["services"].values():
            assert "ports" not in svc  # nothing is published but the proxy


def test_plausible_keeps_clickhouse_inside_and_its_database_name_in_the_todo(tmp_path):
    result = import_real_world(tmp_path, "plausible")
    app = result.apps["plausible"]
    assert app["routes"] == {"/": {"service": "plausible"}}  # its published port; ClickHouse gets none
    events = app["services"]["plausible-events-db"]
    assert events["healthcheck"] == {"path": "/ping", "probe": "wget", "startPeriodS": 60}
    assert app["services"]["plausible"]["env"]["CLICKHOUSE_DATABASE_URL"].startswith("http://plausible-events-db:8123/")
    assert "'plausible_db'" in result.stdout  # the database name the app asked for, and how to keep it


def test_n8n_anchors_and_merge_keys_reach_both_services_and_host_settings_need_a_human(tmp_path):
    result = import_real_world(tmp_path, "n8n")
    services = result.apps["n8n"]["services"]
    for name in ("n8n", "n8n-worker"):
        assert services[name]["image"] == "docker.n8n.io/n8nio/n8n:1.64.3"
        assert services[name]["secretEnv"] == {"N8N_ENCRYPTION_KEY": "n8nN8nEncryptionKey"}
        # Compose keeps it in the Docker volume n8n_n8n_storage: berth's <app>_<name> is that name
        assert services[name]["sharedVolumes"] == {"n8n_storage": "/home/node/.n8n"}
    assert "berth mounts the same Docker volume, n8n_n8n_storage" in prose(result.texts["n8n"])
    assert "DB_POSTGRESDB_HOST, DB_POSTGRESDB_PASSWORD" in " ".join(result.stdout.split())
    assert "init script init-data.sh (/docker-entrypoint-initdb.d/init-data.sh) is not SQL" in result.stdout
    # the worker answers /healthz once told to (n8n's queue mode)
    assert services["n8n-worker"]["env"]["QUEUE_HEALTH_CHECK_ACTIVE"] == "true"
    assert "changePassword" not in "".join(result.texts.values()) + result.stdout


def test_outline_routes_from_its_proxy_config_and_its_env_file_secrets(tmp_path):
    result = import_real_world(tmp_path, "outline")
    app = result.apps["outline"]  # named after its database, which so keeps its name
    assert app["routes"] == {"/": {"service": "outline", "websocket": True}} and app["maxBodyMb"] == 250
    outline = app["services"]["outline"]
    assert set(outline["secretEnv"]) == {"SECRET_KEY", "UTILS_SECRET", "SLACK_CLIENT_SECRET"}
    assert outline["uses"] == {"postgres": "DATABASE_URL", "redis": "REDIS_URL"}
    assert outline["env"]["SLACK_CLIENT_ID"] == "test-client-id"
    assert outline["volumes"] == {"storage_data": "/var/lib/outline/data"}
    assert "--secret outlineUtilsSecret <value>   # UTILS_SECRET of outline; today in env file docker.env" in result.stdout


def test_mastodon_streaming_route_and_named_location(tmp_path):
    result = import_real_world(tmp_path, "mastodon")
    app = result.apps["mastodon"]  # the Compose project (social.example.com is a placeholder name)
    assert app["routes"]["/api/v1/streaming"] == {"service": "streaming", "websocket": True, "stream": True}
    assert app["routes"]["/"]["service"] == "web"
    assert app["services"]["web"]["healthcheck"] == {"path": "/health", "probe": "wget"}
    assert "port" not in app["services"]["sidekiq"]


def test_sentry_upgrade_job_becomes_an_after_deploy_hook(tmp_path):
    result = import_real_world(tmp_path, "sentry-lite")
    services = result.apps["sentry-lite"]["services"]
    assert "sentry-upgrade" not in services
    hooks = [svc.get("afterDeploy") for svc in services.values() if svc.get("afterDeploy")]
    assert hooks == [[{"command": ["upgrade", "--noinput"]}]]
    assert services["web"]["healthcheck"]["path"] == "/_health/" and services["web"]["memoryMb"] == 2048
    assert "path" not in services["memcached"]["healthcheck"]  # no HTTP check of a data server's port


def test_django_celery_worker_beat_migrations_and_profiles(tmp_path):
    result = import_real_world(tmp_path, "django-celery")
    app = result.apps["django-celery"]  # its database `app` says nothing of it: named after the project
    services = app["services"]
    assert services["web"]["afterDeploy"] == [{"command": ["python", "manage.py", "migrate", "--noinput"]}]
    assert services["worker"]["healthcheck"]["command"][:4] == ["celery", "-A", "config", "inspect"]
    assert services["beat"]["singleton"] is True
    assert "flower" not in services and "POSTGRES_PASSWORD" not in services["web"].get("secretEnv", {})
    assert app["routes"] == {"/": {"service": "web", "timeoutS": 120}}
    with_profile = import_real_world(tmp_path / "again", "django-celery", "--profile", "monitoring")
    assert "flower" in with_profile.apps["django-celery"]["services"]
