"""Postgres and Redis under other names (importer/images.py, importer/shared.py): a vendor's Postgres
with extensions, Redis Stack and Redis-compatible servers are recognised and replaced by berth's, with
what the replacement needs (the vendor image for the shared Postgres, its extension, a Redis image with
modules); a database named like Postgres's own is never an app's name."""

from __future__ import annotations

import pytest

from importer import images
from tests.support.compose_import import import_fixture, run_import


def test_a_vendor_postgres_is_replaced_by_the_shared_one_running_that_image(tmp_path):
    result = import_fixture(tmp_path, "databases")
    app = result.apps["shop"]
    assert "db" not in app["services"] and app["database"] == {"extensions": ["vchord"]}
    image = "ghcr.io/immich-app/postgres:14-vectorchord0.4.3@sha256:" \
            "32324a2f41df5de9efe1af166b7008c3f55646f8d0e00d9550c16c9822366b4a"
    assert result.overlay["berth:shared"]["postgres"] == {"image": image}
    assert any(t.startswith("apps/shop.yaml shared.postgres.image: Compose ran") for t in result.todos)


def test_redis_stack_is_the_apps_redis_and_its_modules_a_todo(tmp_path):
    result = import_fixture(tmp_path, "databases")
    assert result.apps["shop"]["redis"] == {"mode": "store"} and "cache" not in result.apps["shop"]["services"]
    assert any("Redis with modules (search, JSON) berth's default Redis image lacks" in t for t in result.todos)
    assert any("`scripts/volume restore --replace shop_redis < redis.tar.gz`" in t for t in result.todos)


@pytest.mark.parametrize("ref,postgres,redis", [
    ("postgres:17.6-alpine", True, False), ("docker.io/library/postgres:16", True, False),
    ("tensorchord/pgvecto-rs:pg16-v0.3.0", True, False), ("zulip/zulip-postgresql:14", True, False),
    ("ghcr.io/example/postgres:15.4", True, False), ("supabase/postgres:15.8.1.085", False, False),
    ("supabase/postgres-meta:v0.95.2", False, False), ("eqalpha/keydb:x86_64_v6.3.4", False, True),
    ("docker.dragonflydb.io/dragonflydb/dragonfly:v1.23.2", False, True), ("valkey/valkey:8.0.1", False, True),
    ("redis/redis-stack-server:7.4.0-v1", False, True), ("bitnami/redis-cluster:7.2", False, False),
    ("rediscommander/redis-commander:latest", False, False)])
def test_postgres_and_redis_are_told_by_their_images(ref, postgres, redis):
    assert (images.is_postgres(ref), images.is_redis(ref)) == (postgres, redis)


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
