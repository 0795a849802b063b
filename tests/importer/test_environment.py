"""Environment (importer/environment.py): however a service reached the Compose Postgres or Redis (a URL,
a JDBC URL, host/user/password settings, the container's name), the app gets its own database or Redis
and a TODO naming the variable berth hands the URL in; never a database dropped in silence, never a
TODO about `(None)`; a container that runs Postgres itself keeps its settings."""

from __future__ import annotations

from tests.support.compose_import import import_fixture, prose, run_import


def test_jdbc_urls_and_host_settings_keep_the_database(tmp_path):
    result = import_fixture(tmp_path, "databases")
    app = result.apps["shop"]
    for name in ("api", "flows", "reports"):
        assert app["services"][name]["uses"]["postgres"] == "DATABASE_URL", name
    assert "database" in app and "(None)" not in result.stdout
    todos = " ".join(result.todos)
    assert "SPRING_DATASOURCE_URL was a JDBC URL of the Compose postgres" in todos
    assert "DB_POSTGRESDB_HOST, DB_POSTGRESDB_PASSWORD, DB_POSTGRESDB_PORT, DB_POSTGRESDB_USER dropped" in todos
    assert "PGHOST, PGPASSWORD, PGUSER dropped" in todos
    # the container_name (shop_postgres) names the database as surely as the service name does
    assert "DB_POSTGRESDB_HOST" not in app["services"]["flows"].get("env", {})
    assert app["services"]["flows"]["env"] == {"DB_TYPE": "postgresdb"}
    # a setting that names a kind of cache, not a host, stays
    assert app["services"]["reports"]["env"] == {"CACHE_DRIVER": "redis"}
    assert app["services"]["flows"]["uses"]["redis"] == "REDIS_URL"


def test_a_database_no_setting_reaches_is_a_todo_not_a_silent_drop(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  api:\n    image: example/api:1.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "  db:\n    image: postgres:17.6\n    volumes: [pgdata:/var/lib/postgresql/data]\n"
        "volumes:\n  pgdata:\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "shop")
    assert any("the Compose db service (postgres) is reached by no setting berth reads" in t for t in result.todos)


def test_a_postgres_the_app_needs_whole_keeps_its_settings(tmp_path):
    result = import_fixture(tmp_path, "own-postgres")
    services = result.apps["platform"]["services"]
    assert services["db"]["image"] == "supabase/postgres:15.8.1.085"
    assert services["db"]["env"] == {"POSTGRES_DB": "platform", "POSTGRES_PORT": "5432"}
    assert services["db"]["secretEnv"] == {"POSTGRES_PASSWORD": "platformPostgresPassword"}
    assert services["rest"]["env"] == {"POSTGRES_DB": "platform", "POSTGRES_HOST": "db"}
    assert "database" not in result.apps["platform"] and "own-postgres-password-value" not in result.everything


def test_empty_credentials_are_secrets_too_so_prod_accepts_the_file(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  mail:\n    image: example/mail:1.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "    environment: {SMTP_PASSWORD: '', SMTP_HOST: smtp.example.org}\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "mail", "--stack", "prod")
    assert result.apps["mail"]["services"]["mail"]["secretEnv"] == {"SMTP_PASSWORD": "mailSmtpPassword"}
    assert "it was empty when Compose loaded the file" in prose(result.texts["mail"])
    assert result.problems == []
