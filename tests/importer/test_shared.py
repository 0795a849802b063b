"""Postgres and Redis under other names (importer/images.py, importer/shared.py): Postgres and Redis under
any name are recognised; plain Postgres and every Redis-compatible server are replaced by berth's (a Redis
image with modules a TODO); a Postgres built for an extension berth's shared Postgres does not create
stays a service of the app with its settings; a database named like Postgres's own is never an app's
name."""

from __future__ import annotations

import pytest

from importer import images
from tests.support.compose_import import import_fixture, run_import


def test_a_postgres_built_for_an_untrusted_extension_stays_the_apps_own(tmp_path):
    """berth creates only Postgres's trusted extensions (rules/postgres.py): pgvector's image stays, with its
    settings, a check that runs in it, and the app's settings for it renamed to its service name."""
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  api:\n    image: example/api:1.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "    environment: {DB_HOSTNAME: chat_postgres, DATABASE_URL: 'postgres://chat:${DB_PASSWORD}@chat_postgres/chat'}\n"
        "  database:\n    image: pgvector/pgvector:0.8.0-pg16\n    container_name: chat_postgres\n"
        "    environment: {POSTGRES_DB: chat, POSTGRES_PASSWORD: '${DB_PASSWORD}'}\n"
        "    volumes: [pgdata:/var/lib/postgresql/data]\n"
        "volumes:\n  pgdata:\n")
    (tmp_path / ".env").write_text("DB_PASSWORD=vector-db-password-1\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "chat", "--stack", "prod")
    app = result.apps["chat"]
    db = app["services"]["database"]
    assert "database" not in app and db["image"] == "pgvector/pgvector:0.8.0-pg16"
    assert db["env"] == {"POSTGRES_DB": "chat"} and db["secretEnv"] == {"POSTGRES_PASSWORD": "chatPostgresPassword"}
    assert db["healthcheck"]["command"][2].startswith("pg_isready") and db["volumes"] == {"pgdata": "/var/lib/postgresql/data"}
    assert app["services"]["api"]["env"] == {"DB_HOSTNAME": "database"}
    assert any("berth's shared Postgres cannot stand in for pgvector/pgvector:0.8.0-pg16: it brings the vector "
               "extension" in t for t in result.todos)
    assert "vector-db-password-1" not in result.everything and result.problems == []


def test_redis_stack_is_the_apps_redis_and_its_modules_a_todo(tmp_path):
    result = import_fixture(tmp_path, "databases")
    assert result.apps["shop"]["redis"] == {"mode": "store"} and "cache" not in result.apps["shop"]["services"]
    assert any("Redis with modules (search, JSON) berth's default Redis image lacks" in t for t in result.todos)
    assert any("`scripts/volume restore --replace shop_redis < redis.tar.gz`" in t for t in result.todos)


@pytest.mark.parametrize("ref,replaced,kept,redis", [
    ("postgres:17.6-alpine", True, False, False), ("docker.io/library/postgres:16", True, False, False),
    ("ghcr.io/example/postgres:15.4", True, False, False), ("bitnami/postgresql:16.4.0", True, False, False),
    ("tensorchord/pgvecto-rs:pg16-v0.3.0", False, True, False), ("zulip/zulip-postgresql:14", False, True, False),
    ("pgvector/pgvector:0.8.0-pg16", False, True, False), ("supabase/postgres:15.8.1.085", False, True, False),
    ("supabase/postgres-meta:v0.95.2", False, False, False), ("eqalpha/keydb:x86_64_v6.3.4", False, False, True),
    ("docker.dragonflydb.io/dragonflydb/dragonfly:v1.23.2", False, False, True),
    ("valkey/valkey:8.0.1", False, False, True), ("redis/redis-stack-server:7.4.0-v1", False, False, True),
    ("bitnami/redis-cluster:7.2", False, False, False), ("rediscommander/redis-commander:latest", False, False, False)])
def test_postgres_and_redis_are_told_by_their_images(ref, replaced, kept, redis):
    assert (images.is_postgres(ref), bool(images.own_postgres(ref)), images.is_redis(ref)) == (replaced, kept, redis)


def test_a_redis_compatible_server_is_the_apps_redis(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  api:\n    image: example/api:1.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "    environment: {CACHE_URL: 'redis://cache:6379/0'}\n"
        "  cache:\n    image: docker.dragonflydb.io/dragonflydb/dragonfly:v1.23.2\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "shop")
    app = result.apps["shop"]
    assert app["services"]["api"]["uses"] == {"redis": "CACHE_URL"} and app["redis"] == {"mode": "cache"}
    assert "speaks Redis's protocol" in result.texts["shop"]


def test_a_database_named_like_postgres_own_never_names_the_app(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "name: wiki\nservices:\n"
        "  web:\n    image: example/wiki:2.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "    environment: {DATABASE_URL: 'postgres://postgres:pw-value-123@db:5432/postgres'}\n"
        "  db:\n    image: postgres:17.6\n    environment: {POSTGRES_DB: postgres, POSTGRES_PASSWORD: pw-value-123}\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml")
    assert set(result.apps) == {"wiki"}
    todo = next(t for t in result.todos if "the Compose database was 'postgres'" in t)
    assert "--app" not in todo and "pg_restore -d wiki" in todo


def test_a_second_postgres_or_redis_is_a_todo_not_a_silent_merge(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  api:\n    image: example/api:1.0.0\n    healthcheck: {test: [CMD, check]}\n"
        "    environment: {DATABASE_URL: 'postgres://u:pw-1234567@main-db/app', AUDIT_DB_HOST: audit-db,"
        " REDIS_URL: 'redis://queue:6379/0', CACHE_URL: 'redis://cache:6379/0'}\n"
        "  main-db:\n    image: postgres:17.6\n"
        "  audit-db:\n    image: postgres:17.6\n    volumes: [audit:/var/lib/postgresql/data]\n"
        "  queue:\n    image: redis:7.4.5\n  cache:\n    image: valkey/valkey:8.0.1\n"
        "volumes:\n  audit:\n")
    result = run_import(tmp_path, tmp_path / "docker-compose.yml", "--app", "shop")
    todos = " ".join(result.todos)
    assert ("the app also reached the Compose audit-db (postgres); berth gives an app one database, main-db's "
            "stand-in: the services that used audit-db now share it, and audit-db's data (/var/lib/postgresql/data) "
            "must be moved into it") in todos
    assert "the app also reached the Compose" in todos.split("audit-db (postgres)")[1]  # and a second Redis
