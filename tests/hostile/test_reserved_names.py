"""Names berth derives from an app's names never collide, and berth's own are not free.

Each case here was accepted before and failed half-way through a real deploy (a duplicate URN, a Docker
name in use) or, worse, made two things one: `x`'s data network was app `x-data`'s network, one app's
upstream answered for another's. tests/hostile/test_derived_names.py proves it over generated stacks.
"""

from __future__ import annotations

import pytest

from tests.support.app_files import problems_of


def app(name: str, **services) -> dict:
    """An app whose services (name -> extra settings) are small servers, each routed at /<name>."""
    return {"name": name, "hostname": name, "services": {
        s: {"image": "example/x:1.0.0", "port": 80, "healthcheck": {"path": "/"}, **extra} for s, extra in services.items()},
        "routes": {f"/{s}": {"service": s} for s in services}}


def test_two_apps_never_derive_one_container_or_upstream(tmp_path):
    problems = problems_of(tmp_path, {"a-b": app("a-b", c={}), "a": app("a", **{"b-c": {}})})
    assert "apps/a.yaml: services.b-c: service 'b-c' of app 'a' would be the Docker container and upstream 'a-b-c', " \
           "which is already service 'c' of app 'a-b'; rename one" in problems


@pytest.mark.parametrize("name, volume, physical, holder", [("shared", "postgres", "shared_postgres", "the shared Postgres data"),
                                                         ("berth", "proxy_data", "berth_proxy_data", "the proxy's certificates")])
def test_an_app_volume_is_never_one_of_berths(tmp_path, name, volume, physical, holder):
    problems = problems_of(tmp_path, {name: app(name, db={"volumes": {volume: "/d"}})})
    assert f"apps/{name}.yaml: services.db.volumes.{volume}: volume {volume!r} of app {name!r} would be the Docker " \
           f"volume {physical!r}, which is already {holder}; rename one" in problems


@pytest.mark.parametrize("other", ["x-data", "x-edge"])
def test_app_x_and_an_app_named_like_one_of_its_networks(tmp_path, other):
    problems = problems_of(tmp_path, {"x": app("x", web={}), other: app(other, web={})})
    kind = other.removeprefix("x-")
    assert f"apps/{other}.yaml: name: app {other!r}'s network would be the Docker network 'berth-{other}', which is " \
           f"already app 'x''s {kind} network; rename one" in problems


@pytest.mark.parametrize("name", ["proxy", "shared", "berth"])
def test_berths_own_names_are_not_an_apps(tmp_path, name):
    problems = problems_of(tmp_path, {name: app(name, web={})})
    assert [p for p in problems if p.startswith(f"apps/{name}.yaml: name: {name!r} is ")], problems


@pytest.mark.parametrize("service", ["edge", "postgres", "redis"])
def test_a_service_named_like_berths_own_is_refused(tmp_path, service):
    problems = problems_of(tmp_path, {"shop": app("shop", **{service: {}})})
    assert [p for p in problems if p.startswith(f"apps/shop.yaml: services.{service}: {service!r} is ")], problems


def test_on_ecs_services_sharing_a_long_prefix_would_share_a_target_group(tmp_path):
    long = "customer-support-portal"
    problems = problems_of(tmp_path, {long: app(long, **{"backend-api": {}, "backend-admin": {}})}, host="ecs")
    assert f"apps/{long}.yaml: services.backend-api: the target group of {long}.backend-api would be the target group " \
           f"'customer-support-portal-', which is already the target group of {long}.backend-admin; rename one" in problems


@pytest.mark.parametrize("paths", [("/api", "/API"), ("/a-b", "/a_b"), ("/a.b", "/a-b"), ("/", "/root")])
def test_on_ecs_routes_differing_only_in_case_or_punctuation_are_refused(tmp_path, paths):
    shop = app("shop", web={})
    shop["routes"] = {p: {"service": "web"} for p in paths}
    problems = problems_of(tmp_path, {"shop": shop}, host="ecs")
    assert [p for p in problems if f"apps/shop.yaml: routes.{paths[1]}: route {paths[1]!r} of app 'shop' would be the "
            "load balancer rule" in p], problems


def test_on_ecs_env_names_differing_only_in_case_are_refused(tmp_path):
    shop = app("shop", web={"secretEnv": {"API_KEY": "shopApiKey"}}, api={"secretEnv": {"Api_Key": "shopOtherKey"}})
    problems = problems_of(tmp_path, {"shop": shop}, host="ecs")
    assert [p for p in problems if "would be the Secrets Manager entry 'shop-api-key'" in p], problems


def test_on_ecs_one_env_name_carrying_two_values_is_refused(tmp_path):
    shop = app("shop", web={"uses": {"postgres": "DATABASE_URL"}}, api={"secretEnv": {"DATABASE_URL": "shopDb"}})
    shop["database"] = {}
    problems = problems_of(tmp_path, {"shop": shop}, host="ecs")
    assert [p for p in problems if "would be the Secrets Manager entry 'shop-database-url'" in p], problems


def test_on_ecs_two_apps_never_derive_one_secret(tmp_path):
    a = app("a", web={"secretEnv": {"B_C": "aBc"}})
    a_b = app("a-b", web={"secretEnv": {"C": "abC"}})
    problems = problems_of(tmp_path, {"a": a, "a-b": a_b}, host="ecs")
    assert [p for p in problems if "would be the Secrets Manager entry 'a-b-c'" in p], problems


def test_on_ecs_an_app_using_redis_has_a_name_its_cache_group_can_carry(tmp_path):
    name = "a" * 27
    long = app(name, web={"uses": {"redis": "REDIS_URL"}})
    long["redis"] = {"mode": "cache"}
    problems = problems_of(tmp_path, {name: long}, host="ecs")
    assert [p for p in problems if p.startswith(f"apps/{name}.yaml: name: {name!r} is too long for its ElastiCache")]
