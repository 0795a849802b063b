"""What the loader accepts deploys: every value a real `pulumi up` (Docker, the provider, AWS, the
policy pack) would refuse half-way is refused before anything exists, with its path and what to do.
"""

from __future__ import annotations

import json

import pytest

from tests.support.app_files import load_app, load_apps, load_with_app, one_problem, problems_of, with_changes


def test_a_writable_root_is_refused_by_the_loader_as_by_the_policy_pack(tmp_path):
    """One rule (rules/containers.py): the mandatory pack refuses `readOnly: false`, so the loader does."""
    assert load_with_app(tmp_path, with_changes(api={"readOnly": False})) == [
        "apps/shop.yaml: services.api.readOnly: a writable root file system is refused: berth runs every container on "
        "a read-only root (CIS Docker 5.12); write to volumes and `tmpfs` paths instead, and leave readOnly out"]


@pytest.mark.parametrize("memory, kind, floor", [(1, "any container", 16), (15, "any container", 16)])
def test_a_memory_limit_no_container_starts_with_is_refused(tmp_path, memory, kind, floor):
    assert load_with_app(tmp_path, with_changes(api={"memoryMb": memory})) == [
        f"apps/shop.yaml: services.api.memoryMb: {memory} MiB is too little for {kind} (Docker refuses less than 6 MiB; "
        f"berth gives a service at least {floor} MiB); raise it"]


@pytest.mark.parametrize("key, value, where, kind", [
    ("berth:proxy", {"memoryMb": 64}, "berth:proxy.memoryMb", "proxy"),
    ("berth:shared", {"postgres": {"memoryMb": 128}}, "berth:shared.postgres.memoryMb", "postgres"),
    ("berth:shared", {"postgres": {}, "redis": {"memoryMb": 8}}, "berth:shared.redis.memoryMb", "redis"),
])
def test_a_stack_container_gets_at_least_what_its_server_needs(config_problems, key, value, where, kind):
    problems = config_problems("dev", plain={key: value})
    assert len(problems) == 1 and problems[0].startswith(f"{where}: ") and f"berth gives a {kind} at least" in problems[0]


@pytest.mark.parametrize("field, value, message", [
    ("volumeOwner", "4294967296", "4294967296 is not a uid or gid Linux has (at most 4294967294)"),
    ("volumeOwner", "1000:4294967295", "4294967295 is not a uid or gid Linux has"),
    ("volumeOwner", "node", "'node' is not a numeric owner: uid or uid:gid"),
    ("user", "99999999999", "99999999999 is not a uid or gid Linux has"),
    ("user", "node; id", "'node; id' is not a user or uid"),
    ("user", "a:b:c", "'a:b:c' is not a user or uid"),
])
def test_an_owner_linux_does_not_have_is_refused(tmp_path, field, value, message):
    assert one_problem(tmp_path, with_changes(api={field: value})).startswith(
        f"apps/shop.yaml: services.api.{field}: {message}")


@pytest.mark.parametrize("field, value", [("user", "node"), ("user", "1000:1000"), ("user", "www-data:www-data"),
                                          ("volumeOwner", "4294967294:0"), ("memoryMb", 16)])
def test_ordinary_owners_and_memory_are_accepted(tmp_path, field, value):
    assert load_app(tmp_path, with_changes(api={field: value})).apps["shop"]


@pytest.mark.parametrize("changes", [{"uses": {"postgres": "DB", "redis": "DB"}},
                                     {"env": {"DB": "x"}, "secretEnv": {"DB": "shopDb"}},
                                     {"secretEnv": {"DB": "shopDb"}, "uses": {"postgres": "DB"}}])
def test_an_env_var_is_given_once_per_service(tmp_path, changes):
    shop = with_changes(api=changes)
    shop |= {"database": {}, "redis": {"mode": "cache"}}
    assert one_problem(tmp_path, shop) == (
        "apps/shop.yaml: services.api: env var DB is given more than once across env, secretEnv and uses; the "
        "container gets one value of it: keep one")


@pytest.mark.parametrize("data, problem", [
    (b"SELECT 1;\n\xff", "is not UTF-8 text (line 2); save the file as UTF-8"),
    (b"SELECT 'a\x00b'", "has a NUL byte (line 1), where the query would end; remove it"),
])
def test_init_sql_postgres_cannot_take_as_a_query_is_refused(tmp_path, data, problem):
    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "init.sql").write_bytes(data)
    shop = with_changes(api={"uses": {"postgres": "DATABASE_URL"}}) | {"database": {"initSql": "init.sql"}}
    assert problems_of(tmp_path, {"shop": shop}) == [f"apps/shop.yaml: database.initSql: apps/init.sql {problem}"]


def test_init_sql_reaches_postgres_as_written(tmp_path):
    """A carriage return inside a string literal stays one (reading the file as text made it a newline)."""
    from components.common import app_database

    (tmp_path / "apps").mkdir()
    (tmp_path / "apps" / "init.sql").write_bytes(b"INSERT INTO t VALUES ('a\r\nb\rc');\r\n")
    shop = with_changes(api={"uses": {"postgres": "DATABASE_URL"}}) | {"database": {"initSql": "init.sql"}}
    deployment = load_apps(tmp_path, {"shop": shop})
    assert app_database(deployment.stack_app("shop"), "pw").init_sql == "INSERT INTO t VALUES ('a\r\nb\rc');\r\n"


@pytest.mark.parametrize("escape, what", [("\\0", "a NUL byte"), ("\\u0000", "a NUL byte"),
                                          ("\\ud800", "half of a UTF-16 surrogate pair, which is no character"),
                                          ("\\ude00\\ud83d", "half of a UTF-16 surrogate pair, which is no character")])
def test_an_escape_writing_what_no_deploy_carries_is_refused_with_its_line(tmp_path, escape, what):
    text = f'name: shop\nhostname: shop\nservices:\n  api:\n    image: example/api:1.0\n    command: ["a{escape}"]\n'
    assert one_problem(tmp_path, text) == f"apps/shop.yaml: line 6: an escape in this value writes {what}; remove it"


def test_a_character_beyond_the_basic_plane_written_as_json_escapes_is_that_character(tmp_path):
    shop = load_app(tmp_path, json.dumps(with_changes(api={"env": {"MOOD": "\U0001f600"}})))  # "\ud83d\ude00"
    assert shop.apps["shop"].services["api"].env == {"MOOD": "\U0001f600"}
